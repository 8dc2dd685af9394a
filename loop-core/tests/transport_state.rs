//! The stream transport's state machine under every ordering of close, abort, write_eof,
//! peer EOF and peer reset (asyncio-overview.rst, "Connection callbacks" and
//! "Data reception callbacks").
mod net_util;

use std::time::Duration;

use loop_core::ErrorKind;
use loop_core::sim::{NetConfig, SimConnection};
use net_util::{Recorder, addr, assert_clean, extra_addr, new_log, world, world_with};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Close,
    Abort,
    WriteEof,
    PeerEof,
    PeerReset,
}

const STEPS: [Step; 5] = [
    Step::Close,
    Step::Abort,
    Step::WriteEof,
    Step::PeerEof,
    Step::PeerReset,
];

fn permutations(items: &[Step]) -> Vec<Vec<Step>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(i);
        for mut p in permutations(&rest) {
            p.insert(0, first);
            out.push(p);
        }
    }
    out
}

/// What the local protocol's `connection_lost` must receive, from the rules: a local
/// close/abort ends the connection cleanly; an EOF closes it unless `eof_received`
/// keeps it half-open; a reset is seen by the next read (or, when reading stopped after
/// a kept-open EOF, by the next operation that touches the socket: write_eof).
struct Model {
    decided: Option<Option<ErrorKind>>,
    reading: bool,
    reset_pending: bool,
    peer_reset: bool,
    closing: bool,
    eof_written: bool,
}

impl Model {
    fn new() -> Self {
        Model {
            decided: None,
            reading: true,
            reset_pending: false,
            peer_reset: false,
            closing: false,
            eof_written: false,
        }
    }

    fn apply(&mut self, step: Step, keep_open: bool) {
        let open = self.decided.is_none();
        match step {
            Step::Close | Step::Abort => {
                self.closing = true;
                if open {
                    self.decided = Some(None);
                }
            }
            Step::WriteEof => {
                if open {
                    if self.reset_pending {
                        self.decided = Some(Some(ErrorKind::ConnectionReset));
                    } else {
                        self.eof_written = true;
                    }
                }
            }
            Step::PeerEof => {
                if open && !self.peer_reset && self.reading {
                    if keep_open {
                        self.reading = false;
                    } else {
                        self.decided = Some(None);
                    }
                }
            }
            Step::PeerReset => {
                self.peer_reset = true;
                if open {
                    if self.reading {
                        self.decided = Some(Some(ErrorKind::ConnectionReset));
                    } else {
                        self.reset_pending = true;
                    }
                }
            }
        }
    }
}

fn run_sequence(seq: &[Step], keep_open: bool) {
    let w = world(1);
    let a = addr("127.0.0.1:9000");
    let log = new_log();
    // The peer keeps half-open connections, so only the test's steps close it.
    let (server, accepted) = w.recording_server(a, "peer", &log, |r| r.keep_open = true);
    let (local, client) = w.connect(a, "local", &log, move |r| r.keep_open = keep_open);
    w.settle();
    let peer_rec = accepted.borrow()[0].clone();
    let peer = peer_rec.borrow().t();
    peer.write(b"hello").unwrap();
    local.write(b"hi").unwrap();
    w.settle();
    assert_eq!(client.borrow().received, b"hello");
    assert_eq!(peer_rec.borrow().received, b"hi");
    let conn: SimConnection = w
        .net
        .connection(
            extra_addr(&local, "sockname"),
            extra_addr(&local, "peername"),
        )
        .unwrap();

    let mut model = Model::new();
    for &step in seq {
        let ctx = format!("{seq:?} keep_open={keep_open} at {step:?}");
        match step {
            Step::Close => local.close(),
            Step::Abort => local.abort(),
            Step::WriteEof => {
                let r = local.write_eof();
                // write_eof on a closing transport is an error, never silent.
                assert_eq!(
                    r.is_err(),
                    model.closing || model.decided.is_some(),
                    "{ctx}"
                );
            }
            Step::PeerEof => {
                let _ = peer.write_eof();
            }
            Step::PeerReset => conn.reset(),
        }
        model.apply(step, keep_open);
        w.settle();
        if model.closing || model.eof_written || model.decided.is_some() {
            let e = local.write(b"x").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Runtime, "{ctx}: write must fail");
        }
        assert_eq!(
            local.is_closing(),
            model.decided.is_some(),
            "{ctx}: is_closing"
        );
    }
    if model.decided.is_none() {
        local.close();
        model.decided = Some(None);
        w.settle();
    }
    peer.close();
    server.close();
    w.settle();

    let ctx = format!("{seq:?} keep_open={keep_open}");
    let c = client.borrow();
    assert_clean(&c);
    assert_eq!(c.made, 1, "{ctx}");
    assert_eq!(
        c.lost_kind(),
        model.decided.unwrap(),
        "{ctx}: {:?}",
        log.borrow()
    );
    assert!(
        log.borrow()
            .iter()
            .rfind(|l| l.starts_with("local"))
            .unwrap()
            .starts_with("local: lost"),
        "{ctx}: connection_lost comes last"
    );
    let p = peer_rec.borrow();
    assert_clean(&p);
    assert_eq!(p.lost.len(), 1, "{ctx}: peer connection_lost once");
    assert_eq!(w.net.open_streams(), 0, "{ctx}: every socket released");
}

#[test]
fn every_ordering_of_close_abort_write_eof_peer_eof_and_reset() {
    let orders = permutations(&STEPS);
    assert_eq!(orders.len(), 120);
    for seq in &orders {
        for keep_open in [false, true] {
            run_sequence(seq, keep_open);
        }
    }
}

#[test]
fn every_prefix_of_the_orderings() {
    // Sequences of one to four steps leave the connection in intermediate states that
    // the final close must still end cleanly.
    let mut seen = std::collections::BTreeSet::new();
    for seq in permutations(&STEPS) {
        for len in 1..STEPS.len() {
            let prefix: Vec<Step> = seq[..len].to_vec();
            if seen.insert(format!("{prefix:?}")) {
                for keep_open in [false, true] {
                    run_sequence(&prefix, keep_open);
                }
            }
        }
    }
    assert_eq!(seen.len(), 5 + 20 + 60 + 120);
}

/// The same orderings with latency and split segments: timing changes which event wins,
/// but the invariants hold.
#[test]
fn orderings_keep_the_invariants_under_latency() {
    let config = NetConfig::default()
        .with_latency(Duration::ZERO, Duration::from_millis(3))
        .with_max_segment(2);
    for (i, seq) in permutations(&STEPS).iter().enumerate() {
        let w = world_with(i as u64, config.clone());
        let a = addr("127.0.0.1:9000");
        let log = new_log();
        let (server, accepted) = w.recording_server(a, "peer", &log, |r| r.keep_open = true);
        let (local, client) = w.connect(a, "local", &log, |_| {});
        w.settle();
        w.run_for(Duration::from_millis(10));
        let peer_rec = accepted.borrow()[0].clone();
        let peer = peer_rec.borrow().t();
        let conn = w
            .net
            .connection(
                extra_addr(&local, "sockname"),
                extra_addr(&local, "peername"),
            )
            .unwrap();
        for &step in seq {
            peer.write(b"0123456789").ok();
            match step {
                Step::Close => local.close(),
                Step::Abort => local.abort(),
                Step::WriteEof => {
                    let _ = local.write_eof();
                }
                Step::PeerEof => {
                    let _ = peer.write_eof();
                }
                Step::PeerReset => conn.reset(),
            }
            // Let part of the traffic through before the next step.
            w.run_for(Duration::from_millis(1));
        }
        local.close();
        peer.close();
        server.close();
        w.run_for(Duration::from_millis(50));
        let c = client.borrow();
        assert_clean(&c);
        assert_eq!(c.made, 1);
        assert_eq!(c.lost.len(), 1, "{seq:?}: {:?}", log.borrow());
        let p = peer_rec.borrow();
        assert_clean(&p);
        assert_eq!(p.lost.len(), 1, "{seq:?}: {:?}", log.borrow());
        assert_eq!(w.net.open_streams(), 0);
    }
}

#[test]
fn connection_made_is_scheduled_not_called_inline() {
    // asyncio schedules connection_made with call_soon; create_connection returns after it.
    let w = world(2);
    let a = addr("127.0.0.1:9001");
    let log = new_log();
    let (_server, accepted) = w.recording_server(a, "peer", &log, |_| {});
    let (_t, client) = w.connect(a, "local", &log, |_| {});
    assert_eq!(
        client.borrow().made,
        1,
        "made before create_connection returns"
    );
    w.settle();
    assert_eq!(accepted.borrow().len(), 1);
    assert_eq!(accepted.borrow()[0].borrow().made, 1);
}

#[test]
fn close_flushes_then_reports_a_clean_loss() {
    let w = world_with(3, NetConfig::default().with_stream_window(10));
    let a = addr("127.0.0.1:9002");
    let log = new_log();
    let (_server, accepted) = w.recording_server(a, "peer", &log, |r| r.keep_open = true);
    let (local, client) = w.connect(a, "local", &log, |_| {});
    let payload: Vec<u8> = (0..100u8).collect();
    local.write(&payload).unwrap();
    assert!(
        local.get_write_buffer_size() > 0,
        "the window holds only 10 bytes"
    );
    local.close();
    assert!(local.is_closing());
    assert!(client.borrow().lost.is_empty(), "lost only after the flush");
    w.settle();
    let peer = accepted.borrow()[0].clone();
    assert_eq!(peer.borrow().received, payload, "close flushed everything");
    assert_eq!(peer.borrow().eof, 1);
    assert_eq!(client.borrow().lost_kind(), None);
}

#[test]
fn abort_drops_the_buffer() {
    let w = world_with(4, NetConfig::default().with_stream_window(10));
    let a = addr("127.0.0.1:9003");
    let log = new_log();
    let (_server, accepted) = w.recording_server(a, "peer", &log, |r| r.keep_open = true);
    let (local, client) = w.connect(a, "local", &log, |_| {});
    local.write(&[7u8; 100]).unwrap();
    local.abort();
    assert_eq!(local.get_write_buffer_size(), 0);
    local.abort();
    local.close();
    w.settle();
    let peer = accepted.borrow()[0].clone();
    assert_eq!(
        peer.borrow().received.len(),
        10,
        "only what was already sent"
    );
    assert_eq!(client.borrow().lost_kind(), None, "abort is a clean loss");
}

#[test]
fn peer_reset_is_reported_to_connection_lost() {
    let w = world(5);
    let a = addr("127.0.0.1:9004");
    let log = new_log();
    let (_server, accepted) = w.recording_server(a, "peer", &log, |_| {});
    let (local, client) = w.connect(a, "local", &log, |_| {});
    w.settle();
    w.net
        .connection(
            extra_addr(&local, "sockname"),
            extra_addr(&local, "peername"),
        )
        .unwrap()
        .reset();
    w.settle();
    assert_eq!(
        client.borrow().lost_kind(),
        Some(ErrorKind::ConnectionReset)
    );
    assert_eq!(
        accepted.borrow()[0].borrow().lost_kind(),
        Some(ErrorKind::ConnectionReset)
    );
    let e = local.write(b"late").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Runtime);
}

#[test]
fn eof_received_false_closes_and_true_keeps_half_open() {
    for keep_open in [false, true] {
        let w = world(6);
        let a = addr("127.0.0.1:9005");
        let log = new_log();
        let (_server, accepted) = w.recording_server(a, "peer", &log, |r| r.keep_open = true);
        let (local, client) = w.connect(a, "local", &log, move |r| r.keep_open = keep_open);
        w.settle();
        let peer = accepted.borrow()[0].borrow().t();
        peer.write(b"bye").unwrap();
        peer.write_eof().unwrap();
        assert!(peer.write(b"more").is_err(), "write after write_eof");
        w.settle();
        assert_eq!(client.borrow().eof, 1);
        if keep_open {
            assert!(!local.is_closing());
            assert!(client.borrow().lost.is_empty());
            // Half-open: this side can still send.
            local.write(b"still here").unwrap();
            w.settle();
            assert_eq!(accepted.borrow()[0].borrow().received, b"still here");
            local.close();
            w.settle();
        }
        assert!(local.is_closing());
        assert_eq!(client.borrow().lost_kind(), None);
        assert_eq!(client.borrow().received, b"bye");
        assert_clean(&client.borrow());
    }
}

#[test]
fn write_eof_flushes_first_and_then_half_closes() {
    let w = world_with(7, NetConfig::default().with_stream_window(4));
    let a = addr("127.0.0.1:9006");
    let log = new_log();
    let (_server, accepted) = w.recording_server(a, "peer", &log, |r| r.keep_open = true);
    let (local, client) = w.connect(a, "local", &log, |r| r.keep_open = true);
    assert!(local.can_write_eof());
    local.write(b"0123456789").unwrap();
    local.write_eof().unwrap();
    local.write_eof().unwrap();
    w.settle();
    let peer = accepted.borrow()[0].clone();
    assert_eq!(peer.borrow().received, b"0123456789");
    assert_eq!(peer.borrow().eof, 1);
    // Reading still works after write_eof.
    peer.borrow().t().write(b"reply").unwrap();
    w.settle();
    assert_eq!(client.borrow().received, b"reply");
    assert!(client.borrow().lost.is_empty());
}

#[test]
fn empty_write_is_a_no_op_and_writelines_concatenates() {
    let w = world_with(8, NetConfig::default().with_stream_window(5));
    let a = addr("127.0.0.1:9007");
    let log = new_log();
    let (_server, accepted) = w.recording_server(a, "peer", &log, |_| {});
    let (local, _client) = w.connect(a, "local", &log, |_| {});
    local.write(b"").unwrap();
    local.writelines(&[]).unwrap();
    local.writelines(&[b"abc", b"", b"defg", b"hij"]).unwrap();
    assert_eq!(
        local.get_write_buffer_size(),
        5,
        "5 went out in one vectored write"
    );
    local.writelines(&[b"kl", b"m"]).unwrap();
    assert_eq!(local.get_write_buffer_size(), 8);
    w.settle();
    assert_eq!(accepted.borrow()[0].borrow().received, b"abcdefghijklm");
    assert_eq!(local.get_write_buffer_size(), 0);
}

#[test]
fn extra_info_names_both_ends() {
    let w = world(9);
    let a = addr("127.0.0.1:9008");
    let log = new_log();
    let (_server, accepted) = w.recording_server(a, "peer", &log, |_| {});
    let (local, _client) = w.connect(a, "local", &log, |_| {});
    w.settle();
    let peer = accepted.borrow()[0].borrow().t();
    assert_eq!(extra_addr(&local, "peername"), a);
    assert_eq!(extra_addr(&peer, "sockname"), a);
    assert_eq!(
        extra_addr(&peer, "peername"),
        extra_addr(&local, "sockname")
    );
    assert_eq!(local.get_extra_info("no such key"), None);
    local.close();
    w.settle();
    assert_eq!(extra_addr(&local, "peername"), a, "still known after close");
}

#[test]
fn recorder_checks_are_live() {
    // The recorder's violation checks must be able to fail.
    let log = new_log();
    let mut r = Recorder::new("x", &log);
    loop_core::Protocol::data_received(&mut r, b"early");
    assert!(!r.violations.is_empty());
}
