//! TCP transports and servers over loopback: byte-exact echo, half-close in both
//! directions, close and abort with buffered data, resets, refused connections, many
//! concurrent connections, server close, write flow control and extra information.

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::mpsc;
use std::thread;

use host_native::socket2::SockRef;
use host_native::{ConnectOptions, ListenOptions, NativeLoop};
use loop_core::net::Server;
use loop_core::{ErrorKind, ExtraInfo};
use util::proto::{Accepted, Conn, Mode, Rec, payload, recorder_factory};
use util::{LIMIT, watchdog};

/// An echo (or recording) server on 127.0.0.1 and a free port.
async fn server(lp: &NativeLoop, mode: Mode) -> (Server, Rc<Accepted>, SocketAddr) {
    let (accepted, factory) = recorder_factory(lp, mode);
    let server = lp.create_server(factory, ("127.0.0.1", 0)).await.unwrap();
    let addr = server.sockets()[0];
    (server, accepted, addr)
}

/// A client connection recorded by a [`Rec`] in `mode`.
async fn client(lp: &NativeLoop, to: impl Into<ConnectOptions>, mode: Mode) -> Conn {
    let conn = Conn::new(lp);
    let c = conn.clone();
    lp.create_connection(move || Rec::new(c, mode), to)
        .await
        .unwrap();
    conn
}

/// A peer on a plain blocking socket that reads nothing until told to, then reads to
/// the end and reports everything it received.
fn lazy_peer() -> (SocketAddr, mpsc::Sender<()>, thread::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (go, wait) = mpsc::channel::<()>();
    let peer = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        wait.recv().unwrap();
        let mut got = Vec::new();
        // A reset after the data is fine for the abort test: keep what arrived.
        let _ = s.read_to_end(&mut got);
        got
    });
    (addr, go, peer)
}

/// 8 MiB sent in writes of many sizes (and some `writelines`) come back unchanged.
#[test]
fn echo_is_byte_exact_for_a_large_payload_in_many_writes() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    lp.run_until_complete(async move {
        let (server, accepted, addr) = server(&l, Mode::Echo).await;
        let conn = client(&l, addr, Mode::Record).await;
        let data = payload(8 << 20);
        let t = conn.transport();
        let (mut at, mut step) = (0, 1);
        while at < data.len() {
            let end = (at + step).min(data.len());
            if step % 3 == 0 {
                let mid = (at + end) / 2;
                t.writelines(&[&data[at..mid], &[], &data[mid..end]])
                    .unwrap();
            } else {
                t.write(&data[at..end]).unwrap();
            }
            at = end;
            step = step * 7 % 65_521 + 1;
        }
        conn.received(&l, data.len()).await.unwrap();
        assert!(conn.data() == data, "the echo differs from what was sent");
        t.close();
        assert_eq!(conn.lost.clone().await.unwrap(), None);
        let s = accepted.nth(&l, 0).await;
        assert_eq!(
            s.lost.clone().await.unwrap(),
            None,
            "a clean close on both sides"
        );
        server.close();
    })
    .unwrap();
}

/// The client closes its write side: the server sees the data, then end of stream,
/// and can still answer (asyncio's `write_eof`).
#[test]
fn client_half_close_lets_the_server_answer() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    lp.run_until_complete(async move {
        let (server, accepted, addr) = server(&l, Mode::KeepOpen).await;
        let conn = client(&l, addr, Mode::Record).await;
        let t = conn.transport();
        assert!(t.can_write_eof());
        t.write(b"ping").unwrap();
        t.write_eof().unwrap();
        assert_eq!(
            t.write(b"more").unwrap_err().kind(),
            ErrorKind::Runtime,
            "no write after write_eof"
        );
        let s = accepted.nth(&l, 0).await;
        s.eof.clone().await.unwrap();
        assert_eq!(s.data(), b"ping");
        let st = s.transport();
        st.write(b"pong").unwrap();
        st.close();
        conn.eof.clone().await.unwrap();
        assert_eq!(conn.data(), b"pong");
        assert_eq!(conn.lost.clone().await.unwrap(), None);
        assert_eq!(s.lost.clone().await.unwrap(), None);
        server.close();
    })
    .unwrap();
}

/// The server closes its write side first; the client keeps the connection half-open,
/// answers, and closes.
#[test]
fn server_half_close_lets_the_client_answer() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    lp.run_until_complete(async move {
        let (server, accepted, addr) = server(&l, Mode::Record).await;
        let conn = client(&l, addr, Mode::KeepOpen).await;
        let s = accepted.nth(&l, 0).await;
        let st = s.transport();
        st.write(b"hello").unwrap();
        st.write_eof().unwrap();
        conn.eof.clone().await.unwrap();
        assert_eq!(conn.data(), b"hello");
        let t = conn.transport();
        assert!(!t.is_closing(), "eof_received returned true: still open");
        t.write(b"bye").unwrap();
        s.received(&l, 3).await.unwrap();
        assert_eq!(s.data(), b"bye");
        t.close();
        assert_eq!(s.lost.clone().await.unwrap(), None);
        assert_eq!(conn.lost.clone().await.unwrap(), None);
        server.close();
    })
    .unwrap();
}

/// `close` with a full buffer: everything is still delivered, then end of stream, then
/// `connection_lost(None)`.
#[test]
fn close_flushes_buffered_data() {
    let _w = watchdog(LIMIT);
    let (addr, go, peer) = lazy_peer();
    let lp = NativeLoop::new().unwrap();
    let data = payload(32 << 20);
    let sent = data.clone();
    let l = lp.clone();
    lp.run_until_complete(async move {
        let conn = client(&l, addr, Mode::Record).await;
        let t = conn.transport();
        t.write(&sent).unwrap();
        assert!(t.get_write_buffer_size() > 0, "the peer does not read yet");
        t.close();
        assert!(t.is_closing());
        assert_eq!(t.write(b"x").unwrap_err().kind(), ErrorKind::Runtime);
        go.send(()).unwrap();
        assert_eq!(conn.lost.clone().await.unwrap(), None);
    })
    .unwrap();
    let got = peer.join().unwrap();
    assert_eq!(got.len(), data.len());
    assert!(got == data, "what the peer received differs");
}

/// `abort` drops the transport's buffer at once: the peer receives exactly what the
/// kernel had already taken, and the protocol gets `connection_lost(None)`.
#[test]
fn abort_drops_buffered_data() {
    let _w = watchdog(LIMIT);
    let (addr, go, peer) = lazy_peer();
    let lp = NativeLoop::new().unwrap();
    let total = 32 << 20;
    let l = lp.clone();
    let dropped = lp
        .run_until_complete(async move {
            let conn = client(&l, addr, Mode::Record).await;
            let t = conn.transport();
            t.write(&payload(total)).unwrap();
            let dropped = t.get_write_buffer_size();
            assert!(dropped > 0, "the peer does not read yet");
            t.abort();
            assert!(t.is_closing());
            assert_eq!(conn.lost.clone().await.unwrap(), None);
            go.send(()).unwrap();
            dropped
        })
        .unwrap();
    let got = peer.join().unwrap();
    assert_eq!(got.len(), total - dropped);
    assert!(got == payload(total)[..got.len()], "a prefix, unchanged");
}

/// A peer that resets the connection (`SO_LINGER` 0, then close): the server-side
/// protocol gets `connection_lost` with a `ConnectionReset` error.
#[test]
fn peer_reset_reaches_connection_lost_as_an_error() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    lp.run_until_complete(async move {
        let (server, accepted, addr) = server(&l, Mode::Record).await;
        let mut peer = TcpStream::connect(addr).unwrap();
        peer.write_all(b"x").unwrap();
        let s = accepted.nth(&l, 0).await;
        s.received(&l, 1).await.unwrap();
        SockRef::from(&peer)
            .set_linger(Some(std::time::Duration::ZERO))
            .unwrap();
        drop(peer);
        let err = s
            .lost
            .clone()
            .await
            .unwrap()
            .expect("an error, not a clean close");
        assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
        let os = err
            .downcast_ref::<std::io::Error>()
            .expect("the OS error as source");
        assert_eq!(os.raw_os_error(), Some(libc::ECONNRESET));
        server.close();
        server.wait_closed().await;
    })
    .unwrap();
}

/// The same on the client side: the server end resets.
#[test]
fn client_sees_a_reset_from_the_server() {
    let _w = watchdog(LIMIT);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    lp.run_until_complete(async move {
        let conn = client(&l, addr, Mode::Record).await;
        let (accepted, _) = listener.accept().unwrap();
        SockRef::from(&accepted)
            .set_linger(Some(std::time::Duration::ZERO))
            .unwrap();
        drop(accepted);
        let err = conn.lost.clone().await.unwrap().expect("an error");
        assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    })
    .unwrap();
}

/// Nothing listens: `ConnectionRefused`, with the OS error as source, and the protocol
/// factory is never called.
#[test]
fn connection_refused() {
    let _w = watchdog(LIMIT);
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    let err = lp
        .run_until_complete(async move {
            l.create_connection(
                || -> Rec { panic!("no protocol for a refused connection") },
                ("127.0.0.1", addr.port()),
            )
            .await
            .err()
            .unwrap()
        })
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    assert_eq!(
        err.downcast_ref::<std::io::Error>().unwrap().kind(),
        std::io::ErrorKind::ConnectionRefused
    );
}

/// 200 clients at once, each with its own payload, all echoed exactly; the server then
/// counts no connection.
#[test]
fn two_hundred_concurrent_connections() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    lp.run_until_complete(async move {
        let (accepted, factory) = recorder_factory(&l, Mode::Echo);
        let server = l
            .create_server(factory, ListenOptions::new().host("127.0.0.1").backlog(512))
            .await
            .unwrap();
        let addr = server.sockets()[0];
        let tasks: Vec<_> = (0..200u32)
            .map(|i| {
                let l2 = l.clone();
                l.create_task(async move {
                    let conn = client(&l2, addr, Mode::Record).await;
                    let mine: Vec<u8> = (0..1000u32).map(|j| (i * 7 + j) as u8).collect();
                    conn.transport().write(&mine).unwrap();
                    conn.received(&l2, mine.len()).await.unwrap();
                    assert!(conn.data() == mine, "connection {i} got another's data");
                    conn.transport().close();
                    conn.lost.clone().await.unwrap().is_none()
                })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap(), "a clean close");
        }
        assert_eq!(accepted.len(), 200);
        server.close();
        server.wait_closed().await;
        assert_eq!(server.active_connections(), 0);
    })
    .unwrap();
}

/// `Server::close` stops listening but leaves accepted connections working;
/// `wait_closed` returns only once they are gone (asyncio 3.12+).
#[test]
fn server_close_keeps_connections_and_wait_closed_waits_for_them() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    lp.run_until_complete(async move {
        let (server, _accepted, addr) = server(&l, Mode::Echo).await;
        let conn = client(&l, addr, Mode::Record).await;
        conn.transport().write(b"one").unwrap();
        conn.received(&l, 3).await.unwrap();

        server.close();
        assert!(!server.is_serving());
        assert!(server.sockets().is_empty());
        let waiter = {
            let s = server.clone();
            l.create_task(async move { s.wait_closed().await })
        };
        let refused = l
            .create_connection(|| -> Rec { panic!("nobody listens") }, addr)
            .await
            .err()
            .unwrap();
        assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);

        conn.transport().write(b"two").unwrap();
        conn.received(&l, 6).await.unwrap();
        assert_eq!(
            conn.data(),
            b"onetwo",
            "the accepted connection still echoes"
        );
        assert!(!waiter.done(), "a connection is still open");
        assert_eq!(server.active_connections(), 1);

        conn.transport().close();
        waiter.await.unwrap();
        assert_eq!(server.active_connections(), 0);
    })
    .unwrap();
}

/// A peer that stops reading: writes pile up, `pause_writing` is called once above the
/// high-water mark; when the peer drains, `resume_writing` follows, and every byte
/// arrives in order.
#[test]
fn flow_control_pauses_and_resumes_without_loss() {
    let _w = watchdog(LIMIT);
    let (addr, go, peer) = lazy_peer();
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    let sent = lp
        .run_until_complete(async move {
            let conn = client(&l, addr, Mode::Record).await;
            let t = conn.transport();
            let (low, high) = t.get_write_buffer_limits();
            assert_eq!((low, high), (16 * 1024, 64 * 1024), "asyncio's defaults");
            let chunk = payload(256 * 1024 + 1);
            let mut sent = Vec::new();
            while conn.log.borrow().paused == 0 {
                assert!(sent.len() < 1 << 30, "never paused");
                let part = &chunk[sent.len() % 251..];
                t.write(part).unwrap();
                sent.extend_from_slice(part);
            }
            assert!(t.get_write_buffer_size() > high);
            // More writes while paused are buffered, not refused.
            t.write(b"tail").unwrap();
            sent.extend_from_slice(b"tail");
            assert_eq!(conn.log.borrow().paused, 1, "paused once");
            go.send(()).unwrap();
            conn.resumed.clone().await.unwrap();
            assert!(t.get_write_buffer_size() <= low);
            assert_eq!(conn.log.borrow().resumed, 1);
            t.close();
            assert_eq!(conn.lost.clone().await.unwrap(), None);
            sent
        })
        .unwrap();
    let got = peer.join().unwrap();
    assert_eq!(got.len(), sent.len());
    assert!(got == sent, "nothing lost or reordered");
}

/// `pause_reading` stops `data_received` even with data and the peer's FIN waiting in
/// the socket; `resume_reading` delivers both at once (the re-registration reports the
/// pending readiness).
#[test]
fn pause_and_resume_reading() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    lp.run_until_complete(async move {
        let (server, accepted, addr) = server(&l, Mode::Record).await;
        let conn = client(&l, addr, Mode::Record).await;
        let t = conn.transport();
        t.pause_reading();
        assert!(!t.is_reading());
        let s = accepted.nth(&l, 0).await;
        s.transport().write(b"abc").unwrap();
        s.transport().close();
        s.lost.clone().await.unwrap();
        for _ in 0..3 {
            // Each sleep is one more poll of the OS selector.
            l.sleep(std::time::Duration::ZERO).await.unwrap();
        }
        assert!(conn.data().is_empty(), "nothing delivered while paused");
        assert!(!conn.log.borrow().eof);
        t.resume_reading();
        assert!(t.is_reading());
        conn.eof.clone().await.unwrap();
        assert_eq!(conn.data(), b"abc");
        assert_eq!(conn.lost.clone().await.unwrap(), None);
        server.close();
    })
    .unwrap();
}

/// `peername`, `sockname` and `socket` on both ends; the names stay after close.
#[test]
fn extra_info_on_both_ends() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    lp.run_until_complete(async move {
        let (server, accepted, addr) = server(&l, Mode::Record).await;
        let conn = client(&l, addr, Mode::Record).await;
        let s = accepted.nth(&l, 0).await;
        let (t, st) = (conn.transport(), s.transport());
        assert_eq!(t.get_extra_info("peername"), Some(ExtraInfo::Addr(addr)));
        let Some(ExtraInfo::Addr(local)) = t.get_extra_info("sockname") else {
            panic!("no sockname");
        };
        assert_eq!(local.ip(), addr.ip());
        assert_eq!(st.get_extra_info("sockname"), Some(ExtraInfo::Addr(addr)));
        assert_eq!(st.get_extra_info("peername"), Some(ExtraInfo::Addr(local)));
        let Some(ExtraInfo::Int(fd)) = t.get_extra_info("socket") else {
            panic!("no socket");
        };
        assert!(fd >= 0);
        assert_eq!(t.get_extra_info("no such key"), None);
        t.close();
        conn.lost.clone().await.unwrap();
        assert_eq!(t.get_extra_info("socket"), None, "the socket is closed");
        assert_eq!(t.get_extra_info("peername"), Some(ExtraInfo::Addr(addr)));
        server.close();
    })
    .unwrap();
}

/// The connection entry points' options: a host name resolved off the loop thread, a
/// local address, an existing socket, and an accepted socket handed to the loop.
#[test]
fn connection_options_name_local_addr_and_sockets() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    lp.run_until_complete(async move {
        let (server, _accepted, addr) = server(&l, Mode::Echo).await;

        let by_name = client(
            &l,
            ConnectOptions::new()
                .host("localhost")
                .port(addr.port())
                .family(host_native::socket2::Domain::IPV4),
            Mode::Record,
        )
        .await;
        by_name.transport().write(b"n").unwrap();
        by_name.received(&l, 1).await.unwrap();

        let local = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let bound = client(
            &l,
            ConnectOptions::from(addr).local_addr(local),
            Mode::Record,
        )
        .await;
        assert_eq!(
            bound.transport().get_extra_info("sockname"),
            Some(ExtraInfo::Addr(local))
        );

        let std_client = TcpStream::connect(addr).unwrap();
        let adopted = client(&l, ConnectOptions::new().sock(std_client), Mode::Record).await;
        adopted.transport().write(b"adopted").unwrap();
        adopted.received(&l, 7).await.unwrap();
        assert_eq!(adopted.data(), b"adopted");

        // connect_accepted_socket: a connection accepted outside the loop.
        let outside = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut peer = TcpStream::connect(outside.local_addr().unwrap()).unwrap();
        let (sock, _) = outside.accept().unwrap();
        let conn = Conn::new(&l);
        let c = conn.clone();
        l.connect_accepted_socket(move || Rec::new(c, Mode::Echo), sock)
            .await
            .unwrap();
        peer.write_all(b"hi").unwrap();
        conn.received(&l, 2).await.unwrap();
        let mut back = [0u8; 2];
        peer.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"hi");

        for c in [by_name, bound, adopted, conn] {
            c.transport().close();
            c.lost.clone().await.unwrap();
        }
        server.close();
    })
    .unwrap();
}

/// `create_server` without a host listens on every interface (one socket per family),
/// with a list of hosts on each of them, and serves an existing socket; IPv6 works.
#[test]
fn server_addresses_every_interface_host_lists_and_sockets() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    lp.run_until_complete(async move {
        let (_, factory) = recorder_factory(&l, Mode::Echo);
        let all = l
            .create_server(factory, ListenOptions::new().port(0))
            .await
            .unwrap();
        let socks = all.sockets();
        assert!(!socks.is_empty());
        assert!(socks.iter().all(|a| a.ip().is_unspecified()), "{socks:?}");
        all.close();

        let (_, factory) = recorder_factory(&l, Mode::Echo);
        let listed = l
            .create_server(factory, ListenOptions::new().hosts(["127.0.0.1", "::1"]))
            .await
            .unwrap();
        let socks = listed.sockets();
        assert_eq!(socks.len(), 2, "{socks:?}");
        for a in socks {
            let conn = client(&l, a, Mode::Record).await;
            conn.transport().write(b"v").unwrap();
            conn.received(&l, 1).await.unwrap();
            assert_eq!(
                conn.transport().get_extra_info("peername"),
                Some(ExtraInfo::Addr(a))
            );
            conn.transport().close();
        }
        listed.close();

        let std_listener = TcpListener::bind("[::1]:0").unwrap();
        let at = std_listener.local_addr().unwrap();
        let (_, factory) = recorder_factory(&l, Mode::Echo);
        let on_sock = l
            .create_server(factory, ListenOptions::new().sock(std_listener))
            .await
            .unwrap();
        assert_eq!(on_sock.sockets(), vec![at]);
        let conn = client(&l, at, Mode::Record).await;
        conn.transport().write(b"six").unwrap();
        conn.received(&l, 3).await.unwrap();
        conn.transport().close();
        on_sock.close();
    })
    .unwrap();
}

/// A second server on a busy port fails with `AddrInUse` naming the address, unless
/// both use `reuse_port`.
#[test]
fn address_in_use_and_reuse_port() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    lp.run_until_complete(async move {
        let (first, _, addr) = server(&l, Mode::Echo).await;
        let (_, factory) = recorder_factory(&l, Mode::Echo);
        let err = l.create_server(factory, addr).await.err().unwrap();
        assert_eq!(err.kind(), ErrorKind::AddrInUse);
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
        first.close();

        let opts = || ListenOptions::new().host("127.0.0.1").reuse_port(true);
        let (_, f1) = recorder_factory(&l, Mode::Echo);
        let a = l.create_server(f1, opts()).await.unwrap();
        let port = a.sockets()[0].port();
        let (_, f2) = recorder_factory(&l, Mode::Echo);
        let b = l.create_server(f2, opts().port(port)).await.unwrap();
        assert_eq!(b.sockets()[0].port(), port);
        a.close();
        b.close();
    })
    .unwrap();
}
