//! Synchronisation primitives under contention: every waiter is served first come,
//! first served, and a wake-up is never lost.
//!
//! Tasks hold primitives across `sleep(0)` (one loop iteration each), not across timed
//! sleeps: how the waits of independent tasks interleave must not depend on how fast
//! the clock runs.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use loop_core::sync::{BoundedSemaphore, Condition, Event, Lock, Queue, Semaphore};
use loop_core::{Error, EventLoop, Task, gather};

use super::Outcome;
use crate::context::{Backend, Cx};

const MS: Duration = Duration::from_millis(1);

/// Yield to the loop `n` times.
async fn yield_times(lp: &EventLoop, n: u32) -> Result<(), Error> {
    for _ in 0..n {
        lp.sleep(Duration::ZERO).await?;
    }
    Ok(())
}

/// Run every task to its end.
async fn join_all(lp: &EventLoop, tasks: Vec<Task<Result<(), Error>>>) -> Result<(), Error> {
    for r in gather(lp, tasks).await? {
        r?;
    }
    Ok(())
}

/// Five tasks contend for a lock held across a timed sleep: they get it in the order
/// they asked, one at a time; `release` of an unlocked lock is a `RuntimeError`.
pub(crate) fn lock_fifo_under_contention<N: Backend>(cx: &Cx<N>) -> Outcome {
    let lane = cx.lane("lock");
    let lp = cx.lp().clone();
    let lock = Lock::new();
    let inside = Rc::new(Cell::new(0u32));
    let tasks = (1..=5)
        .map(|n| {
            let (l, lp2, lock, inside) = (lane.clone(), lp.clone(), lock.clone(), inside.clone());
            lp.create_task(async move {
                let guard = lock.acquire().await;
                inside.set(inside.get() + 1);
                l.note(format!("task {n} holds the lock ({} inside)", inside.get()));
                lp2.sleep(MS).await?;
                inside.set(inside.get() - 1);
                drop(guard);
                Ok(())
            })
        })
        .collect();
    let lp2 = lp.clone();
    cx.run(async move { join_all(&lp2, tasks).await })?;
    lane.check("unlocked at the end", !lock.locked());
    lane.status("release an unlocked lock", &lock.release());
    Ok(())
}

/// A semaphore of 2 with six contenders, task n holding its permit for n iterations:
/// never more than two inside, permits granted in request order; a bounded semaphore refuses a release above its bound.
pub(crate) fn semaphore_limits_concurrency<N: Backend>(cx: &Cx<N>) -> Outcome {
    let lane = cx.lane("semaphore");
    let lp = cx.lp().clone();
    let sem = Semaphore::new(2);
    let inside = Rc::new(Cell::new(0u32));
    let most = Rc::new(Cell::new(0u32));
    let tasks = (1..=6)
        .map(|n| {
            let (l, lp2, sem, inside, most) = (
                lane.clone(),
                lp.clone(),
                sem.clone(),
                inside.clone(),
                most.clone(),
            );
            lp.create_task(async move {
                let permit = sem.acquire().await;
                inside.set(inside.get() + 1);
                most.set(most.get().max(inside.get()));
                l.note(format!("task {n} acquired"));
                yield_times(&lp2, n).await?;
                inside.set(inside.get() - 1);
                l.note(format!("task {n} releases"));
                drop(permit);
                Ok(())
            })
        })
        .collect();
    let lp2 = lp.clone();
    cx.run(async move { join_all(&lp2, tasks).await })?;
    lane.note(format!("most inside at once: {}", most.get()));
    lane.note(format!("value at the end: {}", sem.value()));
    let bounded = BoundedSemaphore::new(1);
    lane.status("bounded release above the bound", &bounded.release());
    Ok(())
}

/// `Event::set` wakes every waiter, in the order they started waiting; a wait on a set
/// event returns at once; `clear` makes later waits block again.
pub(crate) fn event_wakes_every_waiter<N: Backend>(cx: &Cx<N>) -> Outcome {
    let lane = cx.lane("event");
    let lp = cx.lp().clone();
    let event = Event::new();
    let tasks: Vec<_> = (1..=3)
        .map(|n| {
            let (l, ev) = (lane.clone(), event.clone());
            lp.create_task(async move {
                ev.wait().await;
                l.note(format!("waiter {n} woke"));
                Ok(())
            })
        })
        .collect();
    let (l, lp2, ev) = (lane.clone(), lp.clone(), event.clone());
    cx.run(async move {
        yield_times(&lp2, 2).await?;
        l.note("set");
        ev.set();
        ev.clear();
        join_all(&lp2, tasks).await?;
        ev.set();
        ev.wait().await;
        l.note("wait on a set event returned at once");
        ev.clear();
        let late = {
            let ev = ev.clone();
            lp2.create_task(async move { ev.wait().await })
        };
        yield_times(&lp2, 2).await?;
        l.check("a wait after clear blocks", !late.done());
        ev.set();
        (&late).await?;
        l.note("woken by the second set");
        Ok(())
    })?;
    Ok(())
}

/// `Condition`: `notify(1)` wakes the oldest waiter, `notify_all` the rest, each getting
/// the lock back in turn; notifying without the lock is a `RuntimeError`.
pub(crate) fn condition_notify_order<N: Backend>(cx: &Cx<N>) -> Outcome {
    let lane = cx.lane("condition");
    let lp = cx.lp().clone();
    let cond = Condition::new();
    let tasks: Vec<_> = (1..=4)
        .map(|n| {
            let (l, cond) = (lane.clone(), cond.clone());
            lp.create_task(async move {
                let _guard = cond.acquire().await;
                cond.wait().await?;
                l.note(format!(
                    "waiter {n} notified, holds the lock: {}",
                    cond.locked()
                ));
                Ok(())
            })
        })
        .collect();
    let (l, lp2, c) = (lane.clone(), lp.clone(), cond.clone());
    cx.run(async move {
        yield_times(&lp2, 2).await?;
        l.status("notify without the lock", &c.notify(1));
        {
            let _guard = c.acquire().await;
            l.note("notify(1)");
            c.notify(1)?;
        }
        yield_times(&lp2, 4).await?;
        {
            let _guard = c.acquire().await;
            l.note("notify_all");
            c.notify_all()?;
        }
        join_all(&lp2, tasks).await
    })?;
    Ok(())
}

/// A bounded queue between two producers and two consumers: items come out in FIFO
/// order, putters wait for room in order, `join` returns once every item is marked
/// done; the non-blocking forms fail with `QueueFull` / `QueueEmpty`.
pub(crate) fn queue_producers_consumers<N: Backend>(cx: &Cx<N>) -> Outcome {
    let lane = cx.lane("queue");
    let lp = cx.lp().clone();
    let queue: Queue<String> = Queue::new(2);
    let mut tasks = Vec::new();
    for p in ["p1", "p2"] {
        let (l, q) = (lane.clone(), queue.clone());
        tasks.push(lp.create_task(async move {
            for i in 1..=3 {
                q.put(format!("{p}-{i}")).await;
                l.note(format!("{p} put item {i}"));
            }
            Ok(())
        }));
    }
    for c in ["c1", "c2"] {
        let (l, q, lp2) = (lane.clone(), queue.clone(), lp.clone());
        tasks.push(lp.create_task(async move {
            for _ in 0..3 {
                let item = q.get().await;
                l.note(format!("{c} got {item}"));
                yield_times(&lp2, 1).await?;
                q.task_done()?;
            }
            Ok(())
        }));
    }
    let (l, lp2, q) = (lane.clone(), lp.clone(), queue.clone());
    cx.run(async move {
        q.join().await;
        l.note("join returned");
        join_all(&lp2, tasks).await?;
        l.check("get_nowait on empty fails", q.get_nowait().is_err());
        q.put_nowait("x".into()).ok();
        q.put_nowait("y".into()).ok();
        l.check(
            "put_nowait on full fails",
            q.put_nowait("z".into()).is_err(),
        );
        l.note(format!("qsize {}, full {}", q.qsize(), q.full()));
        Ok(())
    })?;
    Ok(())
}

/// A waiter cancelled while queued leaves the line without losing a wake-up: the lock
/// goes to the next waiter.
pub(crate) fn cancelled_waiter_passes_the_lock<N: Backend>(cx: &Cx<N>) -> Outcome {
    let lane = cx.lane("lock");
    let lp = cx.lp().clone();
    let lock = Lock::new();
    let (l, lp2, lk) = (lane.clone(), lp.clone(), lock.clone());
    cx.run(async move {
        let guard = lk.acquire().await;
        let spawn = |name: &'static str| {
            let (l, lk) = (l.clone(), lk.clone());
            lp2.create_task(async move {
                let _g = lk.acquire().await;
                l.note(format!("{name} got the lock"));
            })
        };
        let first = spawn("first");
        let second = spawn("second");
        let third = spawn("third");
        yield_times(&lp2, 2).await?;
        first.cancel();
        drop(guard);
        l.note("released by the owner");
        let r = (&first).await;
        l.outcome("first", &r);
        (&second).await?;
        (&third).await?;
        Ok(())
    })?;
    Ok(())
}
