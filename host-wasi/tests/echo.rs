//! The simple echo guest (plain `wasi:sockets` + `wasi:io/poll`) serves several
//! concurrent loopback connections byte-exact.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::Duration;

use common::{guest, wait_for_line};
use host_wasi::{Grants, Outcome};

const CONNECTIONS: usize = 16;
const BYTES_PER_CONNECTION: usize = 256 * 1024;

/// A payload that differs per connection and per position, so a byte in the wrong
/// stream or place shows up.
fn payload(conn: usize) -> Vec<u8> {
    (0..BYTES_PER_CONNECTION)
        .map(|i| (i * 31 + conn * 7 + i / 251) as u8)
        .collect()
}

#[test]
fn echo_is_byte_exact_over_concurrent_connections() {
    let grants = Grants::new().allow_listen("127.0.0.1:0".parse().unwrap());
    let running = guest("echo")
        .builder()
        .grants(grants)
        .args(["127.0.0.1:0".to_owned(), CONNECTIONS.to_string()])
        .spawn()
        .unwrap();
    let addr = wait_for_line(&running, "listening on ", Duration::from_secs(30));

    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|conn| {
            let addr = addr.clone();
            thread::spawn(move || {
                let stream = TcpStream::connect(&addr).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(60)))
                    .unwrap();
                let mut writer = stream.try_clone().unwrap();
                let sent = payload(conn);
                let to_send = sent.clone();
                let write = thread::spawn(move || {
                    for chunk in to_send.chunks(7919) {
                        writer.write_all(chunk).unwrap();
                    }
                    writer.shutdown(Shutdown::Write).unwrap();
                });
                let mut received = Vec::with_capacity(sent.len());
                (&stream).read_to_end(&mut received).unwrap();
                write.join().unwrap();
                assert!(
                    received == sent,
                    "connection {conn}: {} bytes back",
                    received.len()
                );
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    // The guest counted every connection closing and exited by itself.
    let report = running.join();
    assert_eq!(report.outcome, Outcome::Exited(0), "{report}");
    assert!(common::stdout_text(&report).contains(&format!("served {CONNECTIONS} connections")));
}
