//! The iteration rules (asyncio's `_run_once`, DESIGN.md "the iteration"): FIFO callbacks,
//! one batch per iteration, the poll timeout, `stop`, `run_forever`, `close` and `Handle`.
mod util;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use loop_core::sim::SimHost;
use loop_core::{ErrorKind, EventLoop};
use util::{DropGuard, Log, TraceHost, secs};

fn sim_loop() -> (EventLoop, SimHost) {
    let host = SimHost::new(1);
    (EventLoop::new(host.clone()), host)
}

fn trace_loop() -> (EventLoop, TraceHost) {
    let host = TraceHost::new(1);
    (EventLoop::new(host.clone()), host)
}

// spec: call_soon "operates as a FIFO queue, callbacks are called in the order in which
// they are registered. Each callback will be called exactly once."
#[test]
fn call_soon_runs_callbacks_in_fifo_order_exactly_once() {
    let (lp, _) = sim_loop();
    let log = Log::new();
    for i in 0..100 {
        lp.call_soon(log.cb(i.to_string())).unwrap();
    }
    lp.run_once().unwrap();
    let expected: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    assert_eq!(log.take(), expected);
    // One more (non-blocking) iteration: nothing runs again.
    lp.stop();
    lp.run_forever().unwrap();
    assert!(log.take().is_empty(), "a callback ran twice");
}

// spec: the callback "is called after call_soon() returns, when control returns to the
// event loop".
#[test]
fn call_soon_never_runs_inline() {
    let (lp, _) = sim_loop();
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    lp.call_soon(move || r.set(true)).unwrap();
    assert!(!ran.get());
    assert_eq!(lp.ready_count(), 1);
    lp.run_once().unwrap();
    assert!(ran.get());
    assert_eq!(lp.ready_count(), 0);
}

// DESIGN.md: "only the callbacks present at the start of the iteration run in it".
#[test]
fn callback_scheduled_by_a_callback_runs_in_the_next_iteration() {
    let (lp, host) = sim_loop();
    let log = Log::new();
    let (lp2, log2, host2) = (lp.clone(), log.clone(), host.clone());
    lp.call_soon(move || {
        log2.push(format!("a@{}", host2.polls()));
        let (log3, host3) = (log2.clone(), host2.clone());
        lp2.call_soon(move || log3.push(format!("c@{}", host3.polls())))
            .unwrap();
    })
    .unwrap();
    let (log2, host2) = (log.clone(), host.clone());
    lp.call_soon(move || log2.push(format!("b@{}", host2.polls())))
        .unwrap();

    lp.run_once().unwrap();
    assert_eq!(
        log.take(),
        ["a@1", "b@1"],
        "c must wait for the next iteration"
    );
    assert_eq!(lp.ready_count(), 1);
    lp.run_once().unwrap();
    assert_eq!(log.take(), ["c@2"]);
}

#[test]
fn a_self_rescheduling_callback_runs_once_per_iteration() {
    let (lp, host) = sim_loop();
    let runs = Rc::new(Cell::new(0u32));
    fn again(lp: EventLoop, runs: Rc<Cell<u32>>) {
        runs.set(runs.get() + 1);
        if runs.get() == 10 {
            lp.stop();
        } else {
            let lp2 = lp.clone();
            lp.call_soon(move || again(lp2, runs)).unwrap();
        }
    }
    let (lp2, r) = (lp.clone(), runs.clone());
    lp.call_soon(move || again(lp2, r)).unwrap();
    lp.run_forever().unwrap();
    assert_eq!(runs.get(), 10);
    assert_eq!(host.polls(), 10, "one callback per iteration");
}

// DESIGN.md: "the poll timeout is 0 when callbacks are ready".
#[test]
fn poll_timeout_is_zero_when_callbacks_are_ready() {
    let (lp, host) = trace_loop();
    let log = Log::new();
    lp.call_later(Duration::from_secs(10), log.cb("timer"))
        .unwrap();
    lp.call_soon(log.cb("soon")).unwrap();

    lp.run_once().unwrap();
    assert_eq!(host.take_timeouts(), [Some(Duration::ZERO)]);
    assert_eq!(
        lp.time(),
        secs(0),
        "a zero timeout must not advance the clock"
    );
    assert_eq!(log.take(), ["soon"]);

    // Nothing ready now: the poll waits exactly until the timer.
    lp.run_once().unwrap();
    assert_eq!(host.take_timeouts(), [Some(Duration::from_secs(10))]);
    assert_eq!(lp.time(), secs(10));
    assert_eq!(log.take(), ["timer"]);
}

#[test]
fn poll_timeout_is_the_time_to_the_next_timer() {
    let (lp, host) = trace_loop();
    let log = Log::new();
    lp.call_at(secs(7), log.cb("late")).unwrap();
    lp.call_at(secs(3), log.cb("early")).unwrap();
    lp.run_once().unwrap();
    lp.run_once().unwrap();
    let polls = host.take_polls();
    assert_eq!(polls[0].timeout, Some(Duration::from_secs(3)));
    assert_eq!(polls[0].at, secs(0));
    assert_eq!(polls[1].timeout, Some(Duration::from_secs(4)));
    assert_eq!(polls[1].at, secs(3));
    assert_eq!(log.take(), ["early", "late"]);
}

#[test]
fn poll_blocks_without_timeout_when_nothing_is_scheduled() {
    let (lp, host) = trace_loop();
    let log = Log::new();
    // Something outside the loop (a simulated device) happens at 5 s.
    host.sim.schedule(secs(5), |_| {});
    lp.run_once().unwrap();
    assert_eq!(host.take_timeouts(), [None]);
    assert_eq!(lp.time(), secs(5));
    // With nothing left anywhere, waiting forever is reported rather than hanging.
    lp.call_soon(log.cb("x")).unwrap();
    lp.run_once().unwrap();
    let err = lp.run_once().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Stalled);
}

#[test]
fn cancelled_timers_at_the_top_do_not_shorten_the_poll() {
    let (lp, host) = trace_loop();
    let log = Log::new();
    let early = lp.call_at(secs(1), log.cb("early")).unwrap();
    lp.call_at(secs(9), log.cb("late")).unwrap();
    early.cancel();
    lp.run_once().unwrap();
    assert_eq!(host.take_timeouts(), [Some(Duration::from_secs(9))]);
    assert_eq!(log.take(), ["late"]);
}

// DESIGN.md: "the poll timeout is 0 ... when the loop is stopping"; spec: "If stop() is
// called before run_forever() is called, this polls the I/O selector once with a timeout
// of zero, runs all callbacks scheduled in response to I/O events (and those that were
// already scheduled), and then exits."
#[test]
fn stop_before_run_forever_runs_exactly_one_iteration_with_zero_timeout() {
    let (lp, host) = trace_loop();
    let log = Log::new();
    lp.call_later(Duration::from_secs(10), log.cb("timer"))
        .unwrap();
    let (lp2, log2) = (lp.clone(), log.clone());
    lp.call_soon(move || {
        log2.push("a");
        lp2.call_soon(log2.cb("from a")).unwrap();
    })
    .unwrap();
    lp.call_soon(log.cb("b")).unwrap();
    lp.stop();
    lp.run_forever().unwrap();
    assert_eq!(host.take_timeouts(), [Some(Duration::ZERO)]);
    assert_eq!(lp.time(), secs(0));
    assert_eq!(log.take(), ["a", "b"]);
    assert!(!lp.is_running());

    // The stop request was consumed: the next run continues where this one stopped.
    let lp2 = lp.clone();
    lp.call_later(Duration::from_secs(20), move || lp2.stop())
        .unwrap();
    lp.run_forever().unwrap();
    assert_eq!(log.take(), ["from a", "timer"]);
    assert_eq!(lp.time(), secs(20));
}

#[test]
fn stop_before_run_forever_with_nothing_scheduled_does_not_stall() {
    let (lp, host) = trace_loop();
    lp.stop();
    lp.run_forever().unwrap();
    assert_eq!(host.take_timeouts(), [Some(Duration::ZERO)]);
}

// spec: "If stop() is called while run_forever() is running, this will run the current
// batch of callbacks and then exit. Note that callbacks scheduled by callbacks will not
// run in that case; they will run the next time run_forever() is called."
#[test]
fn stop_while_running_finishes_the_current_batch() {
    let (lp, host) = sim_loop();
    let log = Log::new();
    let (lp2, log2) = (lp.clone(), log.clone());
    lp.call_soon(move || {
        log2.push("a");
        lp2.stop();
        lp2.call_soon(log2.cb("scheduled by a")).unwrap();
    })
    .unwrap();
    lp.call_soon(log.cb("b")).unwrap();
    lp.call_soon(log.cb("c")).unwrap();
    lp.run_forever().unwrap();
    assert_eq!(log.take(), ["a", "b", "c"]);
    assert_eq!(host.polls(), 1);

    let lp2 = lp.clone();
    lp.call_soon(move || lp2.stop()).unwrap();
    lp.run_forever().unwrap();
    assert_eq!(log.take(), ["scheduled by a"]);
}

#[test]
fn stop_called_twice_stops_once() {
    let (lp, host) = sim_loop();
    let lp2 = lp.clone();
    lp.call_soon(move || {
        lp2.stop();
        lp2.stop();
    })
    .unwrap();
    lp.run_forever().unwrap();
    assert_eq!(host.polls(), 1);
    // The next run is not stopped early by a leftover request.
    let log = Log::new();
    let (lp2, log2) = (lp.clone(), log.clone());
    lp.call_soon(move || {
        let lp3 = lp2.clone();
        lp2.call_soon(move || {
            log2.push("second iteration");
            lp3.stop();
        })
        .unwrap();
    })
    .unwrap();
    lp.run_forever().unwrap();
    assert_eq!(log.take(), ["second iteration"]);
}

#[test]
fn is_running_is_true_only_inside_run_forever() {
    let (lp, _) = sim_loop();
    assert!(!lp.is_running());
    let seen = Rc::new(Cell::new(false));
    let (lp2, s) = (lp.clone(), seen.clone());
    lp.call_soon(move || {
        s.set(lp2.is_running());
        lp2.stop();
    })
    .unwrap();
    lp.run_forever().unwrap();
    assert!(seen.get());
    assert!(!lp.is_running());
}

#[test]
fn run_forever_while_running_is_an_error() {
    let (lp, _) = sim_loop();
    let errors = Log::new();
    let (lp2, e) = (lp.clone(), errors.clone());
    lp.call_soon(move || {
        let err = lp2.run_forever().unwrap_err();
        e.push(format!("{:?}", err.kind()));
        let err = lp2.run_until_complete(async {}).unwrap_err();
        e.push(format!("{:?}", err.kind()));
        assert!(
            lp2.is_running(),
            "a failed nested run must not stop the outer one"
        );
        lp2.stop();
    })
    .unwrap();
    lp.run_forever().unwrap();
    assert_eq!(errors.take(), ["Runtime", "Runtime"]);
}

#[test]
fn run_forever_can_be_called_again_after_it_returns() {
    let (lp, _) = sim_loop();
    for round in 0..3 {
        let lp2 = lp.clone();
        let log = Log::new();
        lp.call_soon(log.cb(format!("round {round}"))).unwrap();
        lp.call_soon(move || lp2.stop()).unwrap();
        lp.run_forever().unwrap();
        assert_eq!(log.take(), [format!("round {round}")]);
    }
}

#[test]
fn run_until_complete_stopped_early_is_an_error() {
    let (lp, _) = sim_loop();
    let fut = lp.create_future::<u8>();
    let lp2 = lp.clone();
    lp.call_soon(move || lp2.stop()).unwrap();
    let err = lp.run_until_complete(fut.clone()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Runtime);
    assert!(!lp.is_running());
    // The future is still pending and can be completed by a later run.
    let f2 = fut.clone();
    lp.call_soon(move || f2.set_result(9).unwrap()).unwrap();
    assert_eq!(lp.run_until_complete(fut).unwrap().unwrap(), 9);
}

#[test]
fn run_until_complete_on_a_future_nobody_completes_reports_a_stall() {
    let (lp, _) = sim_loop();
    let fut = lp.create_future::<u8>();
    let err = lp.run_until_complete(fut).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Stalled);
    assert!(!lp.is_running());
}

// spec: close(): "The loop must not be running. Pending callbacks will be lost. ... This
// is idempotent and irreversible."
#[test]
fn close_on_a_running_loop_is_an_error() {
    let (lp, _) = sim_loop();
    let kind = Rc::new(Cell::new(None));
    let (lp2, k) = (lp.clone(), kind.clone());
    lp.call_soon(move || {
        k.set(Some(lp2.close().unwrap_err().kind()));
        lp2.stop();
    })
    .unwrap();
    lp.run_forever().unwrap();
    assert_eq!(kind.get(), Some(ErrorKind::Runtime));
    assert!(!lp.is_closed());
    lp.close().unwrap();
    assert!(lp.is_closed());
}

#[test]
fn close_twice_is_ok() {
    let (lp, _) = sim_loop();
    assert!(!lp.is_closed());
    lp.close().unwrap();
    lp.close().unwrap();
    assert!(lp.is_closed());
}

#[test]
fn close_drops_pending_callbacks_and_timers() {
    let (lp, _) = sim_loop();
    let log = Log::new();
    let guard = DropGuard::new(&log, "soon");
    lp.call_soon(move || drop(guard)).unwrap();
    let guard = DropGuard::new(&log, "timer");
    lp.call_later(Duration::from_secs(1), move || drop(guard))
        .unwrap();
    lp.close().unwrap();
    assert_eq!(log.take(), ["drop soon", "drop timer"]);
    assert_eq!(lp.ready_count(), 0);
    assert_eq!(lp.scheduled_timer_count(), 0);
}

#[test]
fn scheduling_on_a_closed_loop_is_an_error() {
    let (lp, _) = sim_loop();
    lp.close().unwrap();
    let kinds = [
        lp.call_soon(|| {}).unwrap_err().kind(),
        lp.call_later(Duration::from_secs(1), || {})
            .unwrap_err()
            .kind(),
        lp.call_at(secs(1), || {}).unwrap_err().kind(),
        lp.call_soon_threadsafe(|| {}).unwrap_err().kind(),
    ];
    assert_eq!(kinds, [ErrorKind::Runtime; 4]);
    let task = lp.create_task(async { 1 });
    assert!(task.done());
    assert_eq!(task.result().unwrap_err().kind(), ErrorKind::Runtime);
}

#[test]
fn running_a_closed_loop_is_an_error() {
    let (lp, _) = sim_loop();
    lp.close().unwrap();
    assert_eq!(lp.run_forever().unwrap_err().kind(), ErrorKind::Runtime);
    assert_eq!(
        lp.run_until_complete(async {}).unwrap_err().kind(),
        ErrorKind::Runtime
    );
    assert!(!lp.is_running());
}

// spec: Handle.cancel(): "Cancel the call. If the callback is already canceled or
// executed, this method has no effect."
#[test]
fn a_cancelled_handle_does_not_run() {
    let (lp, _) = sim_loop();
    let log = Log::new();
    lp.call_soon(log.cb("a")).unwrap();
    let h = lp.call_soon(log.cb("b")).unwrap();
    lp.call_soon(log.cb("c")).unwrap();
    assert!(!h.cancelled());
    h.cancel();
    assert!(h.cancelled());
    h.cancel();
    assert!(h.cancelled());
    lp.run_once().unwrap();
    assert_eq!(log.take(), ["a", "c"]);
}

#[test]
fn cancelling_a_handle_drops_its_callback_at_once() {
    let (lp, _) = sim_loop();
    let log = Log::new();
    let guard = DropGuard::new(&log, "closure");
    let h = lp.call_soon(move || drop(guard)).unwrap();
    h.cancel();
    assert_eq!(
        log.take(),
        ["drop closure"],
        "asyncio clears the callback on cancel"
    );
}

#[test]
fn a_callback_can_cancel_a_later_one_in_the_same_batch() {
    let (lp, _) = sim_loop();
    let log = Log::new();
    let victim = Rc::new(Cell::new(None));
    let (log2, v) = (log.clone(), victim.clone());
    lp.call_soon(move || {
        log2.push("a");
        let h: Option<loop_core::Handle> = v.take();
        h.unwrap().cancel();
    })
    .unwrap();
    victim.set(Some(lp.call_soon(log.cb("b")).unwrap()));
    lp.run_once().unwrap();
    assert_eq!(log.take(), ["a"]);
}

#[test]
fn cancelling_after_the_callback_ran_has_no_effect() {
    let (lp, _) = sim_loop();
    let log = Log::new();
    let h = lp.call_soon(log.cb("ran")).unwrap();
    lp.run_once().unwrap();
    h.cancel();
    assert!(
        h.cancelled(),
        "asyncio marks the handle cancelled even after it ran"
    );
    lp.stop();
    lp.run_forever().unwrap();
    assert_eq!(log.take(), ["ran"]);
}

#[test]
fn handles_compare_by_identity() {
    let (lp, _) = sim_loop();
    let a = lp.call_soon(|| {}).unwrap();
    let b = lp.call_soon(|| {}).unwrap();
    assert!(a.ptr_eq(&a.clone()));
    assert!(!a.ptr_eq(&b));
    assert!(a.name().contains("closure"), "name: {}", a.name());
}
