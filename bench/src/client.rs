//! The closed-loop echo load client.
//!
//! Each connection sends one message, waits until the whole echo is back, checks it byte
//! for byte against what it sent, records the round trip's latency and sends the next
//! message. The connections are spread over `threads` client threads (default one); each
//! thread drives its connections from one `mio` poll, edge-triggered, reading and writing
//! until `WouldBlock`, so the client costs the same few system calls per round trip
//! whichever server it talks to. Nothing is allocated per round trip.
//!
//! A measurement window starts when every connection sends its first message and ends
//! when the last message in flight at the deadline has come back: no connection is
//! left in the middle of an echo, and every round trip the server worked on inside the
//! window is counted in it.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::error::{Error, Result};

/// How long the client waits for an echo past the window's deadline before it reports
/// the server as stalled.
pub const STALL_LIMIT: Duration = Duration::from_secs(10);

/// The largest latency the histograms track; slower round trips are recorded as this.
const MAX_LATENCY_NS: u64 = 60_000_000_000;

/// What load to put on a server.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The server's address (a loopback address).
    pub addr: SocketAddr,
    /// Concurrent connections, each with one message in flight.
    pub connections: usize,
    /// Bytes per message.
    pub message_size: usize,
    /// Client threads the connections are spread over (at least one).
    pub threads: usize,
}

/// The connections of one measurement, connected and idle between windows.
#[derive(Debug)]
pub struct Load {
    workers: Vec<Worker>,
}

/// What one measurement window saw.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// Round trips completed and verified in the window.
    pub round_trips: u64,
    /// From the first message sent to the last echo received.
    pub elapsed: Duration,
    /// Round-trip latencies in nanoseconds.
    pub latency: Histogram<u64>,
}

impl Measurement {
    /// Round trips per second over the window.
    pub fn round_trips_per_sec(&self) -> f64 {
        self.round_trips as f64 / self.elapsed.as_secs_f64()
    }

    /// The latency at `quantile` (0.5 for the median).
    pub fn latency_at(&self, quantile: f64) -> Duration {
        Duration::from_nanos(self.latency.value_at_quantile(quantile))
    }
}

impl Load {
    /// Opens `config.connections` connections to `config.addr`.
    ///
    /// The sockets have `TCP_NODELAY` set, as asyncio's transports do on their side.
    pub fn connect(config: &LoadConfig) -> Result<Load> {
        if config.connections == 0 || config.message_size == 0 {
            return Err(Error::Usage(
                "the load needs at least one connection and a message of at least one byte".into(),
            ));
        }
        let threads = config.threads.clamp(1, config.connections);
        let mut workers = Vec::with_capacity(threads);
        for _ in 0..threads {
            workers.push(Worker::new().map_err(|e| Error::io("create a client poll", e))?);
        }
        for index in 0..config.connections {
            let stream = std::net::TcpStream::connect(config.addr)
                .map_err(|e| Error::io(format!("connect to {}", config.addr), e))?;
            stream
                .set_nodelay(true)
                .map_err(|e| Error::io("set TCP_NODELAY", e))?;
            stream
                .set_nonblocking(true)
                .map_err(|e| Error::io("make a client socket non-blocking", e))?;
            let worker = &mut workers[index % threads];
            worker
                .add(index, TcpStream::from_std(stream), config.message_size)
                .map_err(|e| Error::io("register a client socket", e))?;
        }
        Ok(Load { workers })
    }

    /// Runs the closed loop for `duration`, then lets the messages in flight come back.
    pub fn run_for(&mut self, duration: Duration) -> Result<Measurement> {
        let start = Instant::now();
        let deadline = start + duration;
        let results: Vec<Result<(u64, Histogram<u64>)>> = if self.workers.len() == 1 {
            vec![self.workers[0].run_until(deadline)]
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = self
                    .workers
                    .iter_mut()
                    .map(|w| scope.spawn(move || w.run_until(deadline)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("a client thread panicked"))
                    .collect()
            })
        };
        let elapsed = start.elapsed();
        let mut latency = new_histogram();
        let mut round_trips = 0;
        for result in results {
            let (count, histogram) = result?;
            round_trips += count;
            latency
                .add(&histogram)
                .expect("histograms with equal bounds always merge");
        }
        Ok(Measurement {
            round_trips,
            elapsed,
            latency,
        })
    }
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("valid histogram bounds")
}

/// One client thread's poll and connections.
#[derive(Debug)]
struct Worker {
    poll: Poll,
    events: Events,
    conns: Vec<Conn>,
}

/// One connection and its message in flight.
#[derive(Debug)]
struct Conn {
    /// The connection's index over the whole load (for error messages).
    index: usize,
    stream: TcpStream,
    /// The message being echoed; its first eight bytes carry a sequence number.
    send: Box<[u8]>,
    recv: Box<[u8]>,
    sent: usize,
    received: usize,
    seq: u64,
    started: Instant,
    in_flight: bool,
}

/// What a connection's progress produced.
enum Progress {
    /// Waiting for the socket.
    Pending,
    /// The echo completed; the connection is idle.
    Done,
}

impl Worker {
    fn new() -> io::Result<Worker> {
        Ok(Worker {
            poll: Poll::new()?,
            events: Events::with_capacity(256),
            conns: Vec::new(),
        })
    }

    fn add(&mut self, index: usize, mut stream: TcpStream, size: usize) -> io::Result<()> {
        let token = Token(self.conns.len());
        self.poll.registry().register(
            &mut stream,
            token,
            Interest::READABLE | Interest::WRITABLE,
        )?;
        // A pattern that differs per connection and per position, so that bytes echoed on
        // the wrong connection or at the wrong offset are caught.
        let send: Box<[u8]> = (0..size)
            .map(|i| (i.wrapping_mul(31) ^ index.wrapping_mul(131)) as u8)
            .collect();
        self.conns.push(Conn {
            index,
            stream,
            send,
            recv: vec![0; size].into_boxed_slice(),
            sent: 0,
            received: 0,
            seq: 0,
            started: Instant::now(),
            in_flight: false,
        });
        Ok(())
    }

    /// Runs this worker's closed loop until `deadline`, then drains the messages in flight.
    fn run_until(&mut self, deadline: Instant) -> Result<(u64, Histogram<u64>)> {
        let mut latency = new_histogram();
        let mut round_trips = 0u64;
        let mut in_flight = 0usize;
        let now = Instant::now();
        for conn in &mut self.conns {
            conn.begin(now);
            in_flight += 1;
            if let Progress::Done = conn.progress(deadline, &mut latency, &mut round_trips)? {
                in_flight -= 1;
            }
        }
        let stall_deadline = deadline + STALL_LIMIT;
        while in_flight > 0 {
            let now = Instant::now();
            let timeout = if now < deadline {
                deadline - now
            } else if now < stall_deadline {
                stall_deadline - now
            } else {
                return Err(Error::Stalled {
                    what: format!(
                        "{in_flight} echo(es) still missing {} s after the window ended",
                        STALL_LIMIT.as_secs()
                    ),
                });
            };
            match self.poll.poll(&mut self.events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io("poll the client sockets", e)),
            }
            for event in &self.events {
                let conn = &mut self.conns[event.token().0];
                if !conn.in_flight {
                    continue;
                }
                if let Progress::Done = conn.progress(deadline, &mut latency, &mut round_trips)? {
                    in_flight -= 1;
                }
            }
        }
        Ok((round_trips, latency))
    }
}

impl Conn {
    /// Starts the next message.
    fn begin(&mut self, now: Instant) {
        self.seq += 1;
        let header = self.seq.to_le_bytes();
        let n = header.len().min(self.send.len());
        self.send[..n].copy_from_slice(&header[..n]);
        self.sent = 0;
        self.received = 0;
        self.started = now;
        self.in_flight = true;
    }

    /// Writes and reads as far as the socket allows; each completed echo is verified and
    /// recorded, and the next message is started while the window is open.
    fn progress(
        &mut self,
        deadline: Instant,
        latency: &mut Histogram<u64>,
        round_trips: &mut u64,
    ) -> Result<Progress> {
        loop {
            while self.sent < self.send.len() {
                match self.stream.write(&self.send[self.sent..]) {
                    Ok(0) => return Err(self.closed()),
                    Ok(n) => self.sent += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(self.io_error("send", e)),
                }
            }
            while self.received < self.recv.len() {
                match self.stream.read(&mut self.recv[self.received..]) {
                    Ok(0) => return Err(self.closed()),
                    Ok(n) => self.received += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(self.io_error("receive", e)),
                }
            }
            if self.received < self.recv.len() {
                return Ok(Progress::Pending);
            }
            if self.recv != self.send {
                let offset = self
                    .recv
                    .iter()
                    .zip(self.send.iter())
                    .position(|(a, b)| a != b)
                    .unwrap_or(0);
                return Err(Error::Mismatch {
                    connection: self.index,
                    offset,
                });
            }
            let now = Instant::now();
            let nanos = u64::try_from((now - self.started).as_nanos()).unwrap_or(u64::MAX);
            latency.saturating_record(nanos.clamp(1, MAX_LATENCY_NS));
            *round_trips += 1;
            if now >= deadline {
                self.in_flight = false;
                return Ok(Progress::Done);
            }
            self.begin(now);
        }
    }

    fn closed(&self) -> Error {
        Error::Closed {
            connection: self.index,
            received: self.received,
            expected: self.recv.len(),
        }
    }

    fn io_error(&self, what: &str, e: io::Error) -> Error {
        Error::io(format!("connection {}: {what}", self.index), e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A blocking echo peer on a thread, for `count` connections.
    fn echo_peer(count: usize, corrupt: bool) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for _ in 0..count {
                let (mut s, _) = listener.accept().unwrap();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    loop {
                        let n = match s.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        if corrupt {
                            buf[0] ^= 0xff;
                        }
                        if s.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    #[test]
    fn counts_and_verifies_round_trips() {
        let addr = echo_peer(3, false);
        let config = LoadConfig {
            addr,
            connections: 3,
            message_size: 10_000,
            threads: 2,
        };
        let mut load = Load::connect(&config).unwrap();
        let m = load.run_for(Duration::from_millis(50)).unwrap();
        assert!(
            m.round_trips >= 3,
            "every connection completes its first echo"
        );
        assert_eq!(m.latency.len(), m.round_trips);
        assert!(m.latency_at(0.5) <= m.latency_at(0.99));
        // The connections are idle between windows and can be measured again.
        let again = load.run_for(Duration::from_millis(10)).unwrap();
        assert!(again.round_trips >= 3);
    }

    #[test]
    fn a_corrupted_echo_is_reported() {
        let addr = echo_peer(1, true);
        let config = LoadConfig {
            addr,
            connections: 1,
            message_size: 100,
            threads: 1,
        };
        let mut load = Load::connect(&config).unwrap();
        match load.run_for(Duration::from_millis(10)) {
            Err(Error::Mismatch { connection: 0, .. }) => {}
            other => panic!("expected a mismatch, got {other:?}"),
        }
    }

    #[test]
    fn a_server_closing_mid_echo_is_reported() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 10];
            s.read_exact(&mut buf).unwrap();
            s.write_all(&buf[..5]).unwrap();
        });
        let config = LoadConfig {
            addr,
            connections: 1,
            message_size: 10,
            threads: 1,
        };
        let mut load = Load::connect(&config).unwrap();
        match load.run_for(Duration::from_millis(10)) {
            Err(Error::Closed {
                received: 5,
                expected: 10,
                ..
            }) => {}
            other => panic!("expected a close after 5 bytes, got {other:?}"),
        }
    }
}
