//! `Lock`: asyncio's primitive lock (asyncio-overview.rst, "Synchronization primitives"),
//! FIFO fairness and cancellation safety, on the simulation host.

mod sync_util;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use loop_core::{ErrorKind, Task, sync::Lock};
use sync_util::{Trace, new_loop, run_until_done, tick, yield_now};

/// "It is created in the unlocked state"; release of an unlocked lock is a RuntimeError.
#[test]
fn basic_state_and_errors() {
    let lock = Lock::new();
    assert!(!lock.locked());
    assert_eq!(lock.release().unwrap_err().kind(), ErrorKind::Runtime);

    let guard = lock.try_acquire().expect("free lock");
    assert!(lock.locked());
    assert!(lock.try_acquire().is_none());
    drop(guard);
    assert!(!lock.locked());

    // asyncio's explicit style.
    lock.try_acquire().expect("free again").forget();
    assert!(lock.locked());
    lock.release().unwrap();
    assert!(!lock.locked());
    assert_eq!(lock.release().unwrap_err().kind(), ErrorKind::Runtime);

    // Clones share the lock.
    let other = lock.clone();
    let _g = other.try_acquire().unwrap();
    assert!(lock.locked() && lock.ptr_eq(&other));
}

/// "Only one coroutine proceeds when a release() call resets the state to unlocked;
/// first coroutine which is blocked in acquire() is being processed."
#[test]
fn waiters_get_the_lock_in_fifo_order() {
    let lp = new_loop();
    let lock = Lock::new();
    let trace = Trace::new();
    let tasks: Vec<_> = (1..=4)
        .map(|i| {
            let (lp2, lock, tr) = (lp.clone(), lock.clone(), trace.clone());
            lp.create_task(async move {
                let guard = lock.acquire().await;
                tr.at(&lp2, &format!("acquire {i}"));
                tick(&lp2).await;
                tr.at(&lp2, &format!("release {i}"));
                drop(guard);
            })
        })
        .collect();
    let refs: Vec<_> = tasks.iter().map(Task::task_ref).collect();
    run_until_done(&lp, &refs);
    assert_eq!(
        trace.get(),
        [
            "acquire 1 @0",
            "release 1 @1",
            "acquire 2 @1",
            "release 2 @2",
            "acquire 3 @2",
            "release 3 @3",
            "acquire 4 @3",
            "release 4 @4",
        ]
    );
    assert!(!lock.locked());
}

/// CPython 3.12: after a release with waiters the lock reads unlocked, but nobody can
/// take it before the first waiter runs (no barging), not even the releaser.
#[test]
fn release_hands_over_without_barging() {
    let lp = new_loop();
    let lock = Lock::new();
    let trace = Trace::new();

    let (lp2, l, tr) = (lp.clone(), lock.clone(), trace.clone());
    let a = lp.create_task(async move {
        let guard = l.acquire().await;
        tr.push("A acquired");
        yield_now().await; // B queues meanwhile
        drop(guard);
        tr.push(format!("A released, locked={}", l.locked()));
        tr.push(format!("A try_acquire={}", l.try_acquire().is_some()));
        let (l2, tr2) = (l.clone(), tr.clone());
        let c = lp2.create_task(async move {
            let _g = l2.acquire().await;
            tr2.push("C acquired");
        });
        let _g = l.acquire().await;
        tr.push("A reacquired");
        drop(_g);
        c.await.unwrap();
    });
    let (l, tr) = (lock.clone(), trace.clone());
    let b = lp.create_task(async move {
        let _g = l.acquire().await;
        tr.push("B acquired");
        yield_now().await;
    });
    run_until_done(&lp, &[a.task_ref(), b.task_ref()]);
    assert_eq!(
        trace.get(),
        [
            "A acquired",
            "A released, locked=false",
            "A try_acquire=false",
            "B acquired",
            "A reacquired",
            "C acquired",
        ]
    );
}

fn holder_and_waiters(n: usize) -> (loop_core::EventLoop, Lock, Trace, Vec<Task<()>>) {
    let lp = new_loop();
    let lock = Lock::new();
    let trace = Trace::new();
    lock.try_acquire().unwrap().forget();
    let tasks = (1..=n)
        .map(|i| {
            let (lp2, l, tr) = (lp.clone(), lock.clone(), trace.clone());
            lp.create_task(async move {
                let _g = l.acquire().await;
                tr.at(&lp2, &format!("W{i} acquired"));
                tick(&lp2).await;
            })
        })
        .collect();
    (lp, lock, trace, tasks)
}

/// A waiter cancelled after the lock was handed to it (before it ran) passes the lock to
/// the next waiter: the wake-up is not swallowed.
#[test]
fn cancelled_waiter_that_was_handed_the_lock_passes_it_on() {
    let (lp, lock, trace, tasks) = holder_and_waiters(3);
    let (l, w1) = (lock.clone(), tasks[0].clone());
    lp.call_later(Duration::from_secs(5), move || {
        l.release().unwrap(); // hands the lock to W1 ...
        assert!(w1.cancel()); // ... which is cancelled before it runs
    })
    .unwrap();
    let refs: Vec<_> = tasks.iter().map(Task::task_ref).collect();
    run_until_done(&lp, &refs);
    assert!(tasks[0].cancelled());
    assert_eq!(trace.get(), ["W2 acquired @5", "W3 acquired @6"]);
    assert!(!lock.locked());
}

/// The same when the task is cancelled first and the lock released in the same
/// callback: the doomed waiter is still in line, is handed the lock, and passes it on.
#[test]
fn release_to_an_already_cancelled_waiter_is_passed_on() {
    let (lp, lock, trace, tasks) = holder_and_waiters(2);
    let (l, w1) = (lock.clone(), tasks[0].clone());
    lp.call_later(Duration::from_secs(5), move || {
        assert!(w1.cancel());
        l.release().unwrap();
    })
    .unwrap();
    let refs: Vec<_> = tasks.iter().map(Task::task_ref).collect();
    run_until_done(&lp, &refs);
    assert!(tasks[0].cancelled());
    assert_eq!(trace.get(), ["W2 acquired @5"]);
}

/// Cancelling a waiter in the middle of the line keeps the others' order.
#[test]
fn cancelling_a_middle_waiter_keeps_the_order() {
    let (lp, lock, trace, tasks) = holder_and_waiters(4);
    let w2 = tasks[1].clone();
    lp.call_later(Duration::from_secs(2), move || {
        w2.cancel();
    })
    .unwrap();
    let l = lock.clone();
    lp.call_later(Duration::from_secs(5), move || l.release().unwrap())
        .unwrap();
    let refs: Vec<_> = tasks.iter().map(Task::task_ref).collect();
    run_until_done(&lp, &refs);
    assert!(tasks[1].cancelled());
    assert_eq!(
        trace.get(),
        ["W1 acquired @5", "W3 acquired @6", "W4 acquired @7"]
    );
}

/// Cancelling the task that holds the guard releases the lock (its destructors run).
#[test]
fn cancelling_the_holder_releases_the_lock() {
    let (lp, lock, trace, tasks) = holder_and_waiters(2);
    lock.release().unwrap(); // W1 gets it and sleeps one tick holding it
    let w1 = tasks[0].clone();
    lp.call_later(Duration::from_millis(500), move || {
        w1.cancel();
    })
    .unwrap();
    let refs: Vec<_> = tasks.iter().map(Task::task_ref).collect();
    run_until_done(&lp, &refs);
    assert_eq!(trace.get(), ["W1 acquired @0", "W2 acquired @0"]);
    assert!(tasks[0].cancelled());
    assert!(!lock.locked());
}

/// A guard whose acquisition was ended by an explicit release does not release the next
/// owner's lock when it is dropped.
#[test]
fn stale_guard_does_not_release_someone_elses_lock() {
    let lock = Lock::new();
    let stale = lock.try_acquire().unwrap();
    lock.release().unwrap();
    let current = lock.try_acquire().unwrap();
    drop(stale);
    assert!(lock.locked());
    drop(current);
    assert!(!lock.locked());
}

/// An acquire future dropped before it was polled never joined the line.
#[test]
fn unpolled_acquire_is_harmless() {
    let lock = Lock::new();
    let _held = lock.try_acquire().unwrap();
    drop(lock.acquire());
    drop(_held);
    assert!(lock.try_acquire().is_some());
}

/// Closing the loop drops waiting tasks; their waiters leave the line cleanly and the
/// lock stays usable.
#[test]
fn closing_the_loop_with_waiters() {
    let (lp, lock, _trace, tasks) = holder_and_waiters(3);
    lp.run_once().unwrap();
    assert!(tasks.iter().all(|t| !t.done()));
    lp.close().unwrap();
    lock.release().unwrap();
    assert!(lock.try_acquire().is_some());
}

/// Guards borrow the lock, so a task can hold one across awaits; two tasks contending
/// through shared state never overlap.
#[test]
fn mutual_exclusion_under_interleaving() {
    let lp = new_loop();
    let lock = Lock::new();
    let inside = Rc::new(RefCell::new(0u32));
    let max_inside = Rc::new(RefCell::new(0u32));
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let (l, inside, max_inside) = (lock.clone(), inside.clone(), max_inside.clone());
            lp.create_task(async move {
                for _ in 0..3 {
                    let _g = l.acquire().await;
                    *inside.borrow_mut() += 1;
                    let now = *inside.borrow();
                    max_inside.replace_with(|m| (*m).max(now));
                    yield_now().await;
                    *inside.borrow_mut() -= 1;
                }
            })
        })
        .collect();
    let refs: Vec<_> = tasks.iter().map(Task::task_ref).collect();
    run_until_done(&lp, &refs);
    assert_eq!(*max_inside.borrow(), 1);
    assert!(!lock.locked());
}
