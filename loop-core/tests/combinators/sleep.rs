//! `EventLoop::sleep` / `sleep_until` (asyncio's `sleep`).

use std::future::Future as _;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use loop_core::{ErrorKind, Instant, gather};

use crate::util::{Log, new_loop, now, run_until_idle, secs};

#[test]
fn sleep_completes_when_the_virtual_clock_reaches_the_deadline() {
    let lp = new_loop();
    let lp2 = lp.clone();
    let t = lp.create_task(async move {
        lp2.sleep(secs(10.0)).await.unwrap();
        now(&lp2)
    });
    assert_eq!(lp.run_until_complete(t).unwrap().unwrap(), 10.0);
}

#[test]
fn the_delay_counts_from_the_first_poll() {
    // asyncio's sleep is a coroutine: its timer starts when it first runs.
    let lp = new_loop();
    let sleep = lp.sleep(secs(10.0));
    let lp2 = lp.clone();
    let started = lp.create_future::<()>();
    let s2 = started.clone();
    lp.call_later(secs(5.0), move || s2.set_result(()).unwrap())
        .unwrap();
    let t = lp.create_task(async move {
        started.await.unwrap();
        sleep.await.unwrap();
        now(&lp2)
    });
    assert_eq!(lp.run_until_complete(t).unwrap().unwrap(), 15.0);
}

#[test]
fn sleep_zero_yields_to_the_loop_exactly_once() {
    // asyncio's sleep(0): one bare yield, so the task resumes in the next iteration,
    // after the callbacks that were already queued and before those they schedule.
    let lp = new_loop();
    let log = Log::default();
    let (lp2, l) = (lp.clone(), log.clone());
    let t = lp.create_task(async move {
        l.push("task before");
        lp2.sleep(Duration::ZERO).await.unwrap();
        l.push("task after");
    });
    let (lp3, l) = (lp.clone(), log.clone());
    lp.call_soon(move || {
        l.push("callback 1");
        let l2 = l.clone();
        lp3.call_soon(move || l2.push("callback 2")).unwrap();
    })
    .unwrap();
    lp.run_until_complete(t).unwrap().unwrap();
    assert_eq!(
        log.entries(),
        ["task before", "callback 1", "task after", "callback 2"]
    );
}

#[test]
fn sleep_zero_schedules_no_timer() {
    let lp = new_loop();
    let lp2 = lp.clone();
    let t = lp.create_task(async move {
        lp2.sleep(Duration::ZERO).await.unwrap();
        lp2.scheduled_timer_count()
    });
    assert_eq!(lp.run_until_complete(t).unwrap().unwrap(), 0);
    assert_eq!(now(&lp), 0.0);
}

#[test]
fn cancelling_a_sleeping_task_cancels_its_timer() {
    let lp = new_loop();
    let lp2 = lp.clone();
    let t = lp.create_task(async move { lp2.sleep(secs(100.0)).await });
    let t2 = t.clone();
    lp.call_later(secs(1.0), move || {
        t2.cancel();
    })
    .unwrap();
    assert!(
        lp.run_until_complete(&t)
            .unwrap()
            .unwrap_err()
            .is_cancelled()
    );
    // With the timer gone nothing is left: the clock never reaches 100 s.
    assert_eq!(run_until_idle(&lp), 1.0);
}

#[test]
fn dropping_an_unpolled_sleep_schedules_nothing() {
    let lp = new_loop();
    drop(lp.sleep(secs(5.0)));
    assert_eq!(lp.scheduled_timer_count(), 0);
}

#[test]
fn sleep_until_wakes_at_the_instant_and_a_past_instant_in_the_next_iteration() {
    let lp = new_loop();
    let lp2 = lp.clone();
    let log = Log::default();
    let l = log.clone();
    let t = lp.create_task(async move {
        lp2.sleep_until(Instant::from_nanos(7_000_000_000))
            .await
            .unwrap();
        l.push(format!("woke at {}", now(&lp2)));
        lp2.sleep_until(Instant::ZERO).await.unwrap();
        l.push(format!("past deadline at {}", now(&lp2)));
    });
    lp.run_until_complete(t).unwrap().unwrap();
    assert_eq!(log.entries(), ["woke at 7", "past deadline at 7"]);
}

#[test]
fn sleeping_on_a_closed_loop_is_a_runtime_error() {
    let lp = new_loop();
    lp.close().unwrap();
    let mut sleep = pin!(lp.sleep(secs(1.0)));
    let mut cx = Context::from_waker(Waker::noop());
    match sleep.as_mut().poll(&mut cx) {
        Poll::Ready(Err(e)) => assert_eq!(e.kind(), ErrorKind::Runtime),
        other => panic!("expected a runtime error, got {other:?}"),
    }
}

#[test]
fn a_sleep_polled_again_with_another_waker_wakes_the_new_one() {
    let lp = new_loop();
    let lp2 = lp.clone();
    let t = lp.create_task(async move {
        let mut sleep = lp2.sleep(secs(3.0));
        // First poll with a waker that does nothing, then await with the task's own.
        let mut cx = Context::from_waker(Waker::noop());
        assert!(std::pin::Pin::new(&mut sleep).poll(&mut cx).is_pending());
        sleep.await.unwrap();
        now(&lp2)
    });
    assert_eq!(lp.run_until_complete(t).unwrap().unwrap(), 3.0);
}

#[test]
fn a_hundred_thousand_tasks_that_each_yield_once() {
    // The benchmark workload: every task yields once with sleep(0); all run in the same
    // few iterations, without timers.
    let lp = new_loop();
    let n = 100_000;
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let lp2 = lp.clone();
            lp.create_task(async move {
                lp2.sleep(Duration::ZERO).await.unwrap();
                i
            })
        })
        .collect();
    let all = gather(&lp, tasks);
    let results = lp.run_until_complete(all).unwrap().unwrap();
    assert_eq!(results.len(), n);
    assert!(results.iter().enumerate().all(|(i, r)| *r == i));
    assert_eq!(lp.scheduled_timer_count(), 0);
    assert_eq!(now(&lp), 0.0);
}
