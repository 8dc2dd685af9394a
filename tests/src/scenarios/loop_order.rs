//! Callback order and the loop's run/stop/close rules (asyncio's "Running and stopping
//! the loop" and "Scheduling callbacks").

use std::cell::Cell;
use std::rc::Rc;

use loop_core::{Error, ErrorKind};

use super::{Outcome, ensure};
use crate::context::{Backend, Cx};

/// "Callbacks are called in the order in which they are registered. Each callback will
/// be called exactly once." A callback scheduled by a running callback runs after those
/// already queued, and a cancelled handle never runs.
pub(crate) fn call_soon_fifo<N: Backend>(cx: &Cx<N>) -> Outcome {
    let lane = cx.lane("callbacks");
    let lp = cx.lp().clone();
    for name in ["a", "b", "c"] {
        let (l, lp2) = (lane.clone(), lp.clone());
        lp.call_soon(move || {
            l.note(format!("run {name}"));
            let l2 = l.clone();
            let _ = lp2.call_soon(move || l2.note(format!("run {name}'s follow-up")));
        })?;
    }
    let l = lane.clone();
    let cancelled = lp.call_soon(move || l.note("run cancelled callback"))?;
    let l = lane.clone();
    lp.call_soon(move || l.note("run d"))?;
    cancelled.cancel();
    lane.check("handle reports cancelled", cancelled.cancelled());
    // `stop` before `run_forever`: exactly one iteration (see stop_before_run_forever).
    lp.stop();
    lp.run_forever()?;
    lane.note("first iteration done");
    lp.stop();
    lp.run_forever()?;
    lane.note("done");
    Ok(())
}

/// "If stop() is called while run_forever() is running, this will run the current batch
/// of callbacks and then exit. Note that new callbacks scheduled by callbacks will not
/// run in this case; instead, they will run the next time run_forever() is called."
pub(crate) fn stop_runs_current_batch<N: Backend>(cx: &Cx<N>) -> Outcome {
    let lane = cx.lane("callbacks");
    let lp = cx.lp().clone();
    let (l, lp2) = (lane.clone(), lp.clone());
    lp.call_soon(move || {
        l.note("first: calls stop");
        lp2.stop();
        let l2 = l.clone();
        let _ = lp2.call_soon(move || l2.note("scheduled by first"));
    })?;
    let l = lane.clone();
    lp.call_soon(move || l.note("second (same batch)"))?;
    lp.run_forever()?;
    lane.note("run_forever returned");
    lane.check("loop not running", !lp.is_running());
    let lp2 = lp.clone();
    lp.call_soon(move || lp2.stop())?;
    lp.run_forever()?;
    lane.note("second run_forever returned");
    Ok(())
}

/// "If stop() is called before run_forever() is called, this polls the I/O selector once
/// with a timeout of zero, runs all callbacks scheduled in response to I/O events (and
/// those that were already scheduled), and then exits."
pub(crate) fn stop_before_run_forever<N: Backend>(cx: &Cx<N>) -> Outcome {
    let lane = cx.lane("callbacks");
    let lp = cx.lp().clone();
    let (l, lp2) = (lane.clone(), lp.clone());
    lp.call_soon(move || {
        l.note("already scheduled");
        let l2 = l.clone();
        let _ = lp2.call_soon(move || l2.note("scheduled during the iteration"));
    })?;
    let l = lane.clone();
    lp.call_later(std::time::Duration::from_secs(3600), move || {
        l.note("an hour later (never)");
    })?
    .cancel();
    lp.stop();
    lp.run_forever()?;
    lane.note("one iteration ran");
    lp.stop();
    lp.run_forever()?;
    lane.note("another iteration ran");
    Ok(())
}

/// `run_until_complete` returns the task's outcome; a failing task's error comes back;
/// running a running loop is a `RuntimeError`.
pub(crate) fn run_until_complete_outcomes<N: Backend>(cx: &Cx<N>) -> Outcome {
    let lane = cx.lane("main");
    let lp = cx.lp().clone();
    let value = lp.run_until_complete(async { 6 * 7 });
    lane.outcome("value", &value);
    let failing = lp.create_try_task(async {
        Err::<u8, _>(Error::new(ErrorKind::InvalidInput, "refused by the task"))
    });
    let failed = lp.run_until_complete(failing)?;
    lane.outcome("failing task", &failed);
    let lp2 = lp.clone();
    let nested = lp.run_until_complete(async move {
        let inner = lp2.run_until_complete(async { 1 });
        let forever = lp2.run_forever();
        (inner.map(|_| ()), forever)
    })?;
    lane.status("nested run_until_complete", &nested.0);
    lane.status("nested run_forever", &nested.1);
    let lp2 = lp.clone();
    let close = lp.run_until_complete(async move { lp2.close() })?;
    lane.status("close while running", &close);
    lane.check("still open", !lp.is_closed());
    Ok(())
}

/// A panicking callback is reported to the exception handler and the loop goes on with
/// the next callback.
pub(crate) fn panicking_callback_is_reported<N: Backend>(cx: &Cx<N>) -> Outcome {
    let lane = cx.lane("callbacks");
    let lp = cx.lp().clone();
    let l = lane.clone();
    lp.call_soon(move || l.note("before"))?;
    lp.call_soon(|| panic!("a callback failed"))?;
    let l = lane.clone();
    lp.call_soon(move || l.note("after"))?;
    let lp2 = lp.clone();
    cx.run(async move { lp2.sleep(std::time::Duration::ZERO).await })?;
    let lp2 = lp.clone();
    let task = lp.create_task(async move {
        let _ = lp2.sleep(std::time::Duration::ZERO).await;
        if lp2.is_running() {
            panic!("a task failed");
        }
    });
    let awaited: Result<Result<(), Error>, Error> = cx.run(async move { Ok(task.await) });
    lane.outcome("panicking task", &awaited?);
    Ok(())
}

/// Done callbacks are scheduled with `call_soon` in registration order, never run
/// inline; a removed callback never runs; one added to a done future is scheduled at
/// once.
pub(crate) fn done_callbacks_order<N: Backend>(cx: &Cx<N>) -> Outcome {
    let lane = cx.lane("main");
    let lp = cx.lp().clone();
    let fut = lp.create_future::<u32>();
    for name in ["first", "removed", "third"] {
        let l = lane.clone();
        let id = fut.add_done_callback(move |f| {
            l.outcome(&format!("{name} callback sees"), &f.result());
        });
        if name == "removed" {
            ensure(fut.remove_done_callback(id) == 1, "one callback removed")?;
        }
    }
    let l = lane.clone();
    let (f2, lp2) = (fut.clone(), lp.clone());
    lp.call_soon(move || {
        let _ = f2.set_result(7);
        l.note("set_result returned");
        let l2 = l.clone();
        let _ = lp2.call_soon(move || l2.note("scheduled after set_result"));
    })?;
    let twice = Rc::new(Cell::new(None));
    let t = twice.clone();
    let f2 = fut.clone();
    let lp2 = lp.clone();
    cx.run(async move {
        let v = f2.clone().await?;
        t.set(Some(f2.set_result(8).is_err()));
        lp2.sleep(std::time::Duration::ZERO).await?;
        Ok(v)
    })?;
    lane.check(
        "a second set_result is an InvalidState error",
        twice.get() == Some(true),
    );
    let l = lane.clone();
    fut.add_done_callback(move |_| l.note("added after done"));
    lane.note("add_done_callback returned");
    let lp2 = lp.clone();
    cx.run(async move { lp2.sleep(std::time::Duration::ZERO).await })?;
    Ok(())
}

/// A closed loop refuses work with `RuntimeError`; closing twice is harmless.
pub(crate) fn closed_loop_refuses_work<N: Backend>(cx: &Cx<N>) -> Outcome {
    let lane = cx.lane("main");
    let lp = cx.lp().clone();
    let l = lane.clone();
    lp.call_soon(move || l.note("dropped by close (never runs)"))?;
    lp.close()?;
    lane.check("closed", lp.is_closed());
    lane.status("close again", &lp.close());
    lane.status("call_soon", &lp.call_soon(|| {}));
    lane.status(
        "call_later",
        &lp.call_later(std::time::Duration::from_millis(1), || {}),
    );
    lane.status("run_forever", &lp.run_forever());
    lane.status("run_until_complete", &lp.run_until_complete(async {}));
    Ok(())
}
