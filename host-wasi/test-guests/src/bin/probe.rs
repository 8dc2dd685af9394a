//! Tries each operation named on the command line and prints one line per operation:
//! `OP ARG: ok …`, `OP ARG: access-denied` or `OP ARG: error CODE`, then `done`.
//!
//! Operations (each takes one argument):
//! - `bind ADDR`: TCP bind only.
//! - `listen ADDR`: TCP bind then listen.
//! - `connect ADDR`: TCP connect.
//! - `udp-bind ADDR`: UDP bind.
//! - `udp-send ADDR`: UDP send of one datagram (implicit bind).
//! - `lookup NAME`: name lookup.
//! - `fs PATH`: read a file.
//! - `env NAME`: print an environment variable.
//!
//! A denial never ends the program: it keeps going and exits 0.

use std::net::SocketAddr;
use tulip_test_guests::{describe, family, finish, from_wasi, ip_from_wasi, to_wasi};
use wasip2::sockets::instance_network::instance_network;
use wasip2::sockets::network::{ErrorCode, Network};
use wasip2::sockets::tcp_create_socket::create_tcp_socket;
use wasip2::sockets::udp::OutgoingDatagram;
use wasip2::sockets::udp_create_socket::create_udp_socket;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let net = instance_network();
    for pair in args.chunks(2) {
        let (op, arg) = (
            pair[0].as_str(),
            pair.get(1).map(String::as_str).unwrap_or(""),
        );
        let result: Result<String, String> = match op {
            "bind" => bind(&net, addr(arg)).map_err(describe),
            "listen" => listen(&net, addr(arg)).map_err(describe),
            "connect" => connect(&net, addr(arg)).map_err(describe),
            "udp-bind" => udp_bind(&net, addr(arg)).map_err(describe),
            "udp-send" => udp_send(&net, addr(arg)).map_err(describe),
            "lookup" => lookup(&net, arg).map_err(describe),
            "fs" => fs(arg),
            "env" => std::env::var(arg).map_err(|_| "unset".to_owned()),
            other => panic!("unknown probe operation {other:?}"),
        };
        match result {
            Ok(detail) => println!("{op} {arg}: ok {detail}"),
            Err(failure) => println!("{op} {arg}: {failure}"),
        }
    }
    println!("done");
}

fn addr(s: &str) -> SocketAddr {
    s.parse()
        .unwrap_or_else(|e| panic!("bad address {s:?}: {e}"))
}

fn bind(net: &Network, addr: SocketAddr) -> Result<String, ErrorCode> {
    let sock = create_tcp_socket(family(addr))?;
    sock.start_bind(net, to_wasi(addr))?;
    let pollable = sock.subscribe();
    finish(&pollable, || sock.finish_bind())?;
    Ok(from_wasi(sock.local_address()?).to_string())
}

fn listen(net: &Network, addr: SocketAddr) -> Result<String, ErrorCode> {
    let sock = create_tcp_socket(family(addr))?;
    let pollable = sock.subscribe();
    sock.start_bind(net, to_wasi(addr))?;
    finish(&pollable, || sock.finish_bind())?;
    sock.start_listen()?;
    finish(&pollable, || sock.finish_listen())?;
    Ok(from_wasi(sock.local_address()?).to_string())
}

fn connect(net: &Network, addr: SocketAddr) -> Result<String, ErrorCode> {
    let sock = create_tcp_socket(family(addr))?;
    sock.start_connect(net, to_wasi(addr))?;
    let pollable = sock.subscribe();
    // Streams are children of the socket: drop them before it.
    let (input, output) = finish(&pollable, || sock.finish_connect())?;
    let peer = from_wasi(sock.remote_address()?);
    drop((input, output));
    Ok(peer.to_string())
}

fn udp_bind(net: &Network, addr: SocketAddr) -> Result<String, ErrorCode> {
    let sock = create_udp_socket(family(addr))?;
    sock.start_bind(net, to_wasi(addr))?;
    let pollable = sock.subscribe();
    finish(&pollable, || sock.finish_bind())?;
    Ok(from_wasi(sock.local_address()?).to_string())
}

fn udp_send(net: &Network, addr: SocketAddr) -> Result<String, ErrorCode> {
    let sock = create_udp_socket(family(addr))?;
    // WASI 0.2 UDP sockets must be bound before `stream`: bind the wildcard address with
    // port 0, as a BSD socket does implicitly on its first `sendto`.
    let wildcard: SocketAddr = if addr.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    }
    .parse()
    .unwrap();
    sock.start_bind(net, to_wasi(wildcard))?;
    let bound = sock.subscribe();
    finish(&bound, || sock.finish_bind())?;
    let (incoming, outgoing) = sock.stream(None)?;
    let pollable = outgoing.subscribe();
    let datagram = OutgoingDatagram {
        data: b"probe".to_vec(),
        remote_address: Some(to_wasi(addr)),
    };
    let sent = loop {
        match outgoing.check_send()? {
            0 => pollable.block(),
            _ => break outgoing.send(&[datagram])?,
        }
    };
    drop((pollable, incoming, outgoing));
    Ok(format!("{sent} datagram"))
}

fn lookup(net: &Network, name: &str) -> Result<String, ErrorCode> {
    let stream = wasip2::sockets::ip_name_lookup::resolve_addresses(net, name)?;
    let pollable = stream.subscribe();
    let mut found = Vec::new();
    while let Some(ip) = finish(&pollable, || stream.resolve_next_address())? {
        found.push(ip_from_wasi(ip).to_string());
    }
    Ok(found.join(","))
}

fn fs(path: &str) -> Result<String, String> {
    let preopens = wasip2::filesystem::preopens::get_directories().len();
    match std::fs::read(path) {
        Ok(bytes) => Ok(format!("read {} bytes ({preopens} preopens)", bytes.len())),
        Err(e) => Err(format!("failed {} ({preopens} preopens)", e.kind())),
    }
}
