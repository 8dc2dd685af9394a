//! Throughput of the loop's core paths, on the simulation host (virtual time, so the
//! numbers measure the loop and not the clock):
//!
//! - `call_soon_chain`: 1,000,000 callbacks, each scheduling the next (one per
//!   iteration, as asyncio runs them);
//! - `timers`: 200,000 timers with seeded random delays in [0, 100 ms], every other one
//!   cancelled, run until all have fired;
//! - `tasks`: 100,000 tasks that each yield once (`sleep(ZERO)`), gathered.
//!
//! Run with `cargo bench -p loop-core --bench loop_bench`; criterion reports the median
//! time per run and the throughput (callbacks, timers or tasks per second).
//!
//! For a profiler, `LOOP_BENCH_ONCE=<call_soon_chain|timers|tasks>` runs that workload
//! once, without criterion, e.g. for repeatable instruction counts:
//! `LOOP_BENCH_ONCE=timers valgrind --tool=callgrind target/release/deps/loop_bench-…`.
use std::time::Duration;

use criterion::{Criterion, Throughput};
use loop_core::sim::SimHost;
use loop_core::{EventLoop, TimerHandle, gather};

const CALLBACKS: u32 = 1_000_000;
const TIMERS: u32 = 200_000;
const TASKS: u32 = 100_000;

/// One link of the chain: schedule the next one, or stop after the last.
fn link(lp: EventLoop, remaining: u32) {
    if remaining == 0 {
        lp.stop();
    } else {
        let next = lp.clone();
        lp.call_soon(move || link(next, remaining - 1)).unwrap();
    }
}

fn call_soon_chain(n: u32) {
    let lp = EventLoop::new(SimHost::new(1));
    let first = lp.clone();
    lp.call_soon(move || link(first, n - 1)).unwrap();
    lp.run_forever().unwrap();
}

fn timers(n: u32, seed: u64) -> u32 {
    let host = SimHost::new(seed);
    let lp = EventLoop::new(host.clone());
    let fired = std::rc::Rc::new(std::cell::Cell::new(0u32));
    let max = Duration::from_millis(100);
    let mut handles: Vec<TimerHandle> = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let f = fired.clone();
        handles.push(
            lp.call_later(host.random_delay(max), move || f.set(f.get() + 1))
                .unwrap(),
        );
    }
    for h in handles.iter().step_by(2) {
        h.cancel();
    }
    // Equal deadlines fire in scheduling order, so this runs after every timer.
    let stopper = lp.clone();
    lp.call_later(max, move || stopper.stop()).unwrap();
    lp.run_forever().unwrap();
    fired.get()
}

/// `n` tasks that each yield once (`sleep(ZERO)`), gathered.
fn tasks(n: u32) -> u64 {
    let lp = EventLoop::new(SimHost::new(1));
    let jobs = (0..u64::from(n)).map(|i| {
        let lp = lp.clone();
        async move {
            lp.sleep(Duration::ZERO).await.unwrap();
            i
        }
    });
    let all = gather(&lp, jobs);
    lp.run_until_complete(all).unwrap().unwrap().iter().sum()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("loop");
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(5));

    g.throughput(Throughput::Elements(u64::from(CALLBACKS)));
    g.bench_function("call_soon_chain", |b| b.iter(|| call_soon_chain(CALLBACKS)));

    g.throughput(Throughput::Elements(u64::from(TIMERS)));
    g.bench_function("timers", |b| {
        b.iter(|| assert_eq!(timers(TIMERS, 7), TIMERS / 2));
    });

    g.throughput(Throughput::Elements(u64::from(TASKS)));
    let expected = u64::from(TASKS) * u64::from(TASKS - 1) / 2;
    g.bench_function("tasks", |b| b.iter(|| assert_eq!(tasks(TASKS), expected)));
    g.finish();
}

/// Run the workload `name` once (see the module docs); `false` for an unknown name.
fn run_once(name: &str) -> bool {
    match name {
        "call_soon_chain" => call_soon_chain(CALLBACKS),
        "timers" => assert_eq!(timers(TIMERS, 7), TIMERS / 2),
        "tasks" => assert_eq!(tasks(TASKS), u64::from(TASKS) * u64::from(TASKS - 1) / 2),
        _ => return false,
    }
    true
}

fn main() {
    if let Ok(name) = std::env::var("LOOP_BENCH_ONCE") {
        assert!(run_once(&name), "unknown workload {name:?}");
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
