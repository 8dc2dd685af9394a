//! A TCP echo server over plain `wasi:sockets` and one `wasi:io/poll` call per turn.
//!
//! Usage: `echo ADDR [CONNECTIONS]`. Listens on ADDR, prints `listening on ADDR` with the
//! bound address, and echoes every byte back on each connection. With CONNECTIONS it
//! exits 0 after that many connections have closed; without it, it serves forever.
//!
//! Each connection's pollable is created once and reused; a connection's pollable and
//! streams are dropped before its socket (they are the socket's children).

use std::net::SocketAddr;
use tulip_test_guests::{family, finish, from_wasi, to_wasi};
use wasip2::io::poll::{Pollable, poll};
use wasip2::io::streams::{InputStream, OutputStream, StreamError};
use wasip2::sockets::instance_network::instance_network;
use wasip2::sockets::network::ErrorCode;
use wasip2::sockets::tcp::TcpSocket;
use wasip2::sockets::tcp_create_socket::create_tcp_socket;

/// Field order is drop order: the pollable and streams go before the socket.
struct Conn {
    readable: Pollable,
    input: InputStream,
    output: OutputStream,
    _socket: TcpSocket,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args
        .next()
        .expect("listen address")
        .parse()
        .expect("address");
    let limit: Option<usize> = args.next().map(|s| s.parse().expect("connection count"));

    let net = instance_network();
    let listener = create_tcp_socket(family(addr)).expect("create socket");
    let acceptable = listener.subscribe();
    listener.start_bind(&net, to_wasi(addr)).expect("bind");
    finish(&acceptable, || listener.finish_bind()).expect("bind");
    listener.start_listen().expect("listen");
    finish(&acceptable, || listener.finish_listen()).expect("listen");
    println!(
        "listening on {}",
        from_wasi(listener.local_address().expect("local address"))
    );

    let mut conns: Vec<Conn> = Vec::new();
    let mut closed = 0;
    while limit.is_none_or(|n| closed < n) {
        let mut pollables: Vec<&Pollable> = Vec::with_capacity(conns.len() + 1);
        pollables.push(&acceptable);
        pollables.extend(conns.iter().map(|c| &c.readable));
        let ready = poll(&pollables);
        drop(pollables);

        // Serve connections first (indices shift once the listener adds or we remove).
        let mut gone = Vec::new();
        for &i in ready.iter().filter(|&&i| i > 0) {
            let idx = i as usize - 1;
            if !serve(&conns[idx]) {
                gone.push(idx);
            }
        }
        gone.sort_unstable();
        for idx in gone.into_iter().rev() {
            drop(conns.swap_remove(idx));
            closed += 1;
        }
        if ready.contains(&0) {
            loop {
                match listener.accept() {
                    Ok((socket, input, output)) => {
                        let readable = input.subscribe();
                        conns.push(Conn {
                            readable,
                            input,
                            output,
                            _socket: socket,
                        });
                    }
                    Err(ErrorCode::WouldBlock) => break,
                    Err(e) => panic!("accept failed: {e:?}"),
                }
            }
        }
    }
    println!("served {closed} connections");
}

/// Echoes what is readable now; returns false once the peer has closed.
fn serve(conn: &Conn) -> bool {
    match conn.input.read(64 * 1024) {
        Ok(bytes) => {
            for chunk in bytes.chunks(4096) {
                if conn.output.blocking_write_and_flush(chunk).is_err() {
                    return false;
                }
            }
            true
        }
        Err(StreamError::Closed) => false,
        Err(StreamError::LastOperationFailed(_)) => false,
    }
}
