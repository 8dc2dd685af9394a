//! Low-level socket operations (asyncio's `sock_*`) over loopback: an echo of a payload
//! larger than the socket buffers, end of file, waiting for data, refused connections,
//! cancellation, and debug-mode checks.

mod util;

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;

use host_native::NativeLoop;
use host_native::socket2::{Domain, Socket, Type};
use util::{LIMIT, watchdog};

/// A clonable I/O error, so that task outputs can be awaited (`Task<T>` needs `T: Clone`).
type Shared = Rc<io::Error>;

fn tcp_socket() -> Socket {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.set_nonblocking(true).unwrap();
    s
}

fn listener() -> (Socket, SocketAddr) {
    let l = tcp_socket();
    l.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    l.listen(16).unwrap();
    let addr = l.local_addr().unwrap().as_socket().unwrap();
    (l, addr)
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// A 4 MiB payload (far beyond the socket buffers, so both sides wait on readiness many
/// times) goes through sock_connect / sock_accept / sock_sendall / sock_recv and comes
/// back unchanged.
#[test]
fn echo_a_large_payload_over_loopback() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let (l, addr) = listener();
    let data = Rc::new(payload(4 << 20));

    let server_lp = lp.clone();
    let server = lp.create_task(async move {
        let (conn, _peer) = server_lp.sock_accept(&l).await?;
        loop {
            let chunk = server_lp.sock_recv(&conn, 64 * 1024).await?;
            if chunk.is_empty() {
                break;
            }
            server_lp.sock_sendall(&conn, &chunk).await?;
        }
        Ok::<_, Shared>(conn.shutdown(Shutdown::Write)?)
    });

    let sock = Rc::new(tcp_socket());
    let (client_lp, csock) = (lp.clone(), sock.clone());
    lp.run_until_complete(async move { client_lp.sock_connect(&*csock, addr).await })
        .unwrap()
        .unwrap();
    // Write and read concurrently, or both sides fill their buffers and stall.
    let (wlp, wsock, sent) = (lp.clone(), sock.clone(), data.clone());
    let writer = lp.create_task(async move {
        wlp.sock_sendall(&*wsock, &sent).await?;
        Ok::<_, Shared>(wsock.shutdown(Shutdown::Write)?)
    });
    let (rlp, rsock) = (lp.clone(), sock.clone());
    let reader = lp.create_task(async move {
        let mut back = Vec::new();
        let mut buf = vec![0u8; 100_000];
        loop {
            let n = rlp.sock_recv_into(&*rsock, &mut buf).await?;
            if n == 0 {
                return Ok::<_, Shared>(back);
            }
            back.extend_from_slice(&buf[..n]);
        }
    });

    let back = lp.run_until_complete(reader).unwrap().unwrap().unwrap();
    lp.run_until_complete(writer).unwrap().unwrap().unwrap();
    lp.run_until_complete(server).unwrap().unwrap().unwrap();
    assert_eq!(back.len(), data.len());
    assert!(back == *data, "the echo differs from what was sent");
}

/// sock_recv waits for data that arrives later, and returns an empty vector at end of
/// file.
#[test]
fn sock_recv_waits_for_data_then_sees_end_of_file() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let b = std::cell::RefCell::new(Some(b));
    lp.call_later(Duration::from_millis(20), move || {
        let mut b = b.borrow_mut().take().unwrap();
        b.write_all(b"late").unwrap();
        // Dropping `b` closes it: end of file after the data.
    })
    .unwrap();
    let lp2 = lp.clone();
    let got = lp
        .run_until_complete(async move {
            let first = lp2.sock_recv(&a, 100).await?;
            let second = lp2.sock_recv(&a, 100).await?;
            Ok::<_, io::Error>((first, second))
        })
        .unwrap()
        .unwrap();
    assert_eq!(got.0, b"late");
    assert!(got.1.is_empty());
}

/// Connecting to a loopback port where nothing listens fails with ConnectionRefused.
#[test]
fn sock_connect_to_a_closed_port_is_refused() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    // Bound but not listening: the port is ours and refuses connections.
    let holder = tcp_socket();
    holder
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    let addr = holder.local_addr().unwrap().as_socket().unwrap();
    let lp2 = lp.clone();
    let err = lp
        .run_until_complete(async move {
            let sock = tcp_socket();
            lp2.sock_connect(&sock, addr).await
        })
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
}

/// The socket sock_accept returns is non-blocking (asyncio sets it so), and carries the
/// client's address.
#[test]
fn accepted_sockets_are_non_blocking() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let (l, addr) = listener();
    let lp2 = lp.clone();
    let (conn, peer, client_addr) = lp
        .run_until_complete(async move {
            let client = tcp_socket();
            let accept = lp2.sock_accept(&l);
            let connect = lp2.sock_connect(&client, addr);
            // Connect first: loopback connects complete in the kernel's backlog.
            connect.await?;
            let (conn, peer) = accept.await?;
            let client_addr = client.local_addr()?.as_socket();
            Ok::<_, io::Error>((conn, peer.as_socket(), client_addr))
        })
        .unwrap()
        .unwrap();
    assert!(conn.nonblocking().unwrap());
    assert_eq!(peer, client_addr);
}

/// Cancelling a task blocked in sock_recv removes its reader: the descriptor is free.
#[test]
fn cancelling_a_blocked_sock_recv_removes_its_reader() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let fd = a.as_raw_fd();
    let lp2 = lp.clone();
    let task = lp.create_task(async move {
        let _ = lp2.sock_recv(&a, 10).await;
    });
    // Let the task start and block.
    let stopper = lp.clone();
    lp.call_later(Duration::from_millis(10), move || stopper.stop())
        .unwrap();
    lp.run_forever().unwrap();
    assert!(!task.done());
    assert!(task.cancel());
    let err = lp.run_until_complete(task.clone()).unwrap().unwrap_err();
    assert!(err.is_cancelled());
    assert!(!lp.remove_reader(fd).unwrap(), "the reader was left behind");
}

/// In debug mode a blocking socket is refused (it would block the loop).
#[test]
fn debug_mode_refuses_blocking_sockets() {
    let lp = NativeLoop::new().unwrap();
    lp.set_debug(true);
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    let lp2 = lp.clone();
    let err = lp
        .run_until_complete(async move { lp2.sock_recv(&a, 10).await })
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

/// sock_sendall of nothing completes at once.
#[test]
fn sock_sendall_of_nothing_is_done() {
    let lp = NativeLoop::new().unwrap();
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let lp2 = lp.clone();
    lp.run_until_complete(async move { lp2.sock_sendall(&a, b"").await })
        .unwrap()
        .unwrap();
}
