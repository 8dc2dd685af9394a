//! Servers and connecting on the simulated network (asyncio-eventloop.rst, "Creating
//! listening connections" and "Server"; wait_closed as in asyncio 3.12+).
mod net_util;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use loop_core::net::{Net, ServerOptions};
use loop_core::sim::NetConfig;
use loop_core::{ErrorKind, Protocol};
use net_util::{Recorder, addr, new_log, world, world_with};

#[derive(Default)]
struct Quiet;
impl Protocol for Quiet {}

#[test]
fn connection_refused_without_a_listener() {
    let w = world(1);
    let net = w.net.clone();
    let e = w.block_on(async move {
        net.create_connection(|| Quiet, addr("127.0.0.1:5000"))
            .await
            .map(|_| ())
            .unwrap_err()
    });
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    assert_eq!(w.net.open_streams(), 0, "the failed socket is released");
}

#[test]
fn the_factory_is_not_called_when_connecting_fails() {
    let w = world(2);
    let net = w.net.clone();
    let called = Rc::new(Cell::new(false));
    let c = called.clone();
    let r = w.block_on(async move {
        net.create_connection(
            move || {
                c.set(true);
                Quiet
            },
            addr("127.0.0.1:5001"),
        )
        .await
        .map(|_| ())
    });
    assert!(r.is_err());
    assert!(!called.get());
}

#[test]
fn server_factory_runs_once_per_connection_and_port_zero_is_assigned() {
    let w = world(3);
    let log = new_log();
    let (server, accepted) = w.recording_server(addr("127.0.0.1:0"), "srv", &log, |_| {});
    let bound = server.sockets();
    assert_eq!(bound.len(), 1);
    assert_ne!(bound[0].port(), 0);
    for _ in 0..5 {
        w.connect(bound[0], "c", &log, |_| {});
    }
    w.settle();
    assert_eq!(accepted.borrow().len(), 5);
    assert_eq!(server.active_connections(), 5);
    assert!(accepted.borrow().iter().all(|r| r.borrow().made == 1));
}

#[test]
fn listening_twice_on_an_address_fails() {
    let w = world(4);
    let log = new_log();
    let a = addr("127.0.0.1:5002");
    let (_server, _) = w.recording_server(a, "srv", &log, |_| {});
    let net = w.net.clone();
    let e = w.block_on(async move {
        net.create_server(|| Quiet, a, ServerOptions::default())
            .await
            .unwrap_err()
    });
    assert_eq!(e.kind(), ErrorKind::AddrInUse);
    let net = w.net.clone();
    let e = w.block_on(async move {
        net.create_server(|| Quiet, addr("0.0.0.0:5002"), ServerOptions::default())
            .await
            .unwrap_err()
    });
    assert_eq!(e.kind(), ErrorKind::AddrInUse, "the wildcard overlaps");
}

#[test]
fn wildcard_listener_accepts_loopback_connections() {
    let w = world(5);
    let log = new_log();
    let (_server, accepted) = w.recording_server(addr("0.0.0.0:5003"), "srv", &log, |_| {});
    let (t, _) = w.connect(addr("127.0.0.1:5003"), "c", &log, |_| {});
    t.write(b"hi").unwrap();
    w.settle();
    assert_eq!(accepted.borrow()[0].borrow().received, b"hi");
}

#[test]
fn close_keeps_live_connections_and_wait_closed_waits_for_them() {
    let w = world(6);
    let a = addr("127.0.0.1:5004");
    let log = new_log();
    let (server, accepted) = w.recording_server(a, "echo", &log, |r| {
        r.on_data = Some(Box::new(|t, d| t.write(d).unwrap()));
    });
    let (c1, r1) = w.connect(a, "c1", &log, |_| {});
    let (c2, r2) = w.connect(a, "c2", &log, |_| {});
    w.settle();
    assert!(server.is_serving());

    let closed = Rc::new(Cell::new(false));
    let (s, flag) = (server.clone(), closed.clone());
    w.lp.create_task(async move {
        s.wait_closed().await;
        flag.set(true);
    });
    w.settle();
    assert!(!closed.get(), "not closed yet");

    server.close();
    server.close();
    assert!(!server.is_serving());
    assert!(server.sockets().is_empty());
    w.settle();
    assert!(!closed.get(), "connections are still open");

    // The live connections keep working.
    c1.write(b"one").unwrap();
    c2.write(b"two").unwrap();
    w.settle();
    assert_eq!(r1.borrow().received, b"one");
    assert_eq!(r2.borrow().received, b"two");

    // New connections are refused.
    let net = w.net.clone();
    let e = w.block_on(async move {
        net.create_connection(|| Quiet, a)
            .await
            .map(|_| ())
            .unwrap_err()
    });
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);

    c1.close();
    w.settle();
    assert_eq!(server.active_connections(), 1);
    assert!(!closed.get());
    c2.close();
    w.settle();
    assert_eq!(server.active_connections(), 0);
    assert!(closed.get(), "closed and every connection gone");
    assert!(accepted.borrow().iter().all(|r| r.borrow().lost.len() == 1));
    // Once both hold, wait_closed returns at once.
    let s = server.clone();
    w.block_on(async move { s.wait_closed().await });
}

#[test]
fn wait_closed_before_close_waits_for_close() {
    let w = world(7);
    let log = new_log();
    let (server, _) = w.recording_server(addr("127.0.0.1:5005"), "srv", &log, |_| {});
    let done = Rc::new(Cell::new(false));
    let (s, d) = (server.clone(), done.clone());
    w.lp.create_task(async move {
        s.wait_closed().await;
        d.set(true);
    });
    w.run_for(Duration::from_secs(10));
    assert!(!done.get());
    server.close();
    w.settle();
    assert!(done.get());
}

#[test]
fn close_clients_and_abort_clients() {
    for abort in [false, true] {
        let w = world_with(8, NetConfig::default().with_stream_window(4));
        let a = addr("127.0.0.1:5006");
        let log = new_log();
        let (server, accepted) = w.recording_server(a, "srv", &log, |_| {});
        let (_c, client) = w.connect(a, "c", &log, |_| {});
        w.settle();
        accepted.borrow()[0]
            .borrow()
            .t()
            .write(b"0123456789")
            .unwrap();
        if abort {
            server.abort_clients();
        } else {
            server.close_clients();
        }
        w.settle();
        assert_eq!(server.active_connections(), 0);
        let expected: &[u8] = if abort { b"0123" } else { b"0123456789" };
        assert_eq!(client.borrow().received, expected, "abort={abort}");
        assert!(server.is_serving(), "the listener is untouched");
    }
}

#[test]
fn delayed_accept_with_latency_accepts_every_client() {
    let config = NetConfig::default()
        .with_latency(Duration::from_millis(1), Duration::from_millis(10))
        .with_accept_delay(Duration::from_millis(50));
    let w = world_with(9, config);
    let a = addr("127.0.0.1:5007");
    let log = new_log();
    let (server, accepted) = w.recording_server(a, "srv", &log, |_| {});
    let clients: Vec<_> = (0..10).map(|_| w.connect(a, "c", &log, |_| {})).collect();
    // Connected clients may already write: data waits for the accept.
    for (t, _) in &clients {
        t.write(b"early").unwrap();
    }
    w.run_for(Duration::from_millis(200));
    assert_eq!(accepted.borrow().len(), 10);
    assert!(
        accepted
            .borrow()
            .iter()
            .all(|r| r.borrow().received == b"early")
    );
    assert_eq!(server.active_connections(), 10);
    assert!(w.lp.time().as_secs_f64() > 0.0);
}

#[test]
fn a_full_backlog_refuses_and_closing_resets_unaccepted_connections() {
    let w = world_with(
        10,
        NetConfig::default().with_accept_delay(Duration::from_secs(3600)),
    );
    let a = addr("127.0.0.1:5008");
    let net = w.net.clone();
    let server = w.block_on(async move {
        net.create_server(
            Recorder::default_quiet,
            a,
            ServerOptions::default().with_backlog(1),
        )
        .await
        .unwrap()
    });
    let log = new_log();
    // Connected (SYN-ACK) but not accepted for an hour.
    let (_t, waiting) = w.connect(a, "waiting", &log, |_| {});
    let net = w.net.clone();
    let e = w.block_on(async move {
        net.create_connection(|| Quiet, a)
            .await
            .map(|_| ())
            .unwrap_err()
    });
    assert_eq!(
        e.kind(),
        ErrorKind::ConnectionRefused,
        "backlog of 1 is full"
    );
    server.close();
    w.settle();
    assert_eq!(
        waiting.borrow().lost_kind(),
        Some(ErrorKind::ConnectionReset)
    );
    assert_eq!(w.net.open_streams(), 0);
}

#[test]
fn start_serving_false_and_serve_forever() {
    let w = world(11);
    let a = addr("127.0.0.1:5009");
    let net = w.net.clone();
    let server = w.block_on(async move {
        net.create_server(
            Recorder::default_quiet,
            a,
            ServerOptions::default().with_start_serving(false),
        )
        .await
        .unwrap()
    });
    assert!(!server.is_serving());
    assert_eq!(
        server.sockets(),
        vec![a],
        "bound and listening, not accepting"
    );

    let s = server.clone();
    let forever = w.lp.create_task(async move { s.serve_forever().await });
    w.settle();
    assert!(server.is_serving());
    let s = server.clone();
    let second = w.block_on(async move { s.serve_forever().await });
    assert_eq!(second.unwrap_err().kind(), ErrorKind::Runtime);

    let log = new_log();
    w.connect(a, "c", &log, |_| {});
    w.settle();
    assert_eq!(server.active_connections(), 1);

    // Closing the server ends serve_forever with a cancellation once its connections
    // are gone.
    server.close();
    server.abort_clients();
    w.settle();
    assert!(forever.done());
    assert_eq!(
        forever.take_result().unwrap().unwrap_err().kind(),
        ErrorKind::Cancelled
    );
    let s = server.clone();
    let after = w.block_on(async move { s.serve_forever().await });
    assert_eq!(after.unwrap_err().kind(), ErrorKind::Runtime, "closed");
}

#[test]
fn cancelling_serve_forever_closes_the_server() {
    let w = world(12);
    let a = addr("127.0.0.1:5010");
    let net = w.net.clone();
    let server = w.block_on(async move {
        net.create_server(Recorder::default_quiet, a, ServerOptions::default())
            .await
            .unwrap()
    });
    let s = server.clone();
    let forever = w.lp.create_task(async move { s.serve_forever().await });
    w.settle();
    forever.cancel();
    w.settle();
    assert!(forever.cancelled());
    assert!(!server.is_serving());
    assert!(server.sockets().is_empty());
}

#[test]
fn cancelled_connect_releases_the_socket() {
    let w = world_with(
        13,
        NetConfig::default().with_latency(Duration::from_secs(1), Duration::from_secs(1)),
    );
    let log = new_log();
    let a = addr("127.0.0.1:5011");
    let (_server, accepted) = w.recording_server(a, "srv", &log, |_| {});
    let net = w.net.clone();
    let connecting =
        w.lp.create_task(async move { net.create_connection(|| Quiet, a).await.map(|_| ()) });
    w.run_for(Duration::from_millis(500));
    connecting.cancel();
    w.run_for(Duration::from_secs(10));
    assert!(connecting.cancelled());
    // The server side was created by the SYN; the client is gone, so it was reset.
    for r in accepted.borrow().iter() {
        assert_eq!(r.borrow().lost_kind(), Some(ErrorKind::ConnectionReset));
    }
    assert_eq!(w.net.open_streams(), 0);
}

#[test]
fn stalled_when_waiting_for_data_that_never_comes() {
    // The simulation host detects a program that can never make progress.
    let w = world(14);
    let a = addr("127.0.0.1:5012");
    let log = new_log();
    let (_server, _) = w.recording_server(a, "srv", &log, |_| {});
    let (_t, _client) = w.connect(a, "c", &log, |_| {});
    let never = w.lp.create_future::<()>();
    let e = w.lp.run_until_complete(never).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Stalled);
}

#[test]
fn a_panicking_factory_is_reported_and_the_connection_dropped() {
    let w = world(15);
    let reported = Rc::new(Cell::new(0));
    let r = reported.clone();
    w.lp.set_exception_handler(Some(Rc::new(move |_, _| r.set(r.get() + 1))));
    let a = addr("127.0.0.1:5013");
    let net = w.net.clone();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let server = w.block_on(async move {
        net.create_server(
            move || {
                c.set(c.get() + 1);
                if c.get() == 1 {
                    panic!("factory bug");
                }
                Quiet
            },
            a,
            ServerOptions::default(),
        )
        .await
        .unwrap()
    });
    let log = new_log();
    let (_t1, first) = w.connect(a, "first", &log, |_| {});
    let (_t2, second) = w.connect(a, "second", &log, |_| {});
    w.settle();
    assert_eq!(reported.get(), 1);
    assert_eq!(first.borrow().eof, 1, "the first connection was closed");
    assert!(second.borrow().lost.is_empty(), "the server goes on");
    assert_eq!(server.active_connections(), 1);
}

#[test]
fn closing_the_loop_with_live_connections_is_clean() {
    let w = world(16);
    let a = addr("127.0.0.1:5014");
    let log = new_log();
    let (_server, _) = w.recording_server(a, "srv", &log, |_| {});
    let (t, _) = w.connect(a, "c", &log, |_| {});
    t.write(b"in flight").unwrap();
    w.lp.close().unwrap();
    assert!(w.lp.is_closed());
    // Transports still answer, with errors where the loop is needed.
    t.close();
    assert!(t.is_closing());
}

#[test]
fn listening_on_a_port_a_client_uses_fails() {
    let w = world(17);
    let a = addr("127.0.0.1:5015");
    let log = new_log();
    let (_server, _) = w.recording_server(a, "srv", &log, |_| {});
    let (t, _) = w.connect(a, "c", &log, |_| {});
    let taken = net_util::extra_addr(&t, "sockname");
    let net = w.net.clone();
    let e = w.block_on(async move {
        net.create_server(|| Quiet, taken, ServerOptions::default())
            .await
            .unwrap_err()
    });
    assert_eq!(e.kind(), ErrorKind::AddrInUse);
}

trait DefaultQuiet {
    fn default_quiet() -> Quiet;
}
impl DefaultQuiet for Recorder {
    fn default_quiet() -> Quiet {
        Quiet
    }
}
