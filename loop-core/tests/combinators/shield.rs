//! `shield` (asyncio's `shield(aw)`).

use loop_core::{ErrorKind, EventLoop, shield, sim::SimHost};

use crate::util::{Log, after, fail_after, guarded, new_loop, now, run_for, secs};

#[test]
fn cancelling_the_shield_does_not_cancel_the_inner_task() {
    let lp = new_loop();
    let log = Log::default();
    let inner = guarded(&lp, &log, "inner", 5.0);
    let outer = shield(&lp, &inner);
    let o = outer.clone();
    lp.call_later(secs(1.0), move || {
        assert!(o.cancel());
    })
    .unwrap();
    assert_eq!(lp.run_until_complete(&inner).unwrap().unwrap(), "inner");
    assert!(outer.cancelled());
    assert_eq!(log.entries(), ["inner done", "inner dropped"]);
}

#[test]
fn cancelling_the_task_awaiting_the_shield_leaves_the_inner_task_running() {
    // "if the coroutine containing it is cancelled, the task running in something() is
    // not cancelled ... But its caller is still cancelled"
    let lp = new_loop();
    let log = Log::default();
    let inner = guarded(&lp, &log, "inner", 5.0);
    let shielded = shield(&lp, &inner);
    let caller = lp.create_task(async move { shielded.await });
    let c = caller.clone();
    lp.call_later(secs(1.0), move || {
        c.cancel();
    })
    .unwrap();
    assert!(
        lp.run_until_complete(&caller)
            .unwrap()
            .unwrap_err()
            .is_cancelled()
    );
    assert!(!inner.done());
    run_for(&lp, 5.0);
    assert_eq!(inner.result().unwrap(), "inner");
    assert_eq!(log.entries(), ["inner done", "inner dropped"]);
}

#[test]
fn cancelling_the_inner_task_cancels_the_shield() {
    // "If something() is cancelled by other means this will still cancel shield()."
    let lp = new_loop();
    let inner = after(&lp, 5.0, 1);
    let outer = shield(&lp, &inner);
    let i = inner.clone();
    lp.call_later(secs(1.0), move || {
        i.cancel();
    })
    .unwrap();
    assert!(
        lp.run_until_complete(&outer)
            .unwrap()
            .unwrap_err()
            .is_cancelled()
    );
    assert!(outer.cancelled());
    assert!(now(&lp) < 2.0);
}

#[test]
fn the_inner_result_or_error_propagates() {
    let lp = new_loop();
    let ok = shield(&lp, after(&lp, 1.0, 7));
    assert_eq!(lp.run_until_complete(&ok).unwrap().unwrap(), 7);
    let failed = shield(&lp, fail_after(&lp, 1.0, "bad"));
    let err = lp.run_until_complete(&failed).unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Other);
    assert_eq!(err.message(), Some("bad"));
}

#[test]
fn a_rust_future_is_wrapped_in_a_task_that_survives_the_cancel() {
    let lp = new_loop();
    let log = Log::default();
    let (lp2, l) = (lp.clone(), log.clone());
    let outer = shield(&lp, async move {
        lp2.sleep(secs(2.0)).await.unwrap();
        l.push("finished");
    });
    outer.cancel();
    run_for(&lp, 3.0);
    assert_eq!(log.entries(), ["finished"]);
}

#[test]
fn a_done_future_is_returned_as_it_is() {
    let lp = new_loop();
    let fut = lp.create_future::<i32>();
    fut.set_result(1).unwrap();
    assert!(shield(&lp, &fut).ptr_eq(&fut));
}

#[test]
fn a_future_of_another_loop_is_invalid_input() {
    let lp = new_loop();
    let other = EventLoop::new(SimHost::new(8));
    let foreign = other.create_future::<i32>();
    let outer = shield(&lp, foreign);
    assert_eq!(
        outer.exception().unwrap().unwrap().kind(),
        ErrorKind::InvalidInput
    );
}
