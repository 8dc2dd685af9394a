//! The floor reference: a plain mio loop with one shared read buffer. A connection reads
//! until `WouldBlock` and writes each chunk straight back; only what the socket does not
//! take is copied into the connection's own buffer, and reading pauses until it is
//! flushed. Interest in writability is registered only while something is buffered, so
//! a message costs one read, one write and a share of one `epoll_wait`.

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use super::READ_BUFFER;

const LISTENER: Token = Token(usize::MAX);

struct Conn {
    stream: TcpStream,
    /// Bytes read but not yet written back; empty (and unallocated) almost always.
    pending: Vec<u8>,
}

/// What happened to a connection.
enum Outcome {
    Open,
    Close,
}

/// Serves on `127.0.0.1:port` until the process is killed; returns only on a failure of
/// the listener or the poll.
pub fn serve_mio(port: u16) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut conns: Slab<Conn> = Slab::new();
    let mut buf = vec![0u8; READ_BUFFER];
    loop {
        match poll.poll(&mut events, None) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for event in &events {
            if event.token() == LISTENER {
                accept_all(&listener, &poll, &mut conns)?;
                continue;
            }
            let key = event.token().0;
            let Some(conn) = conns.get_mut(key) else {
                continue;
            };
            let mut outcome = Outcome::Open;
            if event.is_writable() && !conn.pending.is_empty() {
                outcome = flush(conn, &poll, key);
            }
            if let Outcome::Open = outcome
                && conn.pending.is_empty()
            {
                outcome = echo(conn, &poll, key, &mut buf);
            }
            if let Outcome::Close = outcome {
                let mut conn = conns.remove(key);
                let _ = poll.registry().deregister(&mut conn.stream);
            }
        }
    }
}

fn accept_all(listener: &TcpListener, poll: &Poll, conns: &mut Slab<Conn>) -> io::Result<()> {
    loop {
        match listener.accept() {
            Ok((mut stream, _)) => {
                stream.set_nodelay(true)?;
                let entry = conns.vacant_entry();
                poll.registry()
                    .register(&mut stream, Token(entry.key()), Interest::READABLE)?;
                entry.insert(Conn {
                    stream,
                    pending: Vec::new(),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Reads until `WouldBlock`, writing each chunk back.
fn echo(conn: &mut Conn, poll: &Poll, key: usize, buf: &mut [u8]) -> Outcome {
    loop {
        let n = match conn.stream.read(buf) {
            Ok(0) => return Outcome::Close,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Outcome::Open,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Outcome::Close,
        };
        let mut written = 0;
        while written < n {
            match conn.stream.write(&buf[written..n]) {
                Ok(0) => return Outcome::Close,
                Ok(w) => written += w,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Outcome::Close,
            }
        }
        if written < n {
            // Back-pressure: keep the rest and stop reading until it is flushed.
            conn.pending.extend_from_slice(&buf[written..n]);
            let interest = Interest::READABLE | Interest::WRITABLE;
            if poll
                .registry()
                .reregister(&mut conn.stream, Token(key), interest)
                .is_err()
            {
                return Outcome::Close;
            }
            return Outcome::Open;
        }
    }
}

/// Writes buffered bytes; once all are out, drops the interest in writability.
fn flush(conn: &mut Conn, poll: &Poll, key: usize) -> Outcome {
    let mut written = 0;
    while written < conn.pending.len() {
        match conn.stream.write(&conn.pending[written..]) {
            Ok(0) => return Outcome::Close,
            Ok(w) => written += w,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Outcome::Close,
        }
    }
    conn.pending.drain(..written);
    if conn.pending.is_empty()
        && poll
            .registry()
            .reregister(&mut conn.stream, Token(key), Interest::READABLE)
            .is_err()
    {
        return Outcome::Close;
    }
    Outcome::Open
}
