//! I/O registrations: reader and writer callbacks run when the host reports readiness,
//! and the host is told which directions anybody waits for.
mod util;

use std::time::Duration;

use loop_core::{ErrorKind, Event, EventLoop, Interest, Token};
use util::{Log, TraceHost, secs};

fn trace_loop() -> (EventLoop, TraceHost) {
    let host = TraceHost::new(1);
    (EventLoop::new(host.clone()), host)
}

/// Make the simulated device report `ready` for `token` at `at`.
fn report(host: &TraceHost, at: loop_core::Instant, token: Token, ready: Interest) {
    host.sim
        .schedule(at, move |events| events.push(Event { token, ready }));
}

#[test]
fn a_reader_runs_each_time_its_token_is_readable() {
    let (lp, host) = trace_loop();
    let log = Log::new();
    let token = lp.register_io();
    let l = log.clone();
    let lp2 = lp.clone();
    lp.add_reader(token, move || {
        l.push(format!("read@{}s", lp2.time().as_nanos() / 1_000_000_000));
    })
    .unwrap();
    assert_eq!(host.take_interests(), [(token, Interest::READABLE)]);
    report(&host, secs(1), token, Interest::READABLE);
    report(&host, secs(2), token, Interest::READABLE);
    // Write readiness alone does not run a reader.
    report(&host, secs(3), token, Interest::WRITABLE);
    for _ in 0..3 {
        lp.run_once().unwrap();
    }
    assert_eq!(log.take(), ["read@1s", "read@2s"]);
}

#[test]
fn readers_and_writers_run_in_the_iteration_that_polled_them() {
    let (lp, host) = trace_loop();
    let log = Log::new();
    let token = lp.register_io();
    lp.add_reader(token, {
        let l = log.clone();
        move || l.push("reader")
    })
    .unwrap();
    lp.add_writer(token, {
        let l = log.clone();
        move || l.push("writer")
    })
    .unwrap();
    assert_eq!(
        host.take_interests(),
        [(token, Interest::READABLE), (token, Interest::BOTH)]
    );
    lp.call_soon(log.cb("already ready")).unwrap();
    report(&host, secs(0), token, Interest::BOTH);
    lp.run_once().unwrap();
    // asyncio: I/O callbacks are queued after the poll, behind what was already ready.
    assert_eq!(log.take(), ["already ready", "reader", "writer"]);
}

#[test]
fn removing_callbacks_updates_the_interest_and_stops_them() {
    let (lp, host) = trace_loop();
    let log = Log::new();
    let token = lp.register_io();
    lp.add_reader(token, {
        let l = log.clone();
        move || l.push("reader")
    })
    .unwrap();
    lp.add_writer(token, {
        let l = log.clone();
        move || l.push("writer")
    })
    .unwrap();
    host.take_interests();
    assert!(lp.remove_reader(token).unwrap());
    assert!(!lp.remove_reader(token).unwrap(), "nothing left to remove");
    assert_eq!(host.take_interests(), [(token, Interest::WRITABLE)]);
    report(&host, secs(1), token, Interest::BOTH);
    lp.run_once().unwrap();
    assert_eq!(log.take(), ["writer"]);
    assert!(lp.remove_writer(token).unwrap());
    assert_eq!(host.take_interests(), [(token, Interest::NONE)]);
}

// asyncio: remove_reader cancels the reader's handle, even one already queued.
#[test]
fn a_reader_removed_by_an_earlier_callback_of_the_batch_does_not_run() {
    let (lp, host) = trace_loop();
    let log = Log::new();
    let a = lp.register_io();
    let b = lp.register_io();
    let (l, lp2) = (log.clone(), lp.clone());
    lp.add_reader(a, move || {
        l.push("reader a");
        lp2.remove_reader(b).unwrap();
    })
    .unwrap();
    lp.add_reader(b, {
        let l = log.clone();
        move || l.push("reader b")
    })
    .unwrap();
    let timer = log.cb("timer");
    lp.call_later(Duration::from_secs(1), timer).unwrap();
    // Both become readable in the poll that also makes the timer due.
    report(&host, secs(1), a, Interest::READABLE);
    report(&host, secs(1), b, Interest::READABLE);
    lp.run_once().unwrap();
    // I/O callbacks are queued right after the poll, before the due timers.
    assert_eq!(log.take(), ["reader a", "timer"]);
}

#[test]
fn add_reader_replaces_the_previous_reader() {
    let (lp, host) = trace_loop();
    let log = Log::new();
    let token = lp.register_io();
    let first = lp
        .add_reader(token, {
            let l = log.clone();
            move || l.push("first")
        })
        .unwrap();
    lp.add_reader(token, {
        let l = log.clone();
        move || l.push("second")
    })
    .unwrap();
    assert!(first.cancelled());
    assert_eq!(
        host.take_interests(),
        [(token, Interest::READABLE)],
        "no change the 2nd time"
    );
    report(&host, secs(1), token, Interest::READABLE);
    lp.run_once().unwrap();
    assert_eq!(log.take(), ["second"]);
}

#[test]
fn deregistered_and_unknown_tokens_are_handled() {
    let (lp, host) = trace_loop();
    let log = Log::new();
    let token = lp.register_io();
    lp.add_reader(token, {
        let l = log.clone();
        move || l.push("reader")
    })
    .unwrap();
    host.take_interests();
    lp.deregister_io(token).unwrap();
    assert_eq!(host.take_interests(), [(token, Interest::NONE)]);
    // Readiness for a token the loop no longer knows is ignored.
    report(&host, secs(1), token, Interest::READABLE);
    lp.run_once().unwrap();
    assert!(log.take().is_empty());

    let unknown = Token(12_345);
    assert_eq!(
        lp.add_reader(unknown, || {}).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert!(!lp.remove_reader(unknown).unwrap());
    assert!(!lp.remove_writer(unknown).unwrap());
    lp.deregister_io(unknown).unwrap();
}

#[test]
fn adding_callbacks_to_a_closed_loop_is_an_error() {
    let (lp, _) = trace_loop();
    let token = lp.register_io();
    lp.close().unwrap();
    assert_eq!(
        lp.add_reader(token, || {}).unwrap_err().kind(),
        ErrorKind::Runtime
    );
    assert_eq!(
        lp.add_writer(token, || {}).unwrap_err().kind(),
        ErrorKind::Runtime
    );
}
