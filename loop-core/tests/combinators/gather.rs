//! `gather` / `gather_settled` (asyncio's `gather`, with `return_exceptions` false and
//! true).

use loop_core::{ErrorKind, EventLoop, ReturnWhen, gather, gather_settled, sim::SimHost, wait};

use crate::util::{Log, after, fail_after, guarded, new_loop, now, run_for, secs};

#[test]
fn results_come_in_input_order_not_completion_order() {
    // "the returned future's result is the list of results (in the order of the
    // original sequence, not necessarily the order of results arrival)"
    let lp = new_loop();
    let tasks = [
        after(&lp, 3.0, 'a'),
        after(&lp, 1.0, 'b'),
        after(&lp, 2.0, 'c'),
    ];
    let all = gather(&lp, &tasks);
    assert_eq!(
        lp.run_until_complete(all).unwrap().unwrap(),
        ['a', 'b', 'c']
    );
    assert_eq!(now(&lp), 3.0);
}

#[test]
fn rust_futures_are_wrapped_in_tasks_and_need_not_be_clone() {
    #[derive(Debug, PartialEq)]
    struct NotClone(u32);

    let lp = new_loop();
    let jobs = [2u32, 1].map(|n| {
        let lp2 = lp.clone();
        async move {
            lp2.sleep(secs(f64::from(n))).await.unwrap();
            NotClone(n)
        }
    });
    let all = gather(&lp, jobs);
    let waited = wait(&lp, [all.clone()], None, ReturnWhen::AllCompleted);
    lp.run_until_complete(waited).unwrap().unwrap();
    assert_eq!(all.take_result().unwrap(), [NotClone(2), NotClone(1)]);
}

#[test]
fn loop_futures_tasks_and_duplicates_are_all_gathered() {
    let lp = new_loop();
    let fut = lp.create_future::<i32>();
    let f2 = fut.clone();
    lp.call_later(secs(2.0), move || f2.set_result(5).unwrap())
        .unwrap();
    let task = after(&lp, 1.0, 6);
    let all = gather(&lp, [fut.clone(), task.future().clone(), fut.clone()]);
    assert_eq!(lp.run_until_complete(all).unwrap().unwrap(), [5, 6, 5]);
}

#[test]
fn children_done_before_the_gather_are_collected() {
    let lp = new_loop();
    let fut = lp.create_future::<i32>();
    fut.set_result(1).unwrap();
    let all = gather(&lp, [fut]);
    assert_eq!(lp.run_until_complete(all).unwrap().unwrap(), [1]);
}

#[test]
fn the_first_error_fails_the_outer_future_and_the_others_keep_running() {
    // "the first raised exception will be immediately propagated to the returned
    // future" — the other children are not cancelled.
    let lp = new_loop();
    let log = Log::default();
    let slow = guarded(&lp, &log, "slow", 5.0);
    let first = fail_after(&lp, 1.0, "first");
    let second = fail_after(&lp, 2.0, "second");
    let slow_i32 = {
        let slow = slow.clone();
        lp.create_task(async move { slow.await.map(|_| 0).unwrap_or(-1) })
    };
    let all = gather(&lp, [slow_i32, first, second]);
    let err = lp.run_until_complete(&all).unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Other);
    assert_eq!(err.message(), Some("first"));
    assert_eq!(now(&lp), 1.0);
    assert!(!slow.done());
    // The slow child finishes normally; the second error changes nothing.
    lp.run_until_complete(&slow).unwrap().unwrap();
    assert_eq!(log.entries(), ["slow done", "slow dropped"]);
    assert_eq!(all.exception().unwrap().unwrap().message(), Some("first"));
}

#[test]
fn a_cancelled_child_fails_the_outer_future_without_cancelling_the_others() {
    // "If any child is cancelled, this is treated as if it raised CancelledError -- the
    // outer Future is *not* cancelled in this case. (This is to prevent the
    // cancellation of one child to cause other children to be cancelled.)"
    let lp = new_loop();
    let log = Log::default();
    let victim = guarded(&lp, &log, "victim", 10.0);
    let other = guarded(&lp, &log, "other", 5.0);
    let v = victim.clone();
    lp.call_later(secs(1.0), move || {
        v.cancel_with_message("cut");
    })
    .unwrap();
    let all = gather(&lp, [&victim, &other]);
    let err = lp.run_until_complete(&all).unwrap().unwrap_err();
    assert!(err.is_cancelled());
    assert_eq!(err.message(), Some("cut"));
    assert!(!other.done());
    lp.run_until_complete(&other).unwrap().unwrap();
    assert_eq!(
        log.entries(),
        ["victim dropped", "other done", "other dropped"]
    );
    assert_eq!(now(&lp), 5.0);
}

#[test]
fn after_a_cancelled_child_the_outer_future_failed_but_is_not_cancelled() {
    // "If any child is cancelled, this is treated as if it raised CancelledError -- the
    // outer Future is *not* cancelled in this case." In CPython the outer future is
    // FINISHED with the CancelledError as its exception: `cancelled()` is False and
    // `exception()` returns the error instead of raising it.
    let lp = new_loop();
    let victim = after(&lp, 10.0, 1);
    let other = after(&lp, 5.0, 2);
    let v = victim.clone();
    lp.call_later(secs(1.0), move || {
        v.cancel_with_message("cut");
    })
    .unwrap();
    let all = gather(&lp, [&victim, &other]);
    let err = lp.run_until_complete(&all).unwrap().unwrap_err();
    assert!(err.is_cancelled());
    assert!(victim.cancelled());
    assert!(all.done());
    assert!(!all.cancelled(), "the outer future is not cancelled");
    let exception = all.exception().unwrap().expect("the outer future failed");
    assert!(exception.is_cancelled());
    assert_eq!(exception.message(), Some("cut"));
    assert!(format!("{all:?}").contains("failed"));
    // Its done-callback sees an outer future that was not cancelled, so the other child
    // keeps running (it is only cancelled when the outer future itself is).
    run_for(&lp, 1.0);
    assert!(!other.cancelled());
    assert_eq!(lp.run_until_complete(&other).unwrap().unwrap(), 2);
}

#[test]
fn a_task_awaiting_a_gather_with_a_cancelled_child_is_cancelled() {
    // A coroutine that lets the CancelledError of `await gather(...)` propagate ends its
    // task as cancelled (Task.__step: `except CancelledError: super().cancel()`), though
    // the gather itself is not cancelled.
    let lp = new_loop();
    let victim = after(&lp, 10.0, 1);
    let v = victim.clone();
    lp.call_later(secs(1.0), move || {
        v.cancel();
    })
    .unwrap();
    let all = gather(&lp, [&victim]);
    let outer = all.clone();
    let waiter = lp.create_try_task(async move { outer.await });
    let err = lp.run_until_complete(&waiter).unwrap().unwrap_err();
    assert!(err.is_cancelled());
    assert!(
        waiter.cancelled(),
        "the awaiting task re-raised and is cancelled"
    );
    assert!(!all.cancelled());
}

#[test]
fn settled_mode_collects_errors_and_cancellations_as_results() {
    // return_exceptions=True: "exceptions in the tasks are treated the same as
    // successful results, and gathered in the result list"
    let lp = new_loop();
    let ok = after(&lp, 3.0, 1);
    let failed = fail_after(&lp, 1.0, "boom");
    let cancelled = after(&lp, 10.0, 3);
    let c = cancelled.clone();
    lp.call_later(secs(2.0), move || {
        c.cancel_with_message("enough");
    })
    .unwrap();
    let all = gather_settled(&lp, [&ok, &failed, &cancelled]);
    let results = lp.run_until_complete(&all).unwrap().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0], Ok(1));
    assert_eq!(results[1].as_ref().unwrap_err().message(), Some("boom"));
    let cancel = results[2].as_ref().unwrap_err();
    assert!(cancel.is_cancelled());
    assert_eq!(cancel.message(), Some("enough"));
    assert!(!all.cancelled());
    assert_eq!(now(&lp), 3.0);
}

#[test]
fn cancelling_the_outer_future_cancels_the_children_not_done() {
    // "if the outer Future is cancelled, all children (that have not completed yet) are
    // also cancelled."
    for settled in [false, true] {
        let lp = new_loop();
        let log = Log::default();
        let quick = guarded(&lp, &log, "quick", 1.0);
        let slow = guarded(&lp, &log, "slow", 10.0);
        let outer = if settled {
            let all = gather_settled(&lp, [&quick, &slow]);
            all.as_ref()
        } else {
            let all = gather(&lp, [&quick, &slow]);
            all.as_ref()
        };
        let o = outer.clone();
        lp.call_later(secs(2.0), move || {
            assert!(o.cancel());
        })
        .unwrap();
        run_for(&lp, 3.0);
        assert!(outer.cancelled());
        assert_eq!(quick.result().unwrap(), "quick");
        assert!(slow.cancelled());
        assert_eq!(
            log.entries(),
            ["quick done", "quick dropped", "slow dropped"],
            "settled: {settled}"
        );
    }
}

#[test]
fn the_cancel_message_reaches_the_children() {
    let lp = new_loop();
    let child = after(&lp, 10.0, 0);
    let all = gather(&lp, [&child]);
    let a = all.clone();
    lp.call_later(secs(1.0), move || {
        a.cancel_with_message(Some("shutdown".into()));
    })
    .unwrap();
    let err = lp.run_until_complete(&child).unwrap().unwrap_err();
    assert!(err.is_cancelled());
    assert_eq!(err.message(), Some("shutdown"));
}

#[test]
fn cancelling_the_task_awaiting_a_gather_cancels_the_children() {
    let lp = new_loop();
    let log = Log::default();
    let a = guarded(&lp, &log, "a", 10.0);
    let b = guarded(&lp, &log, "b", 20.0);
    let all = gather(&lp, [a.clone(), b.clone()]);
    let waiter = lp.create_task(async move { all.await });
    let w = waiter.clone();
    lp.call_later(secs(1.0), move || {
        w.cancel();
    })
    .unwrap();
    assert!(
        lp.run_until_complete(&waiter)
            .unwrap()
            .unwrap_err()
            .is_cancelled()
    );
    run_for(&lp, 1.0);
    assert!(a.cancelled() && b.cancelled());
    assert_eq!(log.entries(), ["a dropped", "b dropped"]);
}

#[test]
fn an_empty_gather_is_done_at_once_with_no_results() {
    // CPython: `outer.set_result([])` before returning it.
    let lp = new_loop();
    let none: [loop_core::Future<i32>; 0] = [];
    let all = gather(&lp, none.clone());
    assert!(all.done());
    assert_eq!(all.result().unwrap(), Vec::<i32>::new());
    let settled = gather_settled(&lp, none);
    assert_eq!(settled.result().unwrap().len(), 0);
    assert_eq!(
        lp.run_until_complete(all).unwrap().unwrap(),
        Vec::<i32>::new()
    );
}

#[test]
fn a_future_of_another_loop_is_invalid_input() {
    let lp = new_loop();
    let other = EventLoop::new(SimHost::new(8));
    let foreign = other.create_future::<i32>();
    let all = gather(&lp, [foreign]);
    assert_eq!(
        all.exception().unwrap().unwrap().kind(),
        ErrorKind::InvalidInput
    );
}

#[test]
fn completion_takes_as_many_iterations_as_in_asyncio() {
    // A child completing in iteration k runs gather's done-callback in k+1, which
    // completes the outer future; a task awaiting it resumes in k+2.
    let lp = new_loop();
    let child = lp.create_future::<i32>();
    let all = gather(&lp, [child.clone()]);
    let log = Log::default();
    let l = log.clone();
    let waiter = lp.create_task(async move {
        let r = all.await.unwrap();
        l.push(format!("resumed with {r:?}"));
    });
    let (lp2, l, c) = (lp.clone(), log.clone(), child.clone());
    lp.call_soon(move || {
        c.set_result(9).unwrap();
        l.push("iteration k");
        let l = l.clone();
        let lp3 = lp2.clone();
        lp2.call_soon(move || {
            l.push("iteration k+1");
            let l = l.clone();
            lp3.call_soon(move || l.push("iteration k+2")).unwrap();
        })
        .unwrap();
    })
    .unwrap();
    lp.run_until_complete(waiter).unwrap().unwrap();
    assert_eq!(
        log.entries(),
        [
            "iteration k",
            "iteration k+1",
            "resumed with [9]",
            "iteration k+2"
        ]
    );
}
