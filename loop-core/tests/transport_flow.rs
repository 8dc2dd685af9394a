//! Write flow control and read pausing on stream transports (asyncio-overview.rst, "Flow
//! control callbacks" and WriteTransport.set_write_buffer_limits).
mod net_util;

use std::cell::Cell;
use std::rc::Rc;

use loop_core::sim::{NetConfig, SimConnection};
use loop_core::{ErrorKind, Transport};
use net_util::{Recorder, World, addr, assert_clean, extra_addr, new_log, world_with};

/// A client connected to a keep-open recording server, and the server end's controls.
struct Pair {
    w: World,
    local: Rc<dyn Transport>,
    client: Rc<std::cell::RefCell<Recorder>>,
    peer: Rc<std::cell::RefCell<Recorder>>,
    /// The server end of the stream (hold its reads to build back-pressure).
    peer_end: SimConnection,
}

fn pair(seed: u64, window: usize) -> Pair {
    let w = world_with(seed, NetConfig::default().with_stream_window(window));
    let a = addr("127.0.0.1:7000");
    let log = new_log();
    let (_server, accepted) = w.recording_server(a, "peer", &log, |r| r.keep_open = true);
    let (local, client) = w.connect(a, "local", &log, |_| {});
    w.settle();
    let peer = accepted.borrow()[0].clone();
    let peer_end = w
        .net
        .connection(
            extra_addr(&local, "peername"),
            extra_addr(&local, "sockname"),
        )
        .unwrap();
    Pair {
        w,
        local,
        client,
        peer,
        peer_end,
    }
}

#[test]
fn defaults_pause_strictly_above_64k_and_resume_at_16k() {
    let p = pair(1, 1000);
    assert_eq!(p.local.get_write_buffer_limits(), (16 * 1024, 64 * 1024));
    p.peer_end.hold_reads(true);
    p.local.write(&[1u8; 1000]).unwrap();
    assert_eq!(p.local.get_write_buffer_size(), 0, "the window took it all");
    p.w.settle();
    p.local.write(&vec![2u8; 64 * 1024]).unwrap();
    assert_eq!(p.local.get_write_buffer_size(), 64 * 1024);
    assert_eq!(p.client.borrow().paused, 0, "equal to high: no pause");
    p.local.write(&[3u8]).unwrap();
    assert_eq!(
        p.client.borrow().paused,
        1,
        "strictly above high: paused at once"
    );
    p.local.write(&vec![4u8; 10_000]).unwrap();
    assert_eq!(
        p.client.borrow().paused,
        1,
        "paused once, however much follows"
    );
    p.w.settle();
    assert_eq!(p.client.borrow().resumed, 0, "the peer does not read");

    p.peer_end.hold_reads(false);
    p.w.settle();
    let c = p.client.borrow();
    assert_eq!((c.paused, c.resumed), (1, 1));
    assert_eq!(c.pause_sizes, vec![64 * 1024 + 1]);
    assert!(c.resume_sizes[0] <= 16 * 1024, "{:?}", c.resume_sizes);
    assert_clean(&c);
    assert_eq!(
        p.peer.borrow().received.len(),
        1000 + 64 * 1024 + 1 + 10_000
    );
}

/// A window of one byte drains the buffer one byte per iteration, so every buffer size
/// is visited and the exact resume point shows.
#[test]
fn limits_zero_zero_pause_on_any_buffered_byte_and_resume_only_when_empty() {
    let p = pair(2, 1);
    p.local.set_write_buffer_limits(Some(0), Some(0)).unwrap();
    assert_eq!(p.local.get_write_buffer_limits(), (0, 0));
    p.local.write(b"a").unwrap();
    assert_eq!(p.local.get_write_buffer_size(), 0);
    assert_eq!(p.client.borrow().paused, 0, "nothing buffered, no pause");
    p.local.write(b"bcdef").unwrap();
    assert_eq!(p.client.borrow().paused, 1);
    assert_eq!(p.client.borrow().pause_sizes, vec![5]);
    p.w.settle();
    let c = p.client.borrow();
    assert_eq!(c.resumed, 1);
    assert_eq!(
        c.resume_sizes,
        vec![0],
        "(0, 0) resumes only on an empty buffer"
    );
    assert_eq!(p.peer.borrow().received, b"abcdef");
}

#[test]
fn limits_one_zero() {
    let p = pair(3, 1);
    p.local.set_write_buffer_limits(Some(1), Some(0)).unwrap();
    p.local.write(b"a").unwrap();
    p.local.write(b"b").unwrap();
    assert_eq!(p.local.get_write_buffer_size(), 1);
    assert_eq!(p.client.borrow().paused, 0, "1 byte is not above high = 1");
    p.local.write(b"c").unwrap();
    assert_eq!(p.client.borrow().pause_sizes, vec![2]);
    p.w.settle();
    let c = p.client.borrow();
    assert_eq!(c.resume_sizes, vec![0], "low = 0: resume only when empty");
    assert_eq!(p.peer.borrow().received, b"abc");
}

#[test]
fn only_low_given_makes_high_four_times_low_and_resume_happens_at_low() {
    let p = pair(4, 1);
    p.local.set_write_buffer_limits(None, Some(3)).unwrap();
    assert_eq!(p.local.get_write_buffer_limits(), (3, 12));
    p.local.write(&[9u8; 20]).unwrap();
    assert_eq!(p.client.borrow().pause_sizes, vec![19]);
    p.w.settle();
    assert_eq!(
        p.client.borrow().resume_sizes,
        vec![3],
        "resume exactly at low"
    );
}

#[test]
fn set_write_buffer_limits_validates() {
    let p = pair(5, 1000);
    let e = p
        .local
        .set_write_buffer_limits(Some(1), Some(2))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(p.local.get_write_buffer_limits(), (16 * 1024, 64 * 1024));
    p.local.set_write_buffer_limits(Some(100), None).unwrap();
    assert_eq!(p.local.get_write_buffer_limits(), (25, 100));
    p.local.set_write_buffer_limits(None, None).unwrap();
    assert_eq!(p.local.get_write_buffer_limits(), (16 * 1024, 64 * 1024));
}

#[test]
fn setting_limits_rechecks_pause_and_resume() {
    let p = pair(6, 10);
    p.peer_end.hold_reads(true);
    p.local.write(&[0u8; 110]).unwrap();
    assert_eq!(p.local.get_write_buffer_size(), 100);
    assert_eq!(p.client.borrow().paused, 0);
    p.local.set_write_buffer_limits(Some(50), None).unwrap();
    assert_eq!(p.client.borrow().paused, 1, "lowering high pauses at once");
    p.local
        .set_write_buffer_limits(Some(200), Some(150))
        .unwrap();
    assert_eq!(p.client.borrow().resumed, 1, "raising low resumes at once");
    p.local
        .set_write_buffer_limits(Some(200), Some(150))
        .unwrap();
    let c = p.client.borrow();
    assert_eq!((c.paused, c.resumed), (1, 1), "no duplicate notifications");
    assert_clean(&c);
}

/// A producer that writes until paused and continues on resume moves a large stream
/// through a slow reader; pauses and resumes alternate and the bytes arrive intact.
#[test]
fn producer_driven_by_pause_and_resume() {
    const TOTAL: usize = 2 * 1024 * 1024;
    const CHUNK: usize = 8 * 1024;
    let p = pair(7, 32 * 1024);
    let sent = Rc::new(Cell::new(0usize));
    let produce = {
        let sent = sent.clone();
        move |t: &Rc<dyn Transport>| {
            // Write until the buffer passes the high-water mark (the transport calls
            // pause_writing then; from inside resume_writing the call is queued until
            // resume_writing returns).
            while sent.get() < TOTAL && t.get_write_buffer_size() <= 64 * 1024 {
                let n = CHUNK.min(TOTAL - sent.get());
                let chunk: Vec<u8> = (sent.get()..sent.get() + n).map(|i| i as u8).collect();
                t.write(&chunk).unwrap();
                sent.set(sent.get() + n);
            }
        }
    };
    let produce2 = produce.clone();
    p.client.borrow_mut().on_resume = Some(Box::new(move |t| produce2(t)));
    produce(&p.local);
    // The reader stalls for a while, then reads again.
    p.peer_end.hold_reads(true);
    p.w.run_for(std::time::Duration::from_millis(50));
    assert!(p.client.borrow().paused >= 1);
    p.peer_end.hold_reads(false);
    p.w.run_for(std::time::Duration::from_millis(50));
    assert_eq!(sent.get(), TOTAL);
    let got = &p.peer.borrow().received;
    assert_eq!(got.len(), TOTAL);
    assert!(
        got.iter().enumerate().all(|(i, b)| *b == i as u8),
        "bytes in order"
    );
    let c = p.client.borrow();
    assert_eq!(c.paused, c.resumed, "always paired");
    assert!(
        c.paused >= 2,
        "the producer was paused repeatedly: {}",
        c.paused
    );
    assert_clean(&c);
}

#[test]
fn one_large_write_against_a_stalled_then_resumed_reader() {
    let p = pair(8, 64 * 1024);
    p.peer_end.hold_reads(true);
    let data: Vec<u8> = (0..4 * 1024 * 1024)
        .map(|i: usize| (i % 251) as u8)
        .collect();
    p.local.write(&data).unwrap();
    assert_eq!(p.local.get_write_buffer_size(), data.len() - 64 * 1024);
    assert_eq!(p.client.borrow().paused, 1);
    p.w.settle();
    assert_eq!(p.peer_end.unread(), 64 * 1024, "the window is full");
    p.peer_end.hold_reads(false);
    p.w.settle();
    assert_eq!(p.peer.borrow().received, data);
    assert_eq!(p.client.borrow().resumed, 1);
    assert_eq!(p.local.get_write_buffer_size(), 0);
}

#[test]
fn pause_reading_stops_data_received_and_builds_back_pressure() {
    let p = pair(9, 4096);
    p.local.pause_reading();
    assert!(!p.local.is_reading());
    p.local.pause_reading();
    let peer_t = p.peer.borrow().t();
    peer_t.write(&vec![5u8; 100_000]).unwrap();
    p.w.settle();
    assert_eq!(p.client.borrow().reads, 0, "paused: nothing delivered");
    assert_eq!(
        p.peer.borrow().paused,
        1,
        "the peer feels the back-pressure"
    );
    p.local.resume_reading();
    assert!(p.local.is_reading());
    p.w.settle();
    assert_eq!(p.client.borrow().received.len(), 100_000);
    assert_eq!(p.peer.borrow().resumed, 1);
    p.local.close();
    assert!(!p.local.is_reading(), "a closing transport does not read");
    p.local.resume_reading();
    assert!(!p.local.is_reading());
}

#[test]
fn resume_reading_delivers_data_that_waited() {
    let p = pair(10, 4096);
    p.local.pause_reading();
    p.peer.borrow().t().write(b"waiting").unwrap();
    p.peer.borrow().t().write_eof().unwrap();
    p.w.settle();
    assert!(p.client.borrow().received.is_empty());
    assert_eq!(
        p.client.borrow().eof,
        0,
        "EOF waits behind the paused reader too"
    );
    p.local.resume_reading();
    p.w.settle();
    assert_eq!(p.client.borrow().received, b"waiting");
    assert_eq!(p.client.borrow().eof, 1);
    assert_clean(&p.client.borrow());
}

#[test]
fn read_budget_lets_other_connections_run() {
    // Two connections with a large backlog each: their reads interleave instead of one
    // draining its whole stream first (each reader callback stops after READ_BUDGET).
    let w = world_with(11, NetConfig::default().with_stream_window(8 * 1024 * 1024));
    let a = addr("127.0.0.1:7001");
    let log = new_log();
    let order = Rc::new(std::cell::RefCell::new(Vec::new()));
    let next_id = Rc::new(Cell::new(0usize));
    let o = order.clone();
    let (_server, accepted) = w.recording_server(a, "srv", &log, move |r| {
        let id = next_id.get();
        next_id.set(id + 1);
        let o = o.clone();
        r.keep_open = true;
        r.on_data = Some(Box::new(move |_, _| o.borrow_mut().push(id)));
    });
    let (t1, _c1) = w.connect(a, "c1", &log, |_| {});
    let (t2, _c2) = w.connect(a, "c2", &log, |_| {});
    w.settle();
    t1.write(&vec![1u8; 4 * 1024 * 1024]).unwrap();
    t2.write(&vec![2u8; 4 * 1024 * 1024]).unwrap();
    w.settle();
    for r in accepted.borrow().iter() {
        assert_eq!(r.borrow().received.len(), 4 * 1024 * 1024);
    }
    let order = order.borrow();
    let last_of = |id| order.iter().rposition(|&x| x == id).unwrap();
    let first_of = |id| order.iter().position(|&x| x == id).unwrap();
    assert!(first_of(1) < last_of(0), "{order:?}");
    assert!(first_of(0) < last_of(1), "{order:?}");
    let per_callback = 1024 * 1024 / (256 * 1024);
    let longest_run = order
        .chunk_by(|a, b| a == b)
        .map(<[usize]>::len)
        .max()
        .unwrap();
    assert!(longest_run <= per_callback, "{order:?}");
}
