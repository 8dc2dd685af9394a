//! Timers (`call_later`, `call_at`, `sleep`, `wait_for`) and their cancellation.
//!
//! Times are never recorded: on the native host and in a guest the clock is real. What
//! every backend must agree on is the order of firings and that none fires early,
//! recorded as checks.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use loop_core::{Error, TimerHandle, wait_for};

use super::Outcome;
use crate::context::{Backend, Cx};

const MS: Duration = Duration::from_millis(1);

/// Timers fire in deadline order; timers with the same deadline fire in the order they
/// were scheduled; none fires before its deadline.
pub(crate) fn timers_fire_in_deadline_order<N: Backend>(cx: &Cx<N>) -> Outcome {
    let lane = cx.lane("timers");
    let lp = cx.lp().clone();
    let handles: Rc<RefCell<Vec<TimerHandle>>> = Rc::default();
    for (name, ms) in [("c", 30), ("a", 10), ("b", 20)] {
        let (l, lp2, hs) = (lane.clone(), lp.clone(), handles.clone());
        let index = handles.borrow().len();
        let h = lp.call_later(ms * MS, move || {
            let when = hs.borrow()[index].when();
            l.note(format!("fire {name}"));
            l.check(&format!("{name} not early"), lp2.time() >= when);
        })?;
        handles.borrow_mut().push(h);
    }
    let at = lp.time() + 40 * MS;
    for name in ["d1", "d2", "d3"] {
        let l = lane.clone();
        lp.call_at(at, move || l.note(format!("fire {name} (same deadline)")))?;
    }
    let lp2 = lp.clone();
    cx.run(async move { lp2.sleep(50 * MS).await })?;
    lane.note("slept past all of them");
    Ok(())
}

/// A cancelled timer never fires, whether cancelled before the loop runs or by an
/// earlier timer; cancelling twice is harmless.
pub(crate) fn timer_cancel<N: Backend>(cx: &Cx<N>) -> Outcome {
    let lane = cx.lane("timers");
    let lp = cx.lp().clone();
    let l = lane.clone();
    let early = lp.call_later(5 * MS, move || l.note("cancelled before running (never)"))?;
    early.cancel();
    early.cancel();
    lane.check("cancelled", early.cancelled());
    let l = lane.clone();
    let victim = lp.call_later(20 * MS, move || l.note("cancelled by a timer (never)"))?;
    let l = lane.clone();
    lp.call_later(10 * MS, move || {
        l.note("fire canceller");
        victim.cancel();
    })?;
    let l = lane.clone();
    lp.call_later(30 * MS, move || l.note("fire last"))?;
    let lp2 = lp.clone();
    cx.run(async move { lp2.sleep(40 * MS).await })?;
    lane.note("done");
    Ok(())
}

/// `call_later(0)` goes through the timer queue: callbacks already queued with
/// `call_soon` run before it, even one queued after it.
pub(crate) fn call_later_zero_after_call_soon<N: Backend>(cx: &Cx<N>) -> Outcome {
    let lane = cx.lane("callbacks");
    let lp = cx.lp().clone();
    let l = lane.clone();
    lp.call_later(Duration::ZERO, move || l.note("call_later(0)"))?;
    let l = lane.clone();
    lp.call_soon(move || l.note("call_soon"))?;
    let lp2 = lp.clone();
    cx.run(async move {
        lp2.sleep(MS).await?;
        Ok(())
    })?;
    lane.note("done");
    Ok(())
}

/// `sleep(0)` yields exactly once: two tasks alternate step by step; a positive sleep
/// never returns early.
pub(crate) fn sleep_zero_yields_once<N: Backend>(cx: &Cx<N>) -> Outcome {
    let lane = cx.lane("tasks");
    let lp = cx.lp().clone();
    let spawn = |name: &'static str| {
        let (l, lp2) = (lane.clone(), lp.clone());
        lp.create_try_task(async move {
            for step in 1..=3 {
                l.note(format!("{name} step {step}"));
                lp2.sleep(Duration::ZERO).await?;
            }
            let before = lp2.time();
            lp2.sleep(5 * MS).await?;
            l.check(
                &format!("{name} slept at least 5 ms"),
                lp2.time() >= before + 5 * MS,
            );
            Ok::<_, Error>(())
        })
    };
    let (a, b) = (spawn("a"), spawn("b"));
    cx.run(async move {
        a.await?;
        b.await?;
        Ok(())
    })?;
    Ok(())
}

/// `wait_for`: the result when in time; `TimeoutError` otherwise, with the inner task
/// cancelled (its future dropped); no timeout waits as long as needed.
pub(crate) fn wait_for_timeout<N: Backend>(cx: &Cx<N>) -> Outcome {
    let lane = cx.lane("main");
    let lp = cx.lp().clone();
    struct Guard(crate::Lane);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.note("slow body dropped");
        }
    }
    let (l, lp2) = (lane.clone(), lp.clone());
    cx.run(async move {
        let quick = {
            let lp3 = lp2.clone();
            async move {
                lp3.sleep(5 * MS).await?;
                Ok::<_, Error>("quick")
            }
        };
        let r = wait_for(&lp2, quick, Some(Duration::from_secs(3600))).await;
        l.outcome("quick within an hour", &r.and_then(|inner| inner));
        let slow = {
            let (lp3, l3) = (lp2.clone(), l.clone());
            async move {
                let _guard = Guard(l3);
                lp3.sleep(Duration::from_secs(3600)).await?;
                Ok::<_, Error>("slow")
            }
        };
        let r = wait_for(&lp2, slow, Some(20 * MS)).await;
        l.outcome("slow within 20 ms", &r.and_then(|inner| inner));
        let r = wait_for(&lp2, lp2.sleep(5 * MS), None).await;
        l.status("no timeout", &r.and_then(|inner| inner));
        let task = lp2.create_task(async { 5 });
        let r = wait_for(&lp2, &task, Some(Duration::ZERO)).await;
        l.outcome("zero timeout on a pending task", &r);
        l.check("the task was cancelled", task.cancelled());
        Ok(())
    })?;
    Ok(())
}
