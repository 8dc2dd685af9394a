//! Interop against a real peer: CPython's standard-library asyncio on loopback, started
//! by each test from `tests/interop/peer.py` (echo with `drain()`, back-pressure,
//! half-close both ways, resets, many concurrent clients, UDP and Unix sockets, with
//! Tulip as the client and as the server).
//!
//! The interpreter is `python3`, or the one named by `TULIP_PYTHON`. Every test is bounded
//! by a watchdog, every peer by its own time limit, and a peer still running when its
//! test ends is killed.

mod util;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::rc::Rc;
use std::time::Duration;

use host_native::{DatagramOptions, ListenOptions, NativeLoop};
use loop_core::stream::{ClientConnected, DEFAULT_LIMIT, StreamReader, StreamWriter};
use loop_core::{DatagramProtocol, Error, ErrorKind, EventLoop, Future};
use sha2::{Digest, Sha256};
use util::proto::{Conn, Mode, Rec, payload, recorder_factory};
use util::{LIMIT, watchdog};

/// A running `peer.py`: its stdin, its stdout read line by line; killed on drop.
struct Peer {
    mode: String,
    child: Child,
    stdin: Option<ChildStdin>,
    out: BufReader<ChildStdout>,
}

impl Peer {
    /// Start `peer.py MODE ARGS…` (its stderr goes to the test's).
    fn start(mode: &str, args: &[&str]) -> Peer {
        let python = std::env::var("TULIP_PYTHON").unwrap_or_else(|_| "python3".into());
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/peer.py");
        let mut child = Command::new(&python)
            .arg(script)
            .arg(mode)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {python} (set TULIP_PYTHON): {e}"));
        let stdin = child.stdin.take();
        let out = BufReader::new(child.stdout.take().unwrap());
        Peer {
            mode: mode.into(),
            child,
            stdin,
            out,
        }
    }

    /// The next line the peer prints, without its newline.
    fn line(&mut self) -> String {
        let mut line = String::new();
        let n = self.out.read_line(&mut line).unwrap();
        if n == 0 {
            let status = self.child.wait().unwrap();
            panic!("peer {} ended ({status}) without printing", self.mode);
        }
        line.trim_end().to_owned()
    }

    /// The port a server peer announced (`PORT n`).
    fn port(&mut self) -> u16 {
        let line = self.line();
        line.strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("expected PORT n from peer {}, got {line:?}", self.mode))
    }

    /// Write one line to the peer's stdin.
    fn tell(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for the peer to exit, asserts it succeeded, and returns its `RESULT` lines
    /// (without the prefix). Blocking: call it once the loop no longer needs to run, or
    /// through `run_in_executor`.
    fn finish(mut self) -> Vec<String> {
        let mut results = Vec::new();
        let mut line = String::new();
        while self.out.read_line(&mut line).unwrap() > 0 {
            if let Some(r) = line.trim_end().strip_prefix("RESULT ") {
                results.push(r.to_owned());
            }
            line.clear();
        }
        let status = self.child.wait().unwrap();
        assert!(status.success(), "peer {} failed: {status}", self.mode);
        results
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // Already exited after `finish`; otherwise the test failed: stop the peer.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Hex SHA-256, as Python's `hashlib.sha256(data).hexdigest()`.
fn sha256(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `"N SHA256\n"`: the answer the peers give about what they received.
fn summary(data: &[u8]) -> String {
    format!("{} {}\n", data.len(), sha256(data))
}

/// A Unix socket path in the temporary directory, unique to this process and `name`.
fn temp_path(name: &str) -> PathBuf {
    let path =
        std::env::temp_dir().join(format!("tulip-interop-{}-{name}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// A Tulip client connection to `127.0.0.1:port`, recorded in `mode`.
async fn connect(lp: &NativeLoop, port: u16, mode: Mode) -> Conn {
    let conn = Conn::new(lp);
    let c = conn.clone();
    lp.create_connection(move || Rec::new(c, mode), ("127.0.0.1", port))
        .await
        .unwrap();
    conn
}

/// Write `data` in 64 KiB writes.
fn write_chunks(conn: &Conn, data: &[u8]) {
    let t = conn.transport();
    for chunk in data.chunks(64 << 10) {
        t.write(chunk).unwrap();
    }
}

/// Rust client, asyncio streams server: 8 MiB written at once come back unchanged (the
/// server echoes with `write` + `await drain()`), then EOF closes both sides cleanly.
#[test]
fn tulip_client_echo_8_mib_with_asyncio_server() {
    let _w = watchdog(LIMIT);
    let mut peer = Peer::start("echo-server", &[]);
    let port = peer.port();
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    lp.run_until_complete(async move {
        let conn = connect(&l, port, Mode::Record).await;
        let data = payload(8 << 20);
        write_chunks(&conn, &data);
        conn.received(&l, data.len()).await.unwrap();
        conn.transport().write_eof().unwrap();
        assert!(conn.lost.clone().await.unwrap().is_none());
        let echo = conn.data();
        assert_eq!(echo.len(), data.len());
        assert_eq!(sha256(&echo), sha256(&data));
        assert!(echo == data, "the echo differs from what was sent");
        assert!(conn.log.borrow().eof, "the server's close is an EOF first");
    })
    .unwrap();
    assert_eq!(peer.finish(), [format!("echoed {}", 8 << 20)]);
}

/// The same with Tulip's streams on the client side: writes with `drain()` while a
/// task reads the echo concurrently.
#[test]
fn tulip_streams_client_echo_with_asyncio_server() {
    let _w = watchdog(LIMIT);
    let mut peer = Peer::start("echo-server", &[]);
    let port = peer.port();
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    let len = 4 << 20;
    lp.run_until_complete(async move {
        let (reader, writer) = l
            .open_connection(("127.0.0.1", port), DEFAULT_LIMIT)
            .await
            .unwrap();
        let echo = l.create_task(async move { reader.read_to_end().await.unwrap() });
        let data = payload(len);
        for chunk in data.chunks(100_000) {
            writer.write(chunk).unwrap();
            writer.drain().await.unwrap();
        }
        writer.write_eof().unwrap();
        let echo = echo.await.unwrap();
        assert_eq!(sha256(&echo), sha256(&data));
        writer.close();
        writer.wait_closed().await.unwrap();
    })
    .unwrap();
    assert_eq!(peer.finish(), [format!("echoed {len}")]);
}

/// Back-pressure: the asyncio server reads nothing until told to, so the Rust writer's
/// buffer passes the high-water mark (`pause_writing`); once the server reads, the
/// buffer drains below the low-water mark (`resume_writing`), and every byte arrives.
#[test]
fn back_pressure_pauses_and_resumes_a_tulip_writer() {
    let _w = watchdog(LIMIT);
    let mut peer = Peer::start("slow-reader-server", &[]);
    let port = peer.port();
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    let (peer, sent) = lp
        .run_until_complete(async move {
            let conn = connect(&l, port, Mode::Record).await;
            let t = conn.transport();
            let chunk = payload(64 << 10);
            let mut hasher = Sha256::new();
            let mut sent = 0usize;
            // The kernel's socket buffers take some megabytes first; bounded well above.
            while conn.log.borrow().paused == 0 {
                assert!(sent < 512 << 20, "no pause_writing after {sent} bytes");
                t.write(&chunk).unwrap();
                hasher.update(&chunk);
                sent += chunk.len();
                // Flow-control notices caused by a write reach the protocol once the
                // running callback (this task's step) returns.
                l.sleep(Duration::ZERO).await.unwrap();
            }
            // More while paused: buffered, not lost.
            for _ in 0..4 {
                t.write(&chunk).unwrap();
                hasher.update(&chunk);
                sent += chunk.len();
            }
            assert!(t.get_write_buffer_size() > t.get_write_buffer_limits().0);
            assert_eq!(conn.log.borrow().resumed, 0);
            peer.tell("go");
            t.write_eof().unwrap();
            conn.resumed.clone().await.unwrap();
            assert!(conn.lost.clone().await.unwrap().is_none());
            let log = conn.log.borrow();
            assert_eq!(
                log.paused, log.resumed,
                "each pause is followed by a resume"
            );
            let want = format!("{sent} {}\n", hex(&hasher.finalize()));
            assert_eq!(String::from_utf8_lossy(&log.data), want);
            (peer, sent)
        })
        .unwrap();
    assert!(sent > 0);
    assert!(peer.finish().is_empty());
}

/// Half-close, Rust first: after Tulip's `write_eof` the asyncio server sees EOF and
/// still sends its answer, which Tulip receives before the server's own EOF.
#[test]
fn tulip_write_eof_then_asyncio_server_still_sends() {
    let _w = watchdog(LIMIT);
    let mut peer = Peer::start("eof-reply-server", &[]);
    let port = peer.port();
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    lp.run_until_complete(async move {
        let conn = connect(&l, port, Mode::Record).await;
        let data = payload(1 << 20);
        write_chunks(&conn, &data);
        let t = conn.transport();
        assert!(t.can_write_eof());
        t.write_eof().unwrap();
        conn.eof.clone().await.unwrap();
        assert!(conn.lost.clone().await.unwrap().is_none());
        assert_eq!(String::from_utf8_lossy(&conn.data()), summary(&data));
    })
    .unwrap();
    assert!(peer.finish().is_empty());
}

/// Half-close, Python first: the asyncio server greets and calls `write_eof()`; Tulip's
/// `eof_received` returns `true`, so the transport stays open and Tulip keeps writing
/// until its own `close`, which the server reads to the end.
#[test]
fn asyncio_server_write_eof_then_tulip_keeps_writing() {
    let _w = watchdog(LIMIT);
    let mut peer = Peer::start("eof-first-server", &[]);
    let port = peer.port();
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    let data = payload(1 << 20);
    let expected = format!("got {}", summary(&data).trim_end());
    lp.run_until_complete(async move {
        let conn = connect(&l, port, Mode::KeepOpen).await;
        conn.eof.clone().await.unwrap();
        assert_eq!(conn.data(), b"hello from asyncio\n");
        let t = conn.transport();
        assert!(!t.is_closing(), "eof_received returned true: still open");
        write_chunks(&conn, &data);
        t.close();
        assert!(conn.lost.clone().await.unwrap().is_none());
    })
    .unwrap();
    assert_eq!(peer.finish(), [expected]);
}

/// The asyncio server resets the connection (`SO_LINGER` 0, then `transport.abort()`):
/// Tulip's protocol gets `connection_lost` with a `ConnectionReset` error, no EOF.
#[test]
fn asyncio_reset_reaches_connection_lost_as_an_error() {
    let _w = watchdog(LIMIT);
    let mut peer = Peer::start("reset-server", &[]);
    let port = peer.port();
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    lp.run_until_complete(async move {
        let conn = connect(&l, port, Mode::Record).await;
        conn.transport().write(b"reset me\n").unwrap();
        let err = conn
            .lost
            .clone()
            .await
            .unwrap()
            .expect("an error, not a clean close");
        assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
        assert!(!conn.log.borrow().eof, "a reset is not an end of stream");
    })
    .unwrap();
    assert_eq!(peer.finish(), ["reset"]);
}

/// Datagrams received by a [`Pong`], and the future completed when one arrives.
#[derive(Clone)]
struct Inbox {
    got: Rc<RefCell<VecDeque<Vec<u8>>>>,
    waiter: Rc<RefCell<Option<Future<()>>>>,
    errors: Rc<RefCell<Vec<Error>>>,
}

impl Inbox {
    async fn next(&self, lp: &EventLoop) -> Vec<u8> {
        loop {
            if let Some(d) = self.got.borrow_mut().pop_front() {
                return d;
            }
            let f = lp.create_future::<()>();
            *self.waiter.borrow_mut() = Some(f.clone());
            f.await.unwrap();
        }
    }
}

/// A UDP client protocol recording what comes back.
struct Pong(Inbox);

impl DatagramProtocol for Pong {
    fn datagram_received(&mut self, data: &[u8], _addr: SocketAddr) {
        self.0.got.borrow_mut().push_back(data.to_vec());
        if let Some(f) = self.0.waiter.borrow_mut().take() {
            f.set_result(()).unwrap();
        }
    }

    fn error_received(&mut self, error: Error) {
        self.0.errors.borrow_mut().push(error);
    }
}

/// UDP: a connected Tulip endpoint and an asyncio `DatagramProtocol` echo peer exchange
/// datagrams of many sizes (one at a time, so none is dropped), each echoed whole.
#[test]
fn udp_echo_with_asyncio_datagram_protocol() {
    let _w = watchdog(LIMIT);
    let mut peer = Peer::start("udp-echo", &[]);
    let port = peer.port();
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    let sizes = [1usize, 2, 100, 512, 1400, 1500, 4096, 9000, 32_768, 65_000];
    lp.run_until_complete(async move {
        let inbox = Inbox {
            got: Rc::default(),
            waiter: Rc::default(),
            errors: Rc::default(),
        };
        let p = Pong(inbox.clone());
        let (t, _) = l
            .create_datagram_endpoint(
                move || p,
                DatagramOptions::new().remote_addr(("127.0.0.1", port)),
            )
            .await
            .unwrap();
        for (i, n) in sizes.iter().enumerate() {
            let data: Vec<u8> = payload(n + i)[i..].to_vec();
            t.sendto(&data, None).unwrap();
            assert!(inbox.next(&l).await == data, "datagram {i} ({n} bytes)");
        }
        t.sendto(b"quit", None).unwrap();
        assert!(
            inbox.errors.borrow().is_empty(),
            "{:?}",
            inbox.errors.borrow()
        );
        t.close();
    })
    .unwrap();
    assert_eq!(peer.finish(), [format!("echoed {}", sizes.len())]);
}

/// Unix sockets: a Tulip client against asyncio's `start_unix_server` echo.
#[test]
fn tulip_unix_client_echo_with_asyncio_server() {
    let _w = watchdog(LIMIT);
    let path = temp_path("py-server");
    let mut peer = Peer::start("unix-echo-server", &[path.to_str().unwrap()]);
    assert_eq!(peer.line(), "READY");
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    let len = 2 << 20;
    lp.run_until_complete(async move {
        let conn = Conn::new(&l);
        let c = conn.clone();
        l.create_unix_connection(move || Rec::new(c, Mode::Record), path.as_path())
            .await
            .unwrap();
        let data = payload(len);
        write_chunks(&conn, &data);
        conn.transport().write_eof().unwrap();
        assert!(conn.lost.clone().await.unwrap().is_none());
        assert_eq!(sha256(&conn.data()), sha256(&data));
    })
    .unwrap();
    assert_eq!(peer.finish(), [format!("echoed {len}")]);
}

/// Run a client-mode peer against a Tulip server, waiting for it off the loop thread.
async fn run_client(lp: &NativeLoop, mode: &str, args: Vec<String>) -> Vec<String> {
    let mode = mode.to_owned();
    lp.run_in_executor(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Peer::start(&mode, &args).finish()
    })
    .await
    .unwrap()
}

/// Tulip protocol server, 200 asyncio clients at once (`asyncio.gather`), each writing
/// 64 KiB of its own pattern with `drain()`, then EOF, and reading its echo to the end.
#[test]
fn tulip_server_echoes_200_concurrent_asyncio_clients() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    lp.run_until_complete(async move {
        let (accepted, factory) = recorder_factory(&l, Mode::Echo);
        let server = l
            .create_server(factory, ListenOptions::new().host("127.0.0.1").port(0))
            .await
            .unwrap();
        let addr = format!("tcp:{}", server.sockets()[0]);
        let size = 64 << 10;
        let results = run_client(
            &l,
            "echo-clients",
            vec![addr, "200".into(), size.to_string()],
        )
        .await;
        assert_eq!(results, [format!("echoed 200 {}", 200 * size)]);
        assert_eq!(accepted.len(), 200);
        for i in 0..200 {
            let conn = accepted.nth(&l, i).await;
            assert!(conn.lost.clone().await.unwrap().is_none());
            assert_eq!(conn.data().len(), size);
        }
        server.close();
        server.wait_closed().await;
    })
    .unwrap();
}

/// Echo until EOF with Tulip's streams (the `echo_server_streams` example's handler).
async fn stream_echo(reader: StreamReader, writer: StreamWriter) -> Result<(), Error> {
    loop {
        let data = reader.read(DEFAULT_LIMIT).await?;
        if data.is_empty() {
            break;
        }
        writer.write(&data)?;
        writer.drain().await?;
    }
    writer.close();
    Ok(())
}

/// Tulip streams server (`start_server`), an asyncio client echoing 8 MiB.
#[test]
fn tulip_streams_server_echoes_an_asyncio_client() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    lp.run_until_complete(async move {
        let server = l
            .start_server(
                ClientConnected::task(stream_echo),
                ("127.0.0.1", 0),
                DEFAULT_LIMIT,
            )
            .await
            .unwrap();
        let addr = format!("tcp:{}", server.sockets()[0]);
        let size = 8 << 20;
        let results =
            run_client(&l, "echo-clients", vec![addr, "1".into(), size.to_string()]).await;
        assert_eq!(results, [format!("echoed 1 {size}")]);
        server.close();
    })
    .unwrap();
}

/// Half-close, Python first, Tulip serving: the asyncio client writes and calls
/// `write_eof()`; Tulip's server (`eof_received` → `true`) still answers with what it
/// received, which the client reads to the end.
#[test]
fn asyncio_client_write_eof_then_tulip_server_answers() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    lp.run_until_complete(async move {
        let (accepted, factory) = recorder_factory(&l, Mode::KeepOpen);
        let server = l.create_server(factory, ("127.0.0.1", 0)).await.unwrap();
        let addr = format!("tcp:{}", server.sockets()[0]);
        let size = 1 << 20;
        let client = run_client(&l, "eof-then-reply-client", vec![addr, size.to_string()]);
        let answer = l.create_task({
            let l = l.clone();
            async move {
                let conn = accepted.nth(&l, 0).await;
                conn.eof.clone().await.unwrap();
                let t = conn.transport();
                assert!(!t.is_closing());
                t.write(summary(&conn.data()).as_bytes()).unwrap();
                t.close();
                assert!(conn.lost.clone().await.unwrap().is_none());
                conn.data()
            }
        });
        assert_eq!(client.await, ["ok"]);
        assert!(answer.await.unwrap() == payload(size));
        server.close();
    })
    .unwrap();
}

/// Half-close, Rust first, Tulip serving: the server writes 1 MiB and `write_eof()`s; the
/// asyncio client reads to EOF and still sends back what it got, which Tulip receives.
#[test]
fn tulip_server_write_eof_then_asyncio_client_answers() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    let size = 1 << 20;
    lp.run_until_complete(async move {
        let (accepted, factory) = recorder_factory(&l, Mode::Record);
        let server = l.create_server(factory, ("127.0.0.1", 0)).await.unwrap();
        let addr = format!("tcp:{}", server.sockets()[0]);
        let client = run_client(&l, "read-then-reply-client", vec![addr]);
        let check = l.create_task({
            let l = l.clone();
            async move {
                let conn = accepted.nth(&l, 0).await;
                let data = payload(size);
                write_chunks(&conn, &data);
                conn.transport().write_eof().unwrap();
                conn.eof.clone().await.unwrap();
                assert!(conn.lost.clone().await.unwrap().is_none());
                assert_eq!(String::from_utf8_lossy(&conn.data()), summary(&data));
            }
        });
        assert_eq!(client.await, [format!("read {size}")]);
        check.await.unwrap();
        server.close();
    })
    .unwrap();
}

/// Unix sockets, Tulip serving: `create_unix_server` echoes 20 concurrent asyncio
/// `open_unix_connection` clients.
#[test]
fn tulip_unix_server_echoes_asyncio_clients() {
    let _w = watchdog(LIMIT);
    let path = temp_path("tulip-server");
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    lp.run_until_complete(async move {
        let (accepted, factory) = recorder_factory(&l, Mode::Echo);
        let server = l.create_unix_server(factory, path.as_path()).await.unwrap();
        let addr = format!("unix:{}", path.display());
        let size = 256 << 10;
        let results = run_client(
            &l,
            "echo-clients",
            vec![addr, "20".into(), size.to_string()],
        )
        .await;
        assert_eq!(results, [format!("echoed 20 {}", 20 * size)]);
        assert_eq!(accepted.len(), 20);
        server.close();
        server.wait_closed().await;
    })
    .unwrap();
}
