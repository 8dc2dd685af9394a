//! The simulated network's own model: level-triggered readiness on the SimHost, split
//! segments, latency, FIN/RST rules and its test controls.
mod net_util;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use loop_core::sim::{FaultPlan, NetConfig, NetEventKind, SimHost, SimSource};
use loop_core::{ErrorKind, EventLoop, Interest};
use net_util::{addr, assert_clean, extra_addr, new_log, world, world_with};

struct Level(Rc<Cell<Interest>>);
impl SimSource for Level {
    fn readiness(&self) -> Interest {
        self.0.get()
    }
}

#[test]
fn sim_host_reports_readiness_level_triggered_without_moving_the_clock() {
    let host = SimHost::new(1);
    let lp = EventLoop::new(host.clone());
    let token = lp.register_io();
    let level = Rc::new(Cell::new(Interest::NONE));
    host.attach(token, Rc::new(Level(level.clone())));
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let l2 = level.clone();
    lp.add_reader(token, move || {
        c.set(c.get() + 1);
        if c.get() == 3 {
            l2.set(Interest::NONE);
        }
    })
    .unwrap();
    // Not ready: the reader does not run; a timer lets time pass.
    let lp2 = lp.clone();
    lp.call_later(Duration::from_secs(1), move || lp2.stop())
        .unwrap();
    lp.run_forever().unwrap();
    assert_eq!(calls.get(), 0);
    // Ready: reported at every poll until the level drops, with the clock standing still.
    level.set(Interest::BOTH);
    let before = lp.time();
    let lp2 = lp.clone();
    lp.call_later(Duration::from_secs(1), move || lp2.stop())
        .unwrap();
    for _ in 0..3 {
        lp.run_once().unwrap();
    }
    assert_eq!(calls.get(), 3);
    assert_eq!(
        lp.time(),
        before,
        "a ready token keeps the poll from sleeping"
    );
    lp.run_forever().unwrap();
    assert_eq!(calls.get(), 3);
    // Interest filters: a writer-less token is not reported writable.
    lp.remove_reader(token).unwrap();
    level.set(Interest::BOTH);
    let lp2 = lp.clone();
    lp.call_later(Duration::from_secs(1), move || lp2.stop())
        .unwrap();
    lp.run_forever().unwrap();
    assert_eq!(calls.get(), 3);
    host.detach(token);
    lp.deregister_io(token).unwrap();
}

#[test]
fn writes_arrive_split_but_in_order() {
    let config = NetConfig::default()
        .with_latency(Duration::from_millis(1), Duration::from_millis(9))
        .with_max_segment(4);
    let w = world_with(2, config);
    let a = addr("127.0.0.1:8000");
    let log = new_log();
    let (_server, accepted) = w.recording_server(a, "srv", &log, |_| {});
    let (t, _) = w.connect(a, "c", &log, |_| {});
    let data: Vec<u8> = (0..=255).collect();
    t.write(&data).unwrap();
    w.run_for(Duration::from_millis(100));
    let srv = accepted.borrow()[0].clone();
    assert_eq!(srv.borrow().received, data);
    // Segments of one write keep their order, so they arrive in a few bunches (each
    // arrival waits for the slowest earlier segment).
    assert!(
        srv.borrow().reads > 1,
        "split into several reads: {}",
        srv.borrow().reads
    );
    assert!(
        w.lp.time() >= loop_core::Instant::ZERO + Duration::from_millis(100),
        "virtual time moved"
    );
}

#[test]
fn latency_delays_delivery() {
    let config =
        NetConfig::default().with_latency(Duration::from_millis(250), Duration::from_millis(250));
    let w = world_with(3, config);
    let a = addr("127.0.0.1:8001");
    let log = new_log();
    let (_server, accepted) = w.recording_server(a, "srv", &log, |_| {});
    let start = w.lp.time();
    let (t, _) = w.connect(a, "c", &log, |_| {});
    // SYN then SYN-ACK: one round trip.
    assert_eq!(w.lp.time() - start, Duration::from_millis(500));
    t.write(b"x").unwrap();
    w.run_for(Duration::from_millis(249));
    assert!(accepted.borrow()[0].borrow().received.is_empty());
    w.run_for(Duration::from_millis(2));
    assert_eq!(accepted.borrow()[0].borrow().received, b"x");
}

#[test]
fn closing_with_unread_data_resets_the_peer() {
    let w = world(4);
    let a = addr("127.0.0.1:8002");
    let log = new_log();
    let (_server, accepted) = w.recording_server(a, "srv", &log, |r| {
        r.on_made = Some(Box::new(|t| t.pause_reading()));
    });
    let (t, client) = w.connect(a, "c", &log, |r| r.keep_open = true);
    t.write(b"never read").unwrap();
    w.settle();
    accepted.borrow()[0].borrow().t().close();
    w.settle();
    assert_eq!(
        client.borrow().lost_kind(),
        Some(ErrorKind::ConnectionReset)
    );
}

#[test]
fn data_for_a_closed_socket_is_answered_with_a_reset() {
    let w = world(5);
    w.net.set_tracing(true);
    let a = addr("127.0.0.1:8003");
    let log = new_log();
    // The server keeps its half open after the client's EOF... and the client keeps
    // writing after the server closed.
    let (_server, accepted) = w.recording_server(a, "srv", &log, |_| {});
    let (t, client) = w.connect(a, "c", &log, |r| r.keep_open = true);
    w.settle();
    accepted.borrow()[0].borrow().t().close();
    w.settle();
    assert_eq!(client.borrow().eof, 1, "half-open on the client side");
    t.write(b"anyone?").unwrap();
    w.settle();
    // The reset arrives; the client is not reading (EOF kept open), so the next write
    // finds it.
    assert!(w.net.trace().iter().any(|e| e.kind == NetEventKind::Reset));
    t.write(b"still?").unwrap();
    w.settle();
    assert_eq!(
        client.borrow().lost_kind(),
        Some(ErrorKind::ConnectionReset)
    );
}

#[test]
fn a_reset_fault_on_the_first_segment() {
    let config = NetConfig::default().with_faults(FaultPlan::none().with_reset_probability(1.0));
    let w = world_with(6, config);
    let a = addr("127.0.0.1:8004");
    let log = new_log();
    let (_server, accepted) = w.recording_server(a, "srv", &log, |_| {});
    let (t, client) = w.connect(a, "c", &log, |_| {});
    t.write(b"doomed").unwrap();
    w.settle();
    assert_eq!(
        client.borrow().lost_kind(),
        Some(ErrorKind::ConnectionReset)
    );
    let srv = accepted.borrow()[0].clone();
    assert_eq!(srv.borrow().lost_kind(), Some(ErrorKind::ConnectionReset));
    assert!(srv.borrow().received.is_empty());
    assert_clean(&srv.borrow());
}

#[test]
fn hold_reads_fills_the_window_and_reports_unread_bytes() {
    let w = world_with(7, NetConfig::default().with_stream_window(100));
    let a = addr("127.0.0.1:8005");
    let log = new_log();
    let (_server, accepted) = w.recording_server(a, "srv", &log, |_| {});
    let (t, _) = w.connect(a, "c", &log, |_| {});
    w.settle();
    let srv_t = accepted.borrow()[0].borrow().t();
    let srv_end = w
        .net
        .connection(
            extra_addr(&srv_t, "sockname"),
            extra_addr(&srv_t, "peername"),
        )
        .unwrap();
    assert!(srv_end.is_open());
    srv_end.hold_reads(true);
    t.write(&[1u8; 250]).unwrap();
    w.settle();
    assert_eq!(srv_end.unread(), 100);
    assert_eq!(t.get_write_buffer_size(), 150);
    srv_end.hold_reads(false);
    w.settle();
    assert_eq!(srv_end.unread(), 0);
    assert_eq!(accepted.borrow()[0].borrow().received.len(), 250);
}

#[test]
fn tracing_records_the_handshake_data_and_close() {
    let w = world(8);
    w.net.set_tracing(true);
    let a = addr("127.0.0.1:8006");
    let log = new_log();
    let (_server, _) = w.recording_server(a, "srv", &log, |_| {});
    let (t, _) = w.connect(a, "c", &log, |_| {});
    t.write(b"abc").unwrap();
    t.close();
    w.settle();
    let kinds: Vec<NetEventKind> = w.net.trace().into_iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            NetEventKind::Syn,
            NetEventKind::Established,
            NetEventKind::Data { len: 3 },
            NetEventKind::Fin,
        ],
        "the server's answering FIN reaches a socket already gone and is not recorded"
    );
    w.net.set_tracing(false);
    assert!(w.net.trace().is_empty());
}

#[test]
fn config_can_change_mid_run() {
    let w = world(9);
    assert_eq!(w.net.config(), NetConfig::default());
    let a = addr("127.0.0.1:8007");
    let log = new_log();
    let (_server, accepted) = w.recording_server(a, "srv", &log, |_| {});
    let (t, _) = w.connect(a, "c", &log, |_| {});
    w.net.set_config(NetConfig::default().with_max_segment(1));
    t.write(b"abcd").unwrap();
    w.settle();
    assert_eq!(accepted.borrow()[0].borrow().received, b"abcd");
    assert_eq!(
        accepted.borrow()[0].borrow().reads,
        1,
        "zero latency: one arrival"
    );
    assert_eq!(w.net.config().max_segment, Some(1));
    assert_eq!(w.net.host().seed(), 9);
}
