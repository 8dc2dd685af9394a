//! Timers: `call_later` / `call_at` ordering, cancellation, the bounded heap, virtual time
//! and the simulation host's determinism.
mod util;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use loop_core::sim::SimHost;
use loop_core::{EventLoop, Instant, TimerHandle};
use util::{Log, millis, secs};

fn sim_loop() -> (EventLoop, SimHost) {
    let host = SimHost::new(1);
    (EventLoop::new(host.clone()), host)
}

/// Run until the loop has nothing left to do (the simulation host reports the stall).
fn run_to_stall(lp: &EventLoop) {
    let err = lp.run_forever().unwrap_err();
    assert_eq!(err.kind(), loop_core::ErrorKind::Stalled, "{err}");
}

fn log_time(lp: &EventLoop, log: &Log, name: &'static str) -> impl FnOnce() + 'static {
    let (lp, log) = (lp.clone(), log.clone());
    move || log.push(format!("{name}@{}ms", lp.time().as_nanos() / 1_000_000))
}

#[test]
fn timers_fire_in_deadline_order_at_their_deadline() {
    let (lp, _) = sim_loop();
    let log = Log::new();
    lp.call_later(Duration::from_millis(300), log_time(&lp, &log, "c"))
        .unwrap();
    lp.call_later(Duration::from_millis(100), log_time(&lp, &log, "a"))
        .unwrap();
    lp.call_at(millis(200), log_time(&lp, &log, "b")).unwrap();
    run_to_stall(&lp);
    assert_eq!(log.take(), ["a@100ms", "b@200ms", "c@300ms"]);
}

// DESIGN.md: "equal deadlines in scheduling order" (the spec leaves it undefined; Tulip
// makes it deterministic, as the conformance suite needs).
#[test]
fn equal_deadlines_fire_in_scheduling_order() {
    let (lp, host) = sim_loop();
    let log = Log::new();
    for i in 0..50 {
        lp.call_at(secs(5), log.cb(format!("t{i}"))).unwrap();
        // Interleave a later deadline, so the heap really has to order them.
        lp.call_at(secs(6), log.cb(format!("u{i}"))).unwrap();
    }
    run_to_stall(&lp);
    let expected: Vec<String> = (0..50)
        .map(|i| format!("t{i}"))
        .chain((0..50).map(|i| format!("u{i}")))
        .collect();
    assert_eq!(log.take(), expected);
    // Two deadlines: two iterations that ran timers, then the stalled poll.
    assert_eq!(host.polls(), 3);
}

#[test]
fn timers_due_together_run_in_one_iteration() {
    let (lp, host) = sim_loop();
    let log = Log::new();
    lp.call_at(secs(1), log.cb("a")).unwrap();
    lp.call_at(secs(1), log.cb("b")).unwrap();
    lp.call_at(secs(2), log.cb("c")).unwrap();
    lp.run_once().unwrap();
    assert_eq!(log.take(), ["a", "b"]);
    assert_eq!(host.polls(), 1);
    assert_eq!(lp.time(), secs(1));
}

#[test]
fn cancelled_timers_do_not_fire() {
    let (lp, _) = sim_loop();
    let log = Log::new();
    let handles: Vec<TimerHandle> = (0..10)
        .map(|i| lp.call_at(secs(i + 1), log.cb(format!("t{i}"))).unwrap())
        .collect();
    for h in handles.iter().step_by(2) {
        h.cancel();
        assert!(h.cancelled());
    }
    run_to_stall(&lp);
    assert_eq!(log.take(), ["t1", "t3", "t5", "t7", "t9"]);
}

#[test]
fn a_timer_cancelled_by_an_earlier_timer_of_the_same_batch_does_not_fire() {
    let (lp, _) = sim_loop();
    let log = Log::new();
    let victim: Rc<Cell<Option<TimerHandle>>> = Rc::default();
    let (log2, v) = (log.clone(), victim.clone());
    lp.call_at(secs(1), move || {
        log2.push("first");
        v.take().unwrap().cancel();
    })
    .unwrap();
    victim.set(Some(lp.call_at(secs(1), log.cb("second")).unwrap()));
    run_to_stall(&lp);
    assert_eq!(log.take(), ["first"]);
}

#[test]
fn cancelling_a_timer_after_it_fired_has_no_effect() {
    let (lp, _) = sim_loop();
    let log = Log::new();
    let h = lp
        .call_later(Duration::from_secs(1), log.cb("fired"))
        .unwrap();
    lp.run_once().unwrap();
    h.cancel();
    h.cancel();
    assert_eq!(log.take(), ["fired"]);
    assert_eq!(lp.scheduled_timer_count(), 0);
}

#[test]
fn timer_handle_reports_its_deadline() {
    let (lp, _) = sim_loop();
    let h = lp.call_later(Duration::from_millis(1500), || {}).unwrap();
    assert_eq!(h.when(), millis(1500));
    let h = lp.call_at(secs(9), || {}).unwrap();
    assert_eq!(h.when(), secs(9));
}

#[test]
fn call_at_in_the_past_runs_in_the_next_iteration() {
    let (lp, host) = sim_loop();
    let log = Log::new();
    let (lp2, log2) = (lp.clone(), log.clone());
    lp.call_at(secs(10), move || {
        log2.push("at 10s");
        lp2.call_at(secs(1), log_time(&lp2, &log2, "past")).unwrap();
        lp2.call_at(Instant::ZERO, log_time(&lp2, &log2, "epoch"))
            .unwrap();
    })
    .unwrap();
    lp.run_once().unwrap();
    assert_eq!(host.polls(), 1);
    lp.run_once().unwrap();
    assert_eq!(host.polls(), 2);
    // Both overdue timers run at once, in deadline order, without moving the clock.
    assert_eq!(log.take(), ["at 10s", "epoch@10000ms", "past@10000ms"]);
}

// asyncio's _run_once queues the due timers after the callbacks already ready.
#[test]
fn due_timers_run_after_the_callbacks_already_ready() {
    let (lp, _) = sim_loop();
    let log = Log::new();
    let (lp2, log2) = (lp.clone(), log.clone());
    lp.call_soon(move || {
        lp2.call_later(Duration::ZERO, log2.cb("timer")).unwrap();
        lp2.call_soon(log2.cb("soon")).unwrap();
    })
    .unwrap();
    lp.run_once().unwrap();
    lp.run_once().unwrap();
    assert_eq!(log.take(), ["soon", "timer"]);
}

#[test]
fn a_zero_delay_timer_scheduled_by_a_timer_runs_in_the_next_iteration() {
    let (lp, host) = sim_loop();
    let log = Log::new();
    let (lp2, log2) = (lp.clone(), log.clone());
    lp.call_later(Duration::from_secs(1), move || {
        let log3 = log2.clone();
        lp2.call_later(Duration::ZERO, move || log3.push("inner"))
            .unwrap();
        log2.push("outer");
    })
    .unwrap();
    lp.run_once().unwrap();
    assert_eq!(log.take(), ["outer"]);
    lp.run_once().unwrap();
    assert_eq!(log.take(), ["inner"]);
    assert_eq!(host.polls(), 2);
    assert_eq!(lp.time(), secs(1));
}

/// Upper bound on the heap for `live` live timers: compaction happens once cancelled
/// entries are more than half of a heap of at least ~100 entries.
fn heap_bound(live: usize) -> usize {
    3 * live.max(100)
}

// DESIGN.md: "the heap is compacted when cancelled entries dominate, so a program that
// schedules and cancels millions of timeouts does not leak".
#[test]
fn a_million_timers_cancelled_inside_one_callback_keep_the_heap_bounded() {
    const LIVE: usize = 1_000;
    const CHURN: u64 = 1_000_000;
    let (lp, _) = sim_loop();
    let fired = Rc::new(Cell::new(0usize));
    let mut live = Vec::new();
    for i in 0..LIVE as u64 {
        let f = fired.clone();
        live.push(
            lp.call_at(secs(3600 + i), move || f.set(f.get() + 1))
                .unwrap(),
        );
    }
    let max_seen = Rc::new(Cell::new(0usize));
    let (lp2, m, f) = (lp.clone(), max_seen.clone(), fired.clone());
    lp.call_soon(move || {
        for i in 0..CHURN {
            let f = f.clone();
            let h = lp2
                .call_later(Duration::from_millis(1 + i % 5_000), move || {
                    f.set(f.get() + 1_000_000)
                })
                .unwrap();
            h.cancel();
            m.set(m.get().max(lp2.scheduled_timer_count()));
        }
    })
    .unwrap();
    lp.run_once().unwrap();
    assert!(
        max_seen.get() <= heap_bound(LIVE),
        "heap grew to {} entries for {LIVE} live timers",
        max_seen.get()
    );
    run_to_stall(&lp);
    assert_eq!(
        fired.get(),
        LIVE,
        "cancelled timers fired, or live ones were lost"
    );
    assert_eq!(lp.scheduled_timer_count(), 0);
}

#[test]
fn a_million_timers_cancelled_across_iterations_keep_the_heap_bounded() {
    const PER_ITERATION: usize = 2_000;
    const ITERATIONS: usize = 500; // 1,000,000 timers in all
    let (lp, host) = sim_loop();
    let fired = Rc::new(Cell::new(0usize));
    let max_seen = Rc::new(Cell::new(0usize));
    let round = Rc::new(Cell::new(0usize));

    // Each iteration: cancel the previous batch (as timeouts that were not needed),
    // schedule a new one with random delays, and keep one timer per batch alive.
    fn step(
        lp: EventLoop,
        host: SimHost,
        pending: Vec<TimerHandle>,
        fired: Rc<Cell<usize>>,
        max_seen: Rc<Cell<usize>>,
        round: Rc<Cell<usize>>,
    ) {
        for h in pending.iter().skip(1) {
            h.cancel();
        }
        max_seen.set(max_seen.get().max(lp.scheduled_timer_count()));
        round.set(round.get() + 1);
        if round.get() > ITERATIONS {
            return;
        }
        let mut next = Vec::with_capacity(PER_ITERATION);
        for _ in 0..PER_ITERATION {
            let f = fired.clone();
            let delay = Duration::from_secs(1) + host.random_delay(Duration::from_secs(1));
            next.push(lp.call_later(delay, move || f.set(f.get() + 1)).unwrap());
        }
        max_seen.set(max_seen.get().max(lp.scheduled_timer_count()));
        let lp2 = lp.clone();
        lp.call_soon(move || step(lp2, host, next, fired, max_seen, round))
            .unwrap();
    }

    let (lp2, h2, f, m, r) = (
        lp.clone(),
        host.clone(),
        fired.clone(),
        max_seen.clone(),
        round.clone(),
    );
    lp.call_soon(move || step(lp2, h2, Vec::new(), f, m, r))
        .unwrap();
    run_to_stall(&lp);
    // One timer of each batch stays alive, ITERATIONS in all (plus one batch in flight).
    assert!(
        max_seen.get() <= heap_bound(ITERATIONS + PER_ITERATION),
        "heap grew to {} entries",
        max_seen.get()
    );
    assert_eq!(
        fired.get(),
        ITERATIONS,
        "exactly the uncancelled timers fire"
    );
    assert_eq!(lp.scheduled_timer_count(), 0);
}

#[test]
fn cancelling_a_timer_drops_its_callback_at_once() {
    let (lp, _) = sim_loop();
    let log = Log::new();
    let guard = util::DropGuard::new(&log, "timer closure");
    let h = lp
        .call_later(Duration::from_secs(60), move || drop(guard))
        .unwrap();
    h.cancel();
    assert_eq!(log.take(), ["drop timer closure"]);
}

// DESIGN.md: "A test that sleeps an hour of virtual time finishes in milliseconds".
#[test]
fn an_hour_of_virtual_sleep_completes() {
    let (lp, _) = sim_loop();
    let fut = lp.create_future::<()>();
    let f2 = fut.clone();
    lp.call_later(Duration::from_secs(3600), move || {
        f2.set_result(()).unwrap()
    })
    .unwrap();
    let task = lp.create_task(async move { fut.await });
    lp.run_until_complete(task).unwrap().unwrap().unwrap();
    assert!(lp.time() >= secs(3600));
}

#[test]
fn an_hour_of_one_second_ticks_completes() {
    let (lp, _) = sim_loop();
    let ticks = Rc::new(Cell::new(0u32));
    fn tick(lp: EventLoop, ticks: Rc<Cell<u32>>) {
        ticks.set(ticks.get() + 1);
        if ticks.get() < 3600 {
            let lp2 = lp.clone();
            lp.call_later(Duration::from_secs(1), move || tick(lp2, ticks))
                .unwrap();
        }
    }
    let (lp2, t) = (lp.clone(), ticks.clone());
    lp.call_later(Duration::from_secs(1), move || tick(lp2, t))
        .unwrap();
    run_to_stall(&lp);
    assert_eq!(ticks.get(), 3600);
    assert_eq!(lp.time(), secs(3600));
}

/// A run with random delays: timers that reschedule themselves and device events on the
/// host, all drawn from the seeded source. Returns the trace of `(name, virtual ns)`.
fn random_scenario(seed: u64) -> Vec<(String, u64)> {
    let host = SimHost::new(seed);
    let lp = EventLoop::new(host.clone());
    let trace: Rc<RefCell<Vec<(String, u64)>>> = Rc::default();

    fn timer(
        lp: EventLoop,
        host: SimHost,
        trace: Rc<RefCell<Vec<(String, u64)>>>,
        id: u32,
        round: u32,
    ) {
        trace
            .borrow_mut()
            .push((format!("timer {id}.{round}"), lp.time().as_nanos()));
        if round < 5 {
            let delay = host.random_delay(Duration::from_millis(50));
            let lp2 = lp.clone();
            lp.call_later(delay, move || timer(lp2, host, trace, id, round + 1))
                .unwrap();
        }
    }

    for id in 0..100 {
        let delay = host.random_delay(Duration::from_millis(100));
        let (lp2, h2, t2) = (lp.clone(), host.clone(), trace.clone());
        lp.call_later(delay, move || timer(lp2, h2, t2, id, 0))
            .unwrap();
    }
    for id in 0..50 {
        let at = Instant::ZERO + host.random_delay(Duration::from_millis(300));
        let (t2, h2) = (trace.clone(), host.clone());
        host.schedule(at, move |_| {
            t2.borrow_mut()
                .push((format!("device {id}"), h2.now().as_nanos()));
        });
    }
    run_to_stall(&lp);
    trace.take()
}

#[test]
fn the_same_seed_reproduces_a_run_exactly() {
    let a = random_scenario(42);
    let b = random_scenario(42);
    assert_eq!(a.len(), 100 * 6 + 50);
    assert_eq!(a, b);
    assert!(
        a.windows(2).all(|w| w[0].1 <= w[1].1),
        "virtual time went backwards"
    );
    let c = random_scenario(43);
    assert_ne!(a, c, "a different seed should give a different run");
}

#[test]
fn random_delays_stay_within_bounds() {
    let host = SimHost::new(5);
    let max = Duration::from_millis(100);
    for _ in 0..10_000 {
        assert!(host.random_delay(max) <= max);
    }
    assert_eq!(host.random_delay(Duration::ZERO), Duration::ZERO);
    assert_eq!(host.seed(), 5);
}

#[test]
fn advance_moves_virtual_time_only_forward() {
    let (lp, host) = sim_loop();
    assert_eq!(lp.time(), Instant::ZERO);
    host.advance(Duration::from_millis(250));
    assert_eq!(lp.time(), millis(250));
    // A timer scheduled now is relative to the advanced clock.
    let h = lp.call_later(Duration::from_millis(250), || {}).unwrap();
    assert_eq!(h.when(), millis(500));
}
