//! `Condition` (asyncio-overview.rst, "Synchronization primitives"; CPython 3.13's
//! hand-over of a cancelled waiter's notification), on the simulation host.

mod sync_util;

use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use loop_core::{
    ErrorKind, EventLoop, Task, TaskRef,
    sync::{Condition, Lock},
};
use sync_util::{Trace, new_loop, run_until_done, tick};

fn refs(tasks: &[Task<()>]) -> Vec<&TaskRef> {
    tasks.iter().map(Task::task_ref).collect()
}

/// Tasks that take the lock, wait once, record when they are back (holding the lock),
/// keep it one tick, and release it.
fn waiters(lp: &EventLoop, cond: &Condition, trace: &Trace, n: usize) -> Vec<Task<()>> {
    (1..=n)
        .map(|i| {
            let (lp2, c, tr) = (lp.clone(), cond.clone(), trace.clone());
            lp.create_task(async move {
                let _guard = c.acquire().await;
                c.wait().await.unwrap();
                tr.at(&lp2, &format!("W{i} woken, locked={}", c.locked()));
                tick(&lp2).await;
            })
        })
        .collect()
}

/// Run `f` with the condition's lock held, from a callback at `at` seconds.
fn notify_at(lp: &EventLoop, cond: &Condition, at: u64, f: impl FnOnce(&Condition) + 'static) {
    let c = cond.clone();
    lp.call_later(Duration::from_secs(at), move || {
        let guard = c.try_acquire().expect("lock free for the notifier");
        f(&c);
        drop(guard);
    })
    .unwrap();
}

/// wait / notify / notify_all without the lock are RuntimeErrors; notify with nobody
/// waiting is a no-op.
#[test]
fn lock_is_required() {
    let lp = new_loop();
    let cond = Condition::new();
    assert_eq!(cond.notify(1).unwrap_err().kind(), ErrorKind::Runtime);
    assert_eq!(cond.notify_all().unwrap_err().kind(), ErrorKind::Runtime);
    let c = cond.clone();
    let task = lp.create_task(async move { c.wait().await });
    let err = lp.run_until_complete(task).unwrap().unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Runtime);
    assert!(!cond.locked());

    let guard = cond.try_acquire().unwrap();
    cond.notify(3).unwrap();
    cond.notify_all().unwrap();
    drop(guard);
    assert!(cond.release().is_err());
}

/// `notify(n)` wakes at most n waiters, oldest first; a woken waiter returns only once
/// it holds the lock again.
#[test]
fn notify_wakes_waiters_in_fifo_order() {
    let lp = new_loop();
    let cond = Condition::new();
    let trace = Trace::new();
    let tasks = waiters(&lp, &cond, &trace, 3);
    notify_at(&lp, &cond, 1, |c| c.notify(1).unwrap());
    notify_at(&lp, &cond, 5, |c| c.notify(2).unwrap());
    run_until_done(&lp, &refs(&tasks));
    assert_eq!(
        trace.get(),
        [
            "W1 woken, locked=true @1",
            "W2 woken, locked=true @5",
            "W3 woken, locked=true @6",
        ]
    );
    assert!(!cond.locked());
}

/// `notify_all` wakes every waiter; they re-acquire the lock one after the other.
#[test]
fn notify_all_wakes_everyone_who_then_takes_turns() {
    let lp = new_loop();
    let cond = Condition::new();
    let trace = Trace::new();
    let tasks = waiters(&lp, &cond, &trace, 3);
    notify_at(&lp, &cond, 2, |c| c.notify_all().unwrap());
    run_until_done(&lp, &refs(&tasks));
    assert_eq!(
        trace.get(),
        [
            "W1 woken, locked=true @2",
            "W2 woken, locked=true @3",
            "W3 woken, locked=true @4",
        ]
    );
}

/// "This method releases the underlying lock, and then blocks until it is awakened";
/// "an awakened coroutine does not actually return from its wait() call until it can
/// reacquire the lock. Since notify() does not release the lock, its caller should."
#[test]
fn wait_releases_the_lock_and_returns_after_the_notifier_releases() {
    let lp = new_loop();
    let cond = Condition::new();
    let trace = Trace::new();
    let tasks = waiters(&lp, &cond, &trace, 1);
    let (lp2, c, tr) = (lp.clone(), cond.clone(), trace.clone());
    let notifier = lp.create_task(async move {
        tick(&lp2).await;
        let guard = c.acquire().await; // free: the waiter released it
        tr.at(&lp2, "N acquired");
        c.notify(1).unwrap();
        tick(&lp2).await; // the waiter cannot return while N holds the lock
        tr.at(&lp2, "N releases");
        drop(guard);
    });
    run_until_done(&lp, &[tasks[0].task_ref(), notifier.task_ref()]);
    assert_eq!(
        trace.get(),
        ["N acquired @1", "N releases @2", "W1 woken, locked=true @2"]
    );
}

/// `wait_for(predicate)`: waits until the predicate holds, checking it after each wake.
#[test]
fn wait_for_rechecks_the_predicate() {
    let lp = new_loop();
    let cond = Condition::new();
    let value = Rc::new(Cell::new(0));
    let checks = Rc::new(Cell::new(0));
    let (c, v, n) = (cond.clone(), value.clone(), checks.clone());
    let waiter = lp.create_try_task(async move {
        let _g = c.acquire().await;
        c.wait_for(|| {
            n.set(n.get() + 1);
            v.get() >= 3
        })
        .await?;
        Ok::<_, loop_core::Error>(v.get())
    });
    for at in 1..=4 {
        let v = value.clone();
        notify_at(&lp, &cond, at, move |c| {
            v.set(v.get() + 1);
            c.notify_all().unwrap();
        });
    }
    assert_eq!(lp.run_until_complete(&waiter).unwrap().unwrap(), 3);
    assert_eq!(checks.get(), 4); // initial check + one per notification up to 3
    assert_eq!(lp.time().as_nanos(), 3_000_000_000);

    // A predicate that already holds returns without waiting (or needing the lock).
    let c = cond.clone();
    let quick = lp.create_task(async move { c.wait_for(|| true).await });
    lp.run_until_complete(quick).unwrap().unwrap().unwrap();
}

/// A waiter cancelled after it was notified (before it ran) passes the notification to
/// the next waiter: a notify(1) is not lost.
#[test]
fn cancelled_notified_waiter_passes_the_notification_on() {
    let lp = new_loop();
    let cond = Condition::new();
    let trace = Trace::new();
    let tasks = waiters(&lp, &cond, &trace, 3);
    let w1 = tasks[0].clone();
    notify_at(&lp, &cond, 1, move |c| {
        c.notify(1).unwrap();
        assert!(w1.cancel());
    });
    notify_at(&lp, &cond, 10, |c| c.notify(1).unwrap());
    run_until_done(&lp, &refs(&tasks));
    assert!(tasks[0].cancelled());
    assert_eq!(
        trace.get(),
        ["W2 woken, locked=true @1", "W3 woken, locked=true @10"]
    );
}

/// The same while the notified waiter is already queued for the lock: it leaves the
/// lock's line and passes its notification on.
#[test]
fn waiter_cancelled_while_reacquiring_passes_the_notification_on() {
    let lp = new_loop();
    let cond = Condition::new();
    let trace = Trace::new();
    let tasks = waiters(&lp, &cond, &trace, 2);
    let (lp2, c, tr) = (lp.clone(), cond.clone(), trace.clone());
    let holder = lp.create_task(async move {
        tick(&lp2).await;
        let guard = c.acquire().await;
        c.notify(1).unwrap(); // W1 notified; it will queue for the lock
        tick(&lp2).await;
        tr.at(&lp2, "H releases");
        drop(guard);
    });
    let w1 = tasks[0].clone();
    lp.call_later(Duration::from_millis(1500), move || {
        w1.cancel();
    })
    .unwrap();
    let mut all = refs(&tasks);
    all.push(holder.task_ref());
    run_until_done(&lp, &all);
    assert!(tasks[0].cancelled());
    assert_eq!(trace.get(), ["H releases @2", "W2 woken, locked=true @2"]);
    assert!(!cond.locked());
}

/// Cancelling a waiter in the middle keeps the others' order.
#[test]
fn cancelling_a_middle_waiter_keeps_the_order() {
    let lp = new_loop();
    let cond = Condition::new();
    let trace = Trace::new();
    let tasks = waiters(&lp, &cond, &trace, 4);
    let w2 = tasks[1].clone();
    lp.call_later(Duration::from_secs(1), move || {
        w2.cancel();
    })
    .unwrap();
    notify_at(&lp, &cond, 2, |c| c.notify(2).unwrap());
    notify_at(&lp, &cond, 10, |c| c.notify(1).unwrap());
    run_until_done(&lp, &refs(&tasks));
    assert_eq!(
        trace.get(),
        [
            "W1 woken, locked=true @2",
            "W3 woken, locked=true @3",
            "W4 woken, locked=true @10",
        ]
    );
}

/// A guard held across a wait stays valid (dropping it releases the re-acquired lock);
/// a wait abandoned before it completes leaves the lock released and the guard inert.
#[test]
fn guards_across_waits() {
    let lp = new_loop();
    let cond = Condition::new();
    let (c, lp2) = (cond.clone(), lp.clone());
    let task = lp.create_task(async move {
        let guard = c.acquire().await;
        let notifier = {
            let c = c.clone();
            lp2.create_task(async move {
                let _g = c.acquire().await;
                c.notify(1).unwrap();
            })
        };
        c.wait().await.unwrap();
        assert!(c.locked());
        drop(guard);
        assert!(!c.locked());
        notifier.await.unwrap();

        // Poll a wait once (it releases the lock and queues), then abandon it.
        let guard = c.acquire().await;
        {
            let mut wait = pin!(c.wait());
            std::future::poll_fn(|cx| {
                assert!(wait.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            assert!(!c.locked());
        }
        let other = c
            .try_acquire()
            .expect("the abandoned wait left the lock free");
        drop(guard); // inert: does not release `other`'s acquisition
        assert!(c.locked());
        drop(other);
        assert!(!c.locked());
    });
    lp.run_until_complete(task).unwrap().unwrap();
}

/// Conditions sharing one lock (asyncio's `Condition(lock)`) keep separate waiters.
#[test]
fn conditions_sharing_a_lock() {
    let lp = new_loop();
    let lock = Lock::new();
    let a = Condition::with_lock(lock.clone());
    let b = Condition::with_lock(lock.clone());
    assert!(a.lock().ptr_eq(&lock) && b.lock().ptr_eq(&lock));
    let trace = Trace::new();
    let mut tasks = waiters(&lp, &a, &trace, 1);
    let (lp2, b2, tr) = (lp.clone(), b.clone(), trace.clone());
    tasks.push(lp.create_task(async move {
        let _g = b2.acquire().await;
        b2.wait().await.unwrap();
        tr.at(&lp2, "B woken");
    }));
    notify_at(&lp, &b, 1, |b| b.notify_all().unwrap());
    notify_at(&lp, &a, 2, |a| {
        assert!(a.locked());
        a.notify_all().unwrap();
    });
    run_until_done(&lp, &refs(&tasks));
    assert_eq!(trace.get(), ["B woken @1", "W1 woken, locked=true @2"]);
    assert!(!lock.locked());
}
