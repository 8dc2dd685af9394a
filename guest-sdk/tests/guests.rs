//! guest-sdk's example guests under host-wasi: the echo guest serves 100 concurrent
//! loopback connections byte-exact and hands a slow reader every byte; denied
//! operations reach the guest as `ErrorKind::PermissionDenied` and it keeps running; the
//! UDP echo guest answers every datagram; the native and the guest echo (one protocol
//! source) return identical bytes.
//!
//! These tests run on the host (they embed wasmtime); built for a guest target they are
//! empty.
#![cfg(not(target_os = "wasi"))]

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::thread;
use std::time::Duration;

use common::{guest, payload, wait_for_line};
use host_wasi::{Grants, Operation, Outcome};

/// Guards against a hang, not a timing assertion: a broken guest fails the test
/// instead of blocking it forever.
const IO_GUARD: Duration = Duration::from_secs(120);

fn loopback_any_port() -> host_wasi::AddrRange {
    "127.0.0.1".parse().unwrap()
}

/// Send `sent` on a new connection to `addr` (from a second thread, so neither side's
/// buffers have to hold it all), half-close, and return everything read until EOF.
fn exchange(addr: &str, sent: Vec<u8>, chunk: usize, read_pause: Option<Duration>) -> Vec<u8> {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(IO_GUARD)).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let write = thread::spawn(move || {
        for c in sent.chunks(chunk) {
            writer.write_all(c).unwrap();
        }
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let mut received = Vec::new();
    let mut buf = vec![0; 16 * 1024];
    loop {
        let n = (&stream).read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        received.extend_from_slice(&buf[..n]);
        if let Some(pause) = read_pause {
            thread::sleep(pause);
        }
    }
    write.join().unwrap();
    received
}

/// The acceptance test: 100 concurrent connections to the echo guest, each
/// echoed byte-exact (RFC 862), each closed by the guest after the client's EOF.
#[test]
fn echo_guest_serves_100_concurrent_connections_byte_exact() {
    const CONNECTIONS: usize = 100;
    let running = guest("echo")
        .builder()
        .grants(Grants::new().allow_listen(loopback_any_port()))
        .arg("127.0.0.1:0")
        .spawn()
        .unwrap();
    let addr = wait_for_line(&running, "listening on ", IO_GUARD);

    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|conn| {
            let addr = addr.clone();
            thread::spawn(move || {
                // Sizes from 1 byte to ~200 KiB, cut into odd-sized writes.
                let sent = payload(conn, 1 + conn * 2003);
                let received = exchange(&addr, sent.clone(), 7919, None);
                assert!(
                    received == sent,
                    "connection {conn}: {} of {} bytes back, first difference at {:?}",
                    received.len(),
                    sent.len(),
                    received.iter().zip(&sent).position(|(a, b)| a != b)
                );
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    assert!(!running.is_finished(), "the echo guest still serves");
    running.kill();
    let report = running.join();
    assert_eq!(report.outcome, Outcome::Killed, "{report}");
    assert!(
        report.stderr.is_empty(),
        "stderr: {}",
        String::from_utf8_lossy(&report.stderr)
    );
}

/// Many idle connections and a few busy ones (the guest then polls mostly the busy
/// ones): every idle connection that speaks up while the busy ones keep the guest
/// occupied is still answered, in full.
#[test]
fn echo_guest_answers_idle_connections_while_busy_ones_keep_it_occupied() {
    const IDLE: usize = 300;
    const BUSY: usize = 5;
    let running = guest("echo")
        .builder()
        .grants(Grants::new().allow_listen(loopback_any_port()))
        .arg("127.0.0.1:0")
        .spawn()
        .unwrap();
    let addr = wait_for_line(&running, "listening on ", IO_GUARD);
    let idle: Vec<TcpStream> = (0..IDLE)
        .map(|_| {
            let s = TcpStream::connect(&addr).unwrap();
            s.set_read_timeout(Some(IO_GUARD)).unwrap();
            s
        })
        .collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy: Vec<_> = (0..BUSY)
        .map(|conn| {
            let (addr, stop) = (addr.clone(), stop.clone());
            thread::spawn(move || {
                let mut s = TcpStream::connect(&addr).unwrap();
                s.set_read_timeout(Some(IO_GUARD)).unwrap();
                let msg = payload(conn, 512);
                let mut back = vec![0; msg.len()];
                let mut rounds = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    s.write_all(&msg).unwrap();
                    s.read_exact(&mut back).unwrap();
                    assert!(back == msg, "busy connection {conn}");
                    rounds += 1;
                }
                rounds
            })
        })
        .collect();
    for (i, mut s) in idle.into_iter().enumerate() {
        let msg = payload(1000 + i, 1 + i % 300);
        s.write_all(&msg).unwrap();
        let mut back = vec![0; msg.len()];
        s.read_exact(&mut back).unwrap();
        assert!(back == msg, "idle connection {i} answered intact");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let rounds: u64 = busy.into_iter().map(|b| b.join().unwrap()).sum();
    assert!(rounds > 0, "the busy connections made progress");
    running.kill();
    let report = running.join();
    assert_eq!(report.outcome, Outcome::Killed, "{report}");
}

/// A reader much slower than the writer: the echo guest's transport pauses reading, the
/// runtime keeps writing in the background, and the guest's close after the client's
/// EOF waits (lingers) until the runtime has sent everything — no byte is lost.
#[test]
fn echo_guest_hands_a_slow_reader_every_byte() {
    let running = guest("echo")
        .builder()
        .grants(Grants::new().allow_listen(loopback_any_port()))
        .arg("127.0.0.1:0")
        .spawn()
        .unwrap();
    let addr = wait_for_line(&running, "listening on ", IO_GUARD);
    let sent = payload(1, 4 << 20);
    let received = exchange(
        &addr,
        sent.clone(),
        64 * 1024,
        Some(Duration::from_micros(200)),
    );
    assert_eq!(received.len(), sent.len());
    assert!(received == sent, "byte-exact");
    running.kill();
    let report = running.join();
    assert_eq!(report.outcome, Outcome::Killed, "{report}");
}

/// A guest without a listen grant: `listen` fails with PermissionDenied inside the guest
/// (no trap), which reports it and exits normally.
#[test]
fn echo_guest_denied_listen_reports_permission_denied() {
    let report = guest("echo").builder().arg("127.0.0.1:0").run();
    assert_eq!(report.outcome, Outcome::Exited(1), "{report}");
    let stderr = String::from_utf8_lossy(&report.stderr);
    assert!(stderr.contains("permission denied"), "stderr: {stderr}");
    assert!(
        report
            .denials
            .iter()
            .any(|d| matches!(d.operation(), Operation::TcpBind | Operation::TcpListen)),
        "the host logged the denial: {:?}",
        report.denials
    );
}

/// `tulip_echo` on the native host, on a loopback port: the same protocol source as the
/// echo guest, on another backend.
fn native_tulip_echo() -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let lp = host_native::NativeLoop::new().unwrap();
        let l = lp.clone();
        let server = lp
            .run_until_complete(async move {
                tulip_echo::serve(&l, "127.0.0.1:0".parse().unwrap()).await
            })
            .unwrap()
            .unwrap();
        tx.send(server.sockets()[0].to_string()).unwrap();
        let _ = lp.run_until_complete(async move { server.serve_forever().await });
    });
    rx.recv().unwrap()
}

/// The echo protocol's source runs natively and in a guest; for the same input, both
/// return the same bytes (and both close after the client's end of stream).
#[test]
fn native_and_guest_echo_return_identical_bytes() {
    let running = guest("echo")
        .builder()
        .grants(Grants::new().allow_listen(loopback_any_port()))
        .arg("127.0.0.1:0")
        .spawn()
        .unwrap();
    let guest_addr = wait_for_line(&running, "listening on ", IO_GUARD);
    let native_addr = native_tulip_echo();
    let inputs: Vec<(Vec<u8>, usize)> = vec![
        (Vec::new(), 1),
        (b"x".to_vec(), 1),
        (b"hello\r\nworld\r\n".to_vec(), 3),
        (payload(7, 70_000), 1_000),
        (payload(8, (1 << 20) + 7), 65_536),
    ];
    for (i, (input, chunk)) in inputs.into_iter().enumerate() {
        let from_guest = exchange(&guest_addr, input.clone(), chunk, None);
        let from_native = exchange(&native_addr, input.clone(), chunk, None);
        assert!(
            from_guest == from_native,
            "input {i}: guest returned {} bytes, native {}",
            from_guest.len(),
            from_native.len()
        );
        assert!(from_native == input, "input {i}: an echo");
    }
    running.kill();
    let report = running.join();
    assert_eq!(report.outcome, Outcome::Killed, "{report}");
}

/// A plain echo server on the host, for client guests to reach.
fn native_echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            thread::spawn(move || {
                let mut writer = conn.try_clone().unwrap();
                let _ = std::io::copy(&mut conn, &mut writer);
                let _ = writer.shutdown(Shutdown::Write);
            });
        }
    });
    addr
}

/// A connect the runtime refuses reaches the guest as `PermissionDenied`; the guest
/// carries on and its next, granted, connection works.
#[test]
fn a_guest_denied_connect_gets_permission_denied_and_keeps_running() {
    let allowed = native_echo_server();
    let denied: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let report = guest("connect")
        .builder()
        .grants(Grants::new().allow_connect(allowed.into()))
        .args([denied.to_string(), allowed.to_string()])
        .env("TULIP_MESSAGE", "still here")
        .run();
    let stdout = String::from_utf8_lossy(&report.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "stdout: {stdout}");
    assert!(
        lines[0].starts_with(&format!("{denied} error PermissionDenied ")),
        "{}",
        lines[0]
    );
    assert_eq!(lines[1], format!("{allowed} ok 10 still here"));
    assert_eq!(lines[2], "done");
    // One attempt failed, so the guest's own exit status is 1: it ended normally.
    assert_eq!(report.outcome, Outcome::Exited(1), "{report}");
    assert!(
        report
            .denials
            .iter()
            .any(|d| d.operation() == Operation::TcpConnect),
        "{:?}",
        report.denials
    );
}

/// A granted connection to a port nobody listens on is refused: `ConnectionRefused`,
/// as natively.
#[test]
fn a_granted_connect_to_a_closed_port_is_refused() {
    let closed = {
        // Bind, learn the port, close: nothing listens there afterwards.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let report = guest("connect")
        .builder()
        .grants(Grants::new().allow_connect(closed.into()))
        .arg(closed.to_string())
        .run();
    let stdout = String::from_utf8_lossy(&report.stdout);
    assert!(
        stdout.starts_with(&format!("{closed} error ConnectionRefused ")),
        "stdout: {stdout}"
    );
    assert_eq!(report.outcome, Outcome::Exited(1), "{report}");
}

/// A UDP echo on the host, and a UDP socket that never answers.
fn native_udp_peers() -> (SocketAddr, SocketAddr, UdpSocket) {
    let echo = UdpSocket::bind("127.0.0.1:0").unwrap();
    let echo_addr = echo.local_addr().unwrap();
    thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = echo.recv_from(&mut buf) {
            let _ = echo.send_to(&buf[..n], from);
        }
    });
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    (echo_addr, silent.local_addr().unwrap(), silent)
}

/// A connected datagram endpoint in a guest: one datagram out, its echo back; a peer
/// that never answers ends in the guest's own timer-driven timeout (the clock pollable)
/// and the guest goes on.
#[test]
fn a_guest_exchanges_datagrams_and_times_out_on_a_silent_peer() {
    let (echo, silent, _keep) = native_udp_peers();
    let report = guest("connect")
        .builder()
        .grants(
            Grants::new()
                .allow_udp(true)
                .allow_connect(loopback_any_port()),
        )
        .args([format!("udp:{silent}"), format!("udp:{echo}")])
        .env("TULIP_MESSAGE", "ping")
        .env("TULIP_TIMEOUT_MS", "300")
        .run();
    let stdout = String::from_utf8_lossy(&report.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "stdout: {stdout}");
    assert!(
        lines[0].starts_with(&format!("udp:{silent} error Timeout ")),
        "{}",
        lines[0]
    );
    assert_eq!(lines[1], format!("udp:{echo} ok 4 ping"));
    assert_eq!(report.outcome, Outcome::Exited(1), "{report}");
}

/// Without the `--udp` grant a datagram socket cannot even be bound: PermissionDenied,
/// reported, normal exit.
#[test]
fn udp_guest_without_the_udp_grant_is_denied() {
    let report = guest("guest_udp_echo").builder().arg("127.0.0.1:0").run();
    assert_eq!(report.outcome, Outcome::Exited(1), "{report}");
    let stderr = String::from_utf8_lossy(&report.stderr);
    assert!(stderr.contains("permission denied"), "stderr: {stderr}");
}

/// The UDP echo guest answers every datagram, to its sender, intact.
#[test]
fn udp_echo_guest_answers_every_datagram() {
    let running = guest("guest_udp_echo")
        .builder()
        .grants(
            Grants::new()
                .allow_udp(true)
                .allow_listen(loopback_any_port())
                .allow_connect(loopback_any_port()),
        )
        .arg("127.0.0.1:0")
        .spawn()
        .unwrap();
    let addr: SocketAddr = wait_for_line(&running, "listening on ", IO_GUARD)
        .parse()
        .unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 2048];
    for i in 0..50usize {
        let sent = payload(i, 1 + i * 29);
        // Loopback UDP may drop under load: retry a datagram whose echo did not come.
        let echoed = (0..50).any(|_| {
            socket.send_to(&sent, addr).unwrap();
            match socket.recv_from(&mut buf) {
                Ok((n, from)) => from == addr && buf[..n] == sent[..],
                Err(_) => false,
            }
        });
        assert!(echoed, "datagram {i} echoed intact");
    }
    running.kill();
    let report = running.join();
    assert_eq!(report.outcome, Outcome::Killed, "{report}");
}

/// A guest imports standard WASI 0.2 interfaces only — nothing private to this runtime —
/// so it runs on any WASI 0.2 runtime; and the socket, poll and clock interfaces
/// guest-sdk is built on are among them (only those a guest uses: the linker drops the
/// rest, so a TCP-only guest does not import UDP socket creation).
#[test]
fn guests_import_standard_wasi_0_2_interfaces_only() {
    let tcp = "wasi:sockets/tcp-create-socket";
    let udp = "wasi:sockets/udp-create-socket";
    for (name, creates) in [("echo", tcp), ("connect", tcp), ("guest_udp_echo", udp)] {
        let imports = guest(name).imports();
        for import in &imports {
            assert!(
                import.starts_with("wasi:") && import.contains("@0.2."),
                "{name} imports {import}"
            );
        }
        for needed in [
            "wasi:io/poll",
            "wasi:io/streams",
            "wasi:clocks/monotonic-clock",
            "wasi:sockets/network",
            "wasi:sockets/instance-network",
            creates,
        ] {
            assert!(
                imports.iter().any(|i| i.starts_with(&format!("{needed}@"))),
                "{name} imports {needed}: {imports:?}"
            );
        }
        println!("{name}: {}", imports.join(" "));
    }
}
