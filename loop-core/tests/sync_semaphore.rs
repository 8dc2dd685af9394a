//! `Semaphore` and `BoundedSemaphore` (asyncio-overview.rst, "Synchronization
//! primitives"; CPython 3.12's FIFO rules), on the simulation host.

mod sync_util;

use std::time::Duration;

use loop_core::{
    ErrorKind, EventLoop, Task, TaskRef,
    sync::{BoundedSemaphore, Semaphore},
};
use sync_util::{Trace, new_loop, run_until_done, tick, yield_now};

fn refs(tasks: &[Task<()>]) -> Vec<&TaskRef> {
    tasks.iter().map(Task::task_ref).collect()
}

/// Tasks that each take a permit, hold it one tick, and give it back.
fn workers(lp: &EventLoop, sem: &Semaphore, trace: &Trace, n: usize) -> Vec<Task<()>> {
    (1..=n)
        .map(|i| {
            let (lp2, s, tr) = (lp.clone(), sem.clone(), trace.clone());
            lp.create_task(async move {
                let _permit = s.acquire().await;
                tr.at(&lp2, &format!("W{i} acquired"));
                tick(&lp2).await;
            })
        })
        .collect()
}

/// The counter: acquire decrements, release increments, `locked` when zero.
#[test]
fn counter_basics() {
    let sem = Semaphore::new(2);
    assert_eq!(sem.value(), 2);
    assert!(!sem.locked());
    let a = sem.try_acquire().unwrap();
    let b = sem.try_acquire().unwrap();
    assert_eq!(sem.value(), 0);
    assert!(sem.locked());
    assert!(sem.try_acquire().is_none());
    drop(a);
    assert_eq!(sem.value(), 1);
    b.forget();
    assert_eq!(sem.value(), 1);
    sem.release();
    assert_eq!(sem.value(), 2);
    // A plain semaphore may be released any number of times (asyncio allows it).
    sem.release();
    assert_eq!(sem.value(), 3);
    assert_eq!(Semaphore::default().value(), 1);
    let zero = Semaphore::new(0);
    assert!(zero.locked());
}

/// At most `value` holders at a time, served in arrival order.
#[test]
fn permits_go_out_in_fifo_order() {
    let lp = new_loop();
    let sem = Semaphore::new(2);
    let trace = Trace::new();
    let tasks = workers(&lp, &sem, &trace, 5);
    run_until_done(&lp, &refs(&tasks));
    assert_eq!(
        trace.get(),
        [
            "W1 acquired @0",
            "W2 acquired @0",
            "W3 acquired @1",
            "W4 acquired @1",
            "W5 acquired @2",
        ]
    );
    assert_eq!(sem.value(), 2);
}

/// CPython 3.12: while anybody is in line the semaphore is `locked()` and a newcomer
/// waits behind them, even when a permit is free at that moment.
#[test]
fn newcomer_does_not_overtake_a_woken_waiter() {
    let lp = new_loop();
    let sem = Semaphore::new(0);
    let trace = Trace::new();
    let (lp2, s, tr) = (lp.clone(), sem.clone(), trace.clone());
    let w = lp.create_task(async move {
        let p = s.acquire().await;
        tr.at(&lp2, "W acquired");
        p.forget();
    });
    let (lp2, s, tr) = (lp.clone(), sem.clone(), trace.clone());
    let newcomer = lp.create_task(async move {
        tick(&lp2).await;
        s.release(); // hands a permit to W, which has not run yet
        s.release(); // one permit free
        tr.push(format!("value={} locked={}", s.value(), s.locked()));
        let p = s.acquire().await; // must not overtake W
        tr.at(&lp2, "N acquired");
        p.forget();
    });
    run_until_done(&lp, &[w.task_ref(), newcomer.task_ref()]);
    assert_eq!(
        trace.get(),
        ["value=1 locked=true", "W acquired @1", "N acquired @1"]
    );
    assert_eq!(sem.value(), 0);
}

/// A waiter cancelled after a permit was handed to it passes the permit on, and the
/// counter ends where it started.
#[test]
fn cancelled_waiter_passes_its_permit_on() {
    let lp = new_loop();
    let sem = Semaphore::new(1);
    let holder = sem.try_acquire().unwrap();
    holder.forget();
    let trace = Trace::new();
    let tasks = workers(&lp, &sem, &trace, 3);
    let (s, w1) = (sem.clone(), tasks[0].clone());
    lp.call_later(Duration::from_secs(5), move || {
        s.release(); // W1 is handed the permit ...
        assert!(w1.cancel()); // ... and cancelled before it runs
    })
    .unwrap();
    run_until_done(&lp, &refs(&tasks));
    assert!(tasks[0].cancelled());
    assert_eq!(trace.get(), ["W2 acquired @5", "W3 acquired @6"]);
    assert_eq!(sem.value(), 1);
}

/// Cancelling a waiter in the middle of the line keeps the others' order.
#[test]
fn cancelling_a_middle_waiter_keeps_the_order() {
    let lp = new_loop();
    let sem = Semaphore::new(0);
    let trace = Trace::new();
    let tasks = workers(&lp, &sem, &trace, 4);
    let w3 = tasks[2].clone();
    lp.call_later(Duration::from_secs(1), move || {
        w3.cancel();
    })
    .unwrap();
    let s = sem.clone();
    lp.call_later(Duration::from_secs(2), move || {
        s.release();
        s.release();
    })
    .unwrap();
    run_until_done(&lp, &refs(&tasks));
    assert!(tasks[2].cancelled());
    assert_eq!(
        trace.get(),
        ["W1 acquired @2", "W2 acquired @2", "W4 acquired @3"]
    );
    assert_eq!(sem.value(), 2);
}

/// Several releases in one callback wake as many waiters, oldest first.
#[test]
fn each_release_wakes_one_waiter() {
    let lp = new_loop();
    let sem = Semaphore::new(0);
    let trace = Trace::new();
    let tasks = workers(&lp, &sem, &trace, 3);
    let s = sem.clone();
    lp.call_later(Duration::from_secs(1), move || {
        s.release();
        s.release();
        assert_eq!(s.value(), 0); // both permits handed over
    })
    .unwrap();
    run_until_done(&lp, &refs(&tasks));
    assert_eq!(
        trace.get(),
        ["W1 acquired @1", "W2 acquired @1", "W3 acquired @2"]
    );
    assert_eq!(sem.value(), 2);
}

/// "This raises ValueError in release() if it would increase the value above the
/// initial value" — here `ErrorKind::InvalidInput`.
#[test]
fn bounded_semaphore_rejects_extra_releases() {
    let sem = BoundedSemaphore::new(2);
    assert_eq!((sem.value(), sem.bound()), (2, 2));
    assert_eq!(sem.release().unwrap_err().kind(), ErrorKind::InvalidInput);
    let p = sem.try_acquire().unwrap();
    assert_eq!(sem.value(), 1);
    p.forget();
    sem.release().unwrap();
    assert_eq!(sem.value(), 2);
    assert_eq!(sem.release().unwrap_err().kind(), ErrorKind::InvalidInput);

    // A permit given back explicitly is not given back again by its drop.
    let p = sem.try_acquire().unwrap();
    sem.release().unwrap();
    drop(p);
    assert_eq!(sem.value(), 2);
    assert_eq!(BoundedSemaphore::default().bound(), 1);
}

/// A bounded semaphore waits and hands over like a plain one.
#[test]
fn bounded_semaphore_waits_in_order() {
    let lp = new_loop();
    let sem = BoundedSemaphore::new(1);
    let trace = Trace::new();
    let tasks: Vec<_> = (1..=3)
        .map(|i| {
            let (s, tr) = (sem.clone(), trace.clone());
            lp.create_task(async move {
                let _p = s.acquire().await;
                tr.push(format!("W{i} in"));
                yield_now().await;
                tr.push(format!("W{i} out"));
            })
        })
        .collect();
    run_until_done(&lp, &refs(&tasks));
    assert_eq!(
        trace.get(),
        ["W1 in", "W1 out", "W2 in", "W2 out", "W3 in", "W3 out"]
    );
    assert_eq!(sem.value(), 1);
}

/// Closing the loop drops waiting tasks without disturbing the counter.
#[test]
fn closing_the_loop_with_waiters() {
    let lp = new_loop();
    let sem = Semaphore::new(0);
    let trace = Trace::new();
    let _tasks = workers(&lp, &sem, &trace, 3);
    lp.run_once().unwrap();
    lp.close().unwrap();
    sem.release();
    assert_eq!(sem.value(), 1);
    assert!(sem.try_acquire().is_some());
}
