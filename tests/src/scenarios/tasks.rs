//! Task cancellation and the combinators (`gather`, `wait`, `as_completed`, `shield`).

use std::time::Duration;

use loop_core::{
    Error, ErrorKind, EventLoop, ReturnWhen, as_completed, gather, gather_settled, shield, wait,
};

use super::Outcome;
use crate::context::{Backend, Cx};
use crate::trace::Lane;

const MS: Duration = Duration::from_millis(1);

/// Records when a task's body is dropped (a cancelled task's future is dropped).
struct DropNote(Lane, &'static str);

impl Drop for DropNote {
    fn drop(&mut self) {
        self.0.note(format!("{} dropped", self.1));
    }
}

/// A task that sleeps `ms` then returns `value`, recording its end in `lane`.
fn sleeper(
    lp: &EventLoop,
    lane: &Lane,
    name: &'static str,
    ms: u64,
    value: u32,
) -> impl Future<Output = Result<u32, Error>> + 'static {
    let (lp, lane) = (lp.clone(), lane.clone());
    async move {
        let _drop = DropNote(lane.clone(), name);
        lp.sleep(Duration::from_millis(ms)).await?;
        lane.note(format!("{name} finished"));
        Ok(value)
    }
}

/// Cancelling a sleeping task: its body is dropped, awaiting it gives `CancelledError`
/// (with the message given to `cancel`), and cancelling a done task returns `false`.
pub(crate) fn task_cancel_while_sleeping<N: Backend>(cx: &Cx<N>) -> Outcome {
    let lane = cx.lane("main");
    let lp = cx.lp().clone();
    let task = lp.create_try_task(sleeper(&lp, &lane, "sleeper", 3_600_000, 1));
    let messaged = lp.create_try_task(sleeper(&lp, &lane, "messaged", 3_600_000, 2));
    let (l, lp2) = (lane.clone(), lp.clone());
    cx.run(async move {
        lp2.sleep(10 * MS).await?;
        l.check("cancel returns true", task.cancel());
        l.check(
            "cancel again returns true (still cancelling)",
            task.cancel(),
        );
        l.check(
            "cancel with a message",
            messaged.cancel_with_message("stop now"),
        );
        let r = (&task).await;
        l.outcome("awaiting the cancelled task", &r);
        l.check("cancelled()", task.cancelled());
        let r = (&messaged).await;
        l.note(format!(
            "message: {:?}",
            r.as_ref().err().and_then(|e| e.message())
        ));
        l.check("cancel after done returns false", !task.cancel());
        Ok(())
    })?;
    Ok(())
}

/// Cancelling a task cancels the future it awaits (asyncio's `_fut_waiter`), and a task
/// awaiting a cancelled task gets `CancelledError` too.
pub(crate) fn task_cancel_propagates<N: Backend>(cx: &Cx<N>) -> Outcome {
    let lane = cx.lane("main");
    let lp = cx.lp().clone();
    let fut = lp.create_future::<u32>();
    let f = fut.clone();
    let inner = lp.create_task(async move { f.await });
    let i = inner.clone();
    let outer = lp.create_task(async move { i.await });
    let (l, lp2) = (lane.clone(), lp.clone());
    cx.run(async move {
        lp2.sleep(MS).await?;
        inner.cancel();
        let r = (&outer).await;
        l.outcome("outer", &r.and_then(|x| x));
        l.check("the awaited future was cancelled", fut.cancelled());
        l.check("inner cancelled", inner.cancelled());
        Ok(())
    })?;
    Ok(())
}

/// `gather`: results in input order whatever the completion order; the first error is
/// the outcome while the other children keep running.
pub(crate) fn gather_order_and_first_error<N: Backend>(cx: &Cx<N>) -> Outcome {
    let lane = cx.lane("main");
    let lp = cx.lp().clone();
    let (l, lp2) = (lane.clone(), lp.clone());
    cx.run(async move {
        let all = gather(
            &lp2,
            [
                sleeper(&lp2, &l, "c30", 30, 30),
                sleeper(&lp2, &l, "a10", 10, 10),
                sleeper(&lp2, &l, "b20", 20, 20),
            ],
        );
        let r = all.await;
        l.outcome(
            "gather",
            &r.map(|v| v.into_iter().collect::<Result<Vec<_>, _>>()),
        );
        let failing = {
            let lp3 = lp2.clone();
            async move {
                lp3.sleep(5 * MS).await?;
                Err::<u32, _>(Error::new(ErrorKind::InvalidInput, "bad input"))
            }
        };
        let slow = lp2.create_try_task(sleeper(&lp2, &l, "survivor", 20, 1));
        let fail_task = lp2.create_try_task(failing);
        let r = gather(&lp2, [&fail_task, &slow]).await;
        l.outcome("gather with a failure", &r);
        l.check("the other child still runs", !slow.done());
        let r = (&slow).await;
        l.outcome("survivor", &r);
        Ok(())
    })?;
    Ok(())
}

/// `gather_settled` (asyncio's `return_exceptions=True`): every outcome in input order,
/// errors and cancellations included.
pub(crate) fn gather_settled_outcomes<N: Backend>(cx: &Cx<N>) -> Outcome {
    let lane = cx.lane("main");
    let lp = cx.lp().clone();
    let (l, lp2) = (lane.clone(), lp.clone());
    cx.run(async move {
        let ok = lp2.create_try_task(sleeper(&lp2, &l, "ok", 10, 1));
        let failed =
            lp2.create_try_task(async { Err::<u32, _>(Error::from_kind(ErrorKind::Other)) });
        let cancelled = lp2.create_try_task(sleeper(&lp2, &l, "cancelled", 3_600_000, 3));
        let c = cancelled.clone();
        lp2.call_later(MS, move || {
            c.cancel();
        })?;
        let r = gather_settled(&lp2, [ok, failed, cancelled]).await?;
        for (i, outcome) in r.iter().enumerate() {
            l.outcome(&format!("child {i}"), outcome);
        }
        Ok(())
    })?;
    Ok(())
}

/// `wait`: `FIRST_COMPLETED` returns as soon as one is done, `FIRST_EXCEPTION` at the
/// first error, a timeout returns what is done so far and cancels nothing.
pub(crate) fn wait_return_when<N: Backend>(cx: &Cx<N>) -> Outcome {
    let lane = cx.lane("main");
    let lp = cx.lp().clone();
    let (l, lp2) = (lane.clone(), lp.clone());
    cx.run(async move {
        let fast = lp2.create_try_task(sleeper(&lp2, &l, "fast", 10, 1));
        let slow = lp2.create_try_task(sleeper(&lp2, &l, "slow", 400, 2));
        let (done, pending) = wait(
            &lp2,
            [fast.clone(), slow.clone()],
            None,
            ReturnWhen::FirstCompleted,
        )
        .await?;
        l.note(format!(
            "first completed: {} done, {} pending, fast done: {}",
            done.len(),
            pending.len(),
            fast.done()
        ));
        let failing = lp2.create_try_task({
            let lp3 = lp2.clone();
            async move {
                lp3.sleep(5 * MS).await?;
                Err::<u32, _>(Error::from_kind(ErrorKind::Other))
            }
        });
        let (done, pending) = wait(
            &lp2,
            [failing.clone(), slow.clone()],
            None,
            ReturnWhen::FirstException,
        )
        .await?;
        l.note(format!(
            "first exception: {} done, {} pending",
            done.len(),
            pending.len()
        ));
        let (done, pending) =
            wait(&lp2, [slow.clone()], Some(5 * MS), ReturnWhen::AllCompleted).await?;
        l.note(format!(
            "timeout: {} done, {} pending, slow cancelled: {}",
            done.len(),
            pending.len(),
            slow.cancelled()
        ));
        let (done, _) = wait(&lp2, [slow.clone()], None, ReturnWhen::AllCompleted).await?;
        l.note(format!("all completed: {} done", done.len()));
        let empty: [loop_core::Task<u32>; 0] = [];
        let r = wait(&lp2, empty, None, ReturnWhen::AllCompleted).await;
        l.status("wait on nothing", &r);
        Ok(())
    })?;
    Ok(())
}

/// `as_completed` yields outcomes in completion order, errors included, and its timeout
/// ends the iteration with `TimeoutError`.
pub(crate) fn as_completed_order<N: Backend>(cx: &Cx<N>) -> Outcome {
    let lane = cx.lane("main");
    let lp = cx.lp().clone();
    let (l, lp2) = (lane.clone(), lp.clone());
    cx.run(async move {
        let failing = {
            let lp3 = lp2.clone();
            async move {
                lp3.sleep(15 * MS).await?;
                Err::<u32, _>(Error::from_kind(ErrorKind::Other))
            }
        };
        let tasks = [
            lp2.create_try_task(sleeper(&lp2, &l, "t30", 30, 30)),
            lp2.create_try_task(sleeper(&lp2, &l, "t10", 10, 10)),
            lp2.create_try_task(failing),
            lp2.create_try_task(sleeper(&lp2, &l, "t3600000", 3_600_000, 0)),
        ];
        let mut it = as_completed(&lp2, tasks.iter(), Some(100 * MS));
        while let Some(r) = it.next().await {
            let timed_out = matches!(&r, Err(e) if e.kind() == ErrorKind::Timeout);
            l.outcome("next", &r);
            if timed_out {
                break;
            }
        }
        l.check("the slow task was not cancelled", !tasks[3].done());
        tasks[3].cancel();
        let _ = (&tasks[3]).await;
        Ok(())
    })?;
    Ok(())
}

/// `shield`: cancelling the outer future (or the task awaiting it) leaves the inner one
/// running to completion.
pub(crate) fn shield_protects_inner<N: Backend>(cx: &Cx<N>) -> Outcome {
    let lane = cx.lane("main");
    let lp = cx.lp().clone();
    let (l, lp2) = (lane.clone(), lp.clone());
    cx.run(async move {
        let inner = lp2.create_try_task(sleeper(&lp2, &l, "inner", 200, 42));
        let shielded = shield(&lp2, &inner);
        let waiter = lp2.create_task(async move { shielded.await });
        let w = waiter.clone();
        lp2.call_later(5 * MS, move || {
            w.cancel();
        })?;
        let r = (&waiter).await;
        l.outcome("waiter", &r.and_then(|x| x));
        l.check("inner still running", !inner.done());
        let r = (&inner).await;
        l.outcome("inner", &r);
        Ok(())
    })?;
    Ok(())
}

/// A task's error is its outcome (`create_try_task`'s `Err`); a task awaiting it gets
/// the same kind, and `exception()` reports it.
pub(crate) fn task_errors_propagate<N: Backend>(cx: &Cx<N>) -> Outcome {
    let lane = cx.lane("main");
    let lp = cx.lp().clone();
    let (l, lp2) = (lane.clone(), lp.clone());
    cx.run(async move {
        let failing = lp2.create_try_task(async {
            Err::<u32, _>(Error::new(ErrorKind::QueueEmpty, "nothing left"))
        });
        let f = failing.clone();
        let awaiting = lp2.create_try_task(async move { f.await });
        let r = (&awaiting).await;
        l.outcome("awaiting a failing task", &r);
        l.outcome(
            "exception()",
            &failing.exception().map(|e| e.map(|e| e.kind())),
        );
        Ok(())
    })?;
    Ok(())
}
