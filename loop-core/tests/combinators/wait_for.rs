//! `wait_for` (asyncio's `wait_for(aw, timeout)`).

use std::future::Future as _;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use loop_core::{ErrorKind, EventLoop, sim::SimHost, wait_for};

use crate::util::{DropGuard, Log, after, fail_after, guarded, new_loop, now, secs};

#[test]
fn a_result_before_the_timeout_is_returned() {
    let lp = new_loop();
    let task = after(&lp, 2.0, 42);
    let r = lp
        .run_until_complete(wait_for(&lp, task, Some(secs(5.0))))
        .unwrap();
    assert_eq!(r.unwrap(), 42);
    assert_eq!(now(&lp), 2.0);
}

#[test]
fn an_error_before_the_timeout_is_returned_as_is() {
    let lp = new_loop();
    let task = fail_after(&lp, 1.0, "inner");
    let err = lp
        .run_until_complete(wait_for(&lp, task, Some(secs(5.0))))
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Other);
    assert_eq!(err.message(), Some("inner"));
}

#[test]
fn on_timeout_the_inner_task_is_cancelled_and_waited_for() {
    // CPython: "If a timeout occurs, it cancels the task and raises TimeoutError", and
    // waits for the cancellation to finish (bpo-32751): the inner task's cleanup
    // happens before wait_for returns.
    let lp = new_loop();
    let log = Log::default();
    let inner = guarded(&lp, &log, "inner", 60.0);
    let (l, i) = (log.clone(), inner.clone());
    let lp2 = lp.clone();
    let outer = lp.create_task(async move {
        let r = wait_for(&lp2, i.clone(), Some(secs(5.0))).await;
        assert!(
            i.cancelled(),
            "wait_for returned before the inner task finished"
        );
        l.push(format!(
            "wait_for returned {:?} at {}",
            r.map_err(|e| e.kind()),
            now(&lp2)
        ));
    });
    lp.run_until_complete(outer).unwrap().unwrap();
    assert_eq!(
        log.entries(),
        ["inner dropped", "wait_for returned Err(Timeout) at 5"]
    );
    assert!(inner.cancelled());
}

#[test]
fn a_rust_future_is_wrapped_in_a_task_and_dropped_on_timeout() {
    let lp = new_loop();
    let log = Log::default();
    let guard = DropGuard {
        log: log.clone(),
        name: "future",
    };
    let lp2 = lp.clone();
    let slow = async move {
        let _guard = guard;
        lp2.sleep(secs(60.0)).await.unwrap();
    };
    let err = lp
        .run_until_complete(wait_for(&lp, slow, Some(secs(1.0))))
        .unwrap()
        .unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(log.entries(), ["future dropped"]);
    assert_eq!(now(&lp), 1.0);
}

#[test]
fn results_that_are_not_clone_are_moved_out() {
    #[derive(Debug, PartialEq)]
    struct Connection(u8);

    let lp = new_loop();
    let lp2 = lp.clone();
    let connect = async move {
        lp2.sleep(secs(1.0)).await.unwrap();
        Connection(7)
    };
    let r = lp
        .run_until_complete(wait_for(&lp, connect, Some(secs(2.0))))
        .unwrap();
    assert_eq!(r.unwrap(), Connection(7));
}

#[test]
fn no_timeout_waits_as_long_as_it_takes() {
    let lp = new_loop();
    let task = after(&lp, 86_400.0, "a day later");
    let r = lp.run_until_complete(wait_for(&lp, task, None)).unwrap();
    assert_eq!(r.unwrap(), "a day later");
    assert_eq!(now(&lp), 86_400.0);
}

#[test]
fn a_zero_timeout_returns_the_result_of_a_done_future() {
    let lp = new_loop();
    let fut = lp.create_future::<i32>();
    fut.set_result(3).unwrap();
    let r = lp
        .run_until_complete(wait_for(&lp, fut.clone(), Some(Duration::ZERO)))
        .unwrap();
    assert_eq!(r.unwrap(), 3);
}

#[test]
fn a_zero_timeout_cancels_a_pending_future_at_once() {
    let lp = new_loop();
    let log = Log::default();
    let inner = guarded(&lp, &log, "inner", 1.0);
    let err = lp
        .run_until_complete(wait_for(&lp, inner.clone(), Some(Duration::ZERO)))
        .unwrap()
        .unwrap_err();
    assert!(err.is_timeout());
    assert!(inner.cancelled());
    assert_eq!(log.entries(), ["inner dropped"]);
    assert_eq!(now(&lp), 0.0);
}

#[test]
fn cancelling_the_waiting_task_cancels_the_inner_one_first() {
    let lp = new_loop();
    let log = Log::default();
    let inner = guarded(&lp, &log, "inner", 60.0);
    let lp2 = lp.clone();
    let i = inner.clone();
    let outer = lp.create_task(async move { wait_for(&lp2, i, Some(secs(30.0))).await });
    let l = log.clone();
    inner.add_done_callback(move |f| l.push(format!("inner done, cancelled: {}", f.cancelled())));
    let l = log.clone();
    outer.add_done_callback(move |f| l.push(format!("outer done, cancelled: {}", f.cancelled())));
    let o = outer.clone();
    lp.call_later(secs(1.0), move || {
        o.cancel();
    })
    .unwrap();
    let r = lp.run_until_complete(&outer).unwrap();
    assert!(r.unwrap_err().is_cancelled());
    crate::util::run_for(&lp, 1.0);
    assert_eq!(
        log.entries(),
        [
            "inner dropped",
            "inner done, cancelled: true",
            "outer done, cancelled: true"
        ]
    );
    assert_eq!(now(&lp), 2.0);
}

#[test]
fn dropping_a_started_wait_for_cancels_the_inner_future() {
    let lp = new_loop();
    let inner = after(&lp, 10.0, 1);
    let lp2 = lp.clone();
    let i = inner.clone();
    let t = lp.create_task(async move {
        let mut wf = wait_for(&lp2, i, Some(secs(5.0)));
        std::future::poll_fn(|cx| {
            assert!(Pin::new(&mut wf).poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        drop(wf);
    });
    lp.run_until_complete(t).unwrap().unwrap();
    crate::util::run_for(&lp, 1.0);
    assert!(inner.cancelled());
}

#[test]
fn dropping_an_unstarted_wait_for_leaves_the_future_alone() {
    let lp = new_loop();
    let inner = after(&lp, 1.0, 1);
    drop(wait_for(&lp, inner.clone(), Some(secs(5.0))));
    assert_eq!(lp.run_until_complete(&inner).unwrap().unwrap(), 1);
}

#[test]
fn an_inner_future_cancelled_by_someone_else_is_a_cancellation_not_a_timeout() {
    let lp = new_loop();
    let inner = after(&lp, 10.0, 1);
    let i = inner.clone();
    lp.call_later(secs(1.0), move || {
        i.cancel();
    })
    .unwrap();
    let err = lp
        .run_until_complete(wait_for(&lp, inner.clone(), Some(secs(5.0))))
        .unwrap()
        .unwrap_err();
    assert!(err.is_cancelled());
    assert_eq!(now(&lp), 1.0);
}

#[test]
fn a_plain_future_is_cancelled_on_timeout() {
    let lp = new_loop();
    let fut = lp.create_future::<i32>();
    let err = lp
        .run_until_complete(wait_for(&lp, fut.clone(), Some(secs(2.0))))
        .unwrap()
        .unwrap_err();
    assert!(err.is_timeout());
    assert!(fut.cancelled());
}

#[test]
fn the_timer_is_removed_when_the_future_completes_first() {
    let lp = new_loop();
    let task = after(&lp, 1.0, 1);
    lp.run_until_complete(wait_for(&lp, task, Some(secs(100.0))))
        .unwrap()
        .unwrap();
    assert_eq!(crate::util::run_until_idle(&lp), 1.0);
}

#[test]
fn a_future_of_another_loop_is_invalid_input() {
    let lp = new_loop();
    let other = EventLoop::new(SimHost::new(8));
    let foreign = other.create_future::<i32>();
    let err = lp
        .run_until_complete(wait_for(&lp, foreign, None))
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}
