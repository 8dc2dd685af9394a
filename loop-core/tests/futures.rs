//! `Future<T>`: asyncio's result / exception / cancel semantics, done-callbacks (always
//! scheduled with `call_soon`, in order) and awaiting.
mod util;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use loop_core::sim::SimHost;
use loop_core::{Error, ErrorKind, EventLoop, Future};
use util::Log;

fn new_loop() -> EventLoop {
    EventLoop::new(SimHost::new(1))
}

/// Run one non-blocking iteration.
fn turn(lp: &EventLoop) {
    lp.stop();
    lp.run_forever().unwrap();
}

#[derive(Debug)]
struct Boom;
impl std::fmt::Display for Boom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("boom")
    }
}
impl std::error::Error for Boom {}

#[test]
fn a_new_future_is_pending_and_has_no_result() {
    let lp = new_loop();
    let fut = lp.create_future::<u32>();
    assert!(!fut.done());
    assert!(!fut.cancelled());
    assert_eq!(fut.result().unwrap_err().kind(), ErrorKind::InvalidState);
    assert_eq!(fut.exception().unwrap_err().kind(), ErrorKind::InvalidState);
    assert_eq!(
        fut.take_result().unwrap_err().kind(),
        ErrorKind::InvalidState
    );
    assert!(fut.get_loop().ptr_eq(&lp));
    assert_eq!(format!("{fut:?}"), r#"Future { state: "pending" }"#);
}

#[test]
fn set_result_completes_the_future() {
    let lp = new_loop();
    let fut = lp.create_future::<u32>();
    fut.set_result(7).unwrap();
    assert!(fut.done());
    assert!(!fut.cancelled());
    assert_eq!(fut.result().unwrap(), 7);
    assert_eq!(fut.result().unwrap(), 7, "result() can be read many times");
    assert!(fut.exception().unwrap().is_none());
    assert_eq!(format!("{fut:?}"), r#"Future { state: "finished" }"#);
}

// asyncio: set_result / set_exception on a done future raise InvalidStateError.
#[test]
fn completing_a_done_future_again_is_invalid_state() {
    let lp = new_loop();
    let fut = lp.create_future::<u32>();
    fut.set_result(1).unwrap();
    assert_eq!(
        fut.set_result(2).unwrap_err().kind(),
        ErrorKind::InvalidState
    );
    assert_eq!(
        fut.set_exception(Error::other(Boom)).unwrap_err().kind(),
        ErrorKind::InvalidState
    );
    assert_eq!(fut.result().unwrap(), 1, "the first result stays");

    let cancelled = lp.create_future::<u32>();
    assert!(cancelled.cancel());
    assert_eq!(
        cancelled.set_result(2).unwrap_err().kind(),
        ErrorKind::InvalidState
    );
}

#[test]
fn set_exception_fails_the_future() {
    let lp = new_loop();
    let fut = lp.create_future::<u32>();
    fut.set_exception(Error::other(Boom)).unwrap();
    assert!(fut.done());
    assert!(!fut.cancelled());
    let err = fut.result().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Other);
    assert!(err.downcast_ref::<Boom>().is_some());
    let exc = fut.exception().unwrap().expect("an exception");
    assert_eq!(exc.to_string(), "boom");
    assert_eq!(format!("{fut:?}"), r#"Future { state: "failed" }"#);
}

#[test]
fn a_cancellation_cannot_be_set_as_an_exception() {
    let lp = new_loop();
    let fut = lp.create_future::<u32>();
    let err = fut
        .set_exception(Error::from_kind(ErrorKind::Cancelled))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(!fut.done());
}

// asyncio: cancel() returns False if the future is already done, else cancels it.
#[test]
fn cancel_semantics() {
    let lp = new_loop();
    let fut = lp.create_future::<u32>();
    assert!(fut.cancel());
    assert!(fut.done());
    assert!(fut.cancelled());
    assert!(!fut.cancel(), "cancel on a cancelled future returns false");
    assert!(fut.result().unwrap_err().is_cancelled());
    // asyncio: exception() raises CancelledError on a cancelled future.
    assert!(fut.exception().unwrap_err().is_cancelled());
    assert_eq!(format!("{fut:?}"), r#"Future { state: "cancelled" }"#);

    let done = lp.create_future::<u32>();
    done.set_result(3).unwrap();
    assert!(!done.cancel(), "cancel on a done future returns false");
    assert!(!done.cancelled());
    assert_eq!(done.result().unwrap(), 3);
}

#[test]
fn cancel_with_message_carries_the_message() {
    let lp = new_loop();
    let fut = lp.create_future::<u32>();
    assert!(fut.cancel_with_message(Some("no longer needed".into())));
    let err = fut.result().unwrap_err();
    assert!(err.is_cancelled());
    assert_eq!(err.message(), Some("no longer needed"));
}

#[test]
fn take_result_moves_the_value_out_once() {
    let lp = new_loop();
    let fut = lp.create_future::<Vec<u8>>();
    fut.set_result(vec![1, 2, 3]).unwrap();
    assert_eq!(fut.take_result().unwrap(), [1, 2, 3]);
    assert!(fut.done(), "taking the value keeps the future done");
    assert!(!fut.cancelled());
    assert_eq!(
        fut.take_result().unwrap_err().kind(),
        ErrorKind::InvalidState
    );
    assert_eq!(fut.result().unwrap_err().kind(), ErrorKind::InvalidState);
    assert!(fut.exception().unwrap().is_none());
    assert_eq!(format!("{fut:?}"), r#"Future { state: "finished" }"#);

    // An error is not consumed.
    let failed = lp.create_future::<Vec<u8>>();
    failed.set_exception(Error::other(Boom)).unwrap();
    assert_eq!(failed.take_result().unwrap_err().kind(), ErrorKind::Other);
    assert_eq!(failed.take_result().unwrap_err().kind(), ErrorKind::Other);
}

// asyncio schedules done callbacks with call_soon; they never run inside set_result.
#[test]
fn done_callbacks_are_scheduled_not_run_inline() {
    let lp = new_loop();
    let fut = lp.create_future::<u32>();
    let log = Log::new();
    let l = log.clone();
    fut.add_done_callback(move |f| l.push(format!("cb {}", f.result().unwrap())));
    fut.set_result(5).unwrap();
    assert!(log.entries().is_empty(), "ran inside set_result");
    assert_eq!(lp.ready_count(), 1);
    turn(&lp);
    assert_eq!(log.take(), ["cb 5"]);
}

#[test]
fn a_done_callback_added_to_a_done_future_is_scheduled_not_run_inline() {
    let lp = new_loop();
    let fut = lp.create_future::<u32>();
    fut.set_result(5).unwrap();
    let log = Log::new();
    let l = log.clone();
    fut.add_done_callback(move |_| l.push("late cb"));
    assert!(log.entries().is_empty(), "ran inside add_done_callback");
    turn(&lp);
    assert_eq!(log.take(), ["late cb"]);
}

#[test]
fn done_callbacks_run_in_registration_order_and_see_the_future() {
    let lp = new_loop();
    let fut = lp.create_future::<u32>();
    let log = Log::new();
    for i in 0..5 {
        let (l, f2) = (log.clone(), fut.clone());
        fut.add_done_callback(move |f| {
            assert!(f.ptr_eq(&f2));
            l.push(format!("cb{i}"));
        });
    }
    // A call_soon made before the completion runs before the callbacks...
    lp.call_soon(log.cb("before")).unwrap();
    fut.set_result(1).unwrap();
    // ...and one made after runs after them: they share the FIFO ready queue.
    lp.call_soon(log.cb("after")).unwrap();
    turn(&lp);
    assert_eq!(
        log.take(),
        ["before", "cb0", "cb1", "cb2", "cb3", "cb4", "after"]
    );
}

#[test]
fn done_callbacks_run_on_cancel_and_on_exception() {
    let lp = new_loop();
    let log = Log::new();
    let a = lp.create_future::<u32>();
    let l = log.clone();
    a.add_done_callback(move |f| l.push(format!("a cancelled={}", f.cancelled())));
    let b = lp.create_future::<u32>();
    let l = log.clone();
    b.add_done_callback(move |f| l.push(format!("b failed={}", f.exception().unwrap().is_some())));
    a.cancel();
    b.set_exception(Error::other(Boom)).unwrap();
    turn(&lp);
    assert_eq!(log.take(), ["a cancelled=true", "b failed=true"]);
}

#[test]
fn remove_done_callback_unregisters_it() {
    let lp = new_loop();
    let fut = lp.create_future::<u32>();
    let log = Log::new();
    let l = log.clone();
    fut.add_done_callback(move |_| l.push("kept 1"));
    let l = log.clone();
    let id = fut.add_done_callback(move |_| l.push("removed"));
    let l = log.clone();
    fut.add_done_callback(move |_| l.push("kept 2"));
    assert_eq!(fut.remove_done_callback(id), 1);
    assert_eq!(fut.remove_done_callback(id), 0, "already removed");
    fut.set_result(0).unwrap();
    turn(&lp);
    assert_eq!(log.take(), ["kept 1", "kept 2"]);
}

#[test]
fn remove_done_callback_after_scheduling_removes_nothing() {
    let lp = new_loop();
    let fut = lp.create_future::<u32>();
    let log = Log::new();
    let l = log.clone();
    let id = fut.add_done_callback(move |_| l.push("cb"));
    fut.set_result(0).unwrap();
    assert_eq!(fut.remove_done_callback(id), 0);
    turn(&lp);
    assert_eq!(log.take(), ["cb"]);
}

#[test]
fn awaiting_a_future_gives_its_result_to_every_waiter() {
    let lp = new_loop();
    let fut = lp.create_future::<u32>();
    let waiters: Vec<_> = (0..3)
        .map(|i| {
            let f = fut.clone();
            lp.create_task(async move { f.await.unwrap() + i })
        })
        .collect();
    let f = fut.clone();
    lp.call_later(Duration::from_secs(1), move || f.set_result(10).unwrap())
        .unwrap();
    let results = lp
        .run_until_complete(async move {
            let mut out = Vec::new();
            for w in waiters {
                out.push(w.await.unwrap());
            }
            out
        })
        .unwrap();
    assert_eq!(results, [10, 11, 12]);
}

#[test]
fn awaiting_a_failed_or_cancelled_future_gives_the_error() {
    let lp = new_loop();
    let failed = lp.create_future::<u32>();
    let cancelled = lp.create_future::<u32>();
    let (f, c) = (failed.clone(), cancelled.clone());
    lp.call_soon(move || {
        f.set_exception(Error::new(ErrorKind::Timeout, "too slow"))
            .unwrap();
        c.cancel();
    })
    .unwrap();
    let (e1, e2) = lp
        .run_until_complete(
            async move { ((&failed).await.unwrap_err(), cancelled.await.unwrap_err()) },
        )
        .unwrap();
    assert!(e1.is_timeout());
    assert_eq!(e1.message(), Some("too slow"));
    assert!(e2.is_cancelled());
}

#[test]
fn only_cancel_makes_a_future_cancelled() {
    // asyncio's CANCELLED state comes from `cancel()` alone: `cancelled()` is true and
    // `exception()` raises the CancelledError.
    let lp = new_loop();
    let fut = lp.create_future::<u32>();
    assert!(!fut.cancelled());
    assert!(fut.cancel_with_message(Some("stop".into())));
    assert!(fut.cancelled() && fut.done());
    let raised = fut.exception().unwrap_err();
    assert!(raised.is_cancelled());
    assert_eq!(raised.message(), Some("stop"));
    assert!(format!("{fut:?}").contains("cancelled"));
    assert!(fut.as_ref().cancelled());
    // A failed future is not cancelled.
    let failed = lp.create_future::<u32>();
    failed
        .set_exception(Error::new(ErrorKind::Timeout, "late"))
        .unwrap();
    assert!(!failed.cancelled());
    assert!(!failed.as_ref().cancelled());
}

#[test]
fn a_task_that_re_raises_the_cancellation_of_an_awaited_future_is_cancelled() {
    // "If the coroutine ... propagates CancelledError, the Task is cancelled": awaiting a
    // cancelled future raises CancelledError in the task; letting it propagate cancels
    // the task, with the future's message.
    let lp = new_loop();
    let fut = lp.create_future::<u32>();
    let f = fut.clone();
    let task = lp.create_try_task(async move { f.await });
    let c = fut.clone();
    lp.call_soon(move || {
        c.cancel_with_message(Some("gone".into()));
    })
    .unwrap();
    let err = lp.run_until_complete(&task).unwrap().unwrap_err();
    assert!(err.is_cancelled());
    assert!(task.cancelled());
    assert_eq!(task.exception().unwrap_err().message(), Some("gone"));
    // A task that catches the error and returns normally is not cancelled.
    let fut = lp.create_future::<u32>();
    let f = fut.clone();
    let caught = lp.create_task(async move { f.await.is_err() });
    fut.cancel();
    assert!(lp.run_until_complete(&caught).unwrap().unwrap());
    assert!(!caught.cancelled());
}

#[test]
fn awaiting_an_already_done_future_does_not_suspend() {
    let lp = new_loop();
    let fut = lp.create_future::<u32>();
    fut.set_result(4).unwrap();
    let steps = Rc::new(Cell::new(0));
    let s = steps.clone();
    let task = lp.create_task(async move {
        s.set(s.get() + 1);
        fut.await.unwrap()
    });
    lp.run_once().unwrap();
    assert!(task.done(), "the task finished in its first step");
    assert_eq!(steps.get(), 1);
    assert_eq!(task.result().unwrap(), 4);
}

#[test]
fn future_handles_are_shared() {
    let lp = new_loop();
    let a: Future<u8> = lp.create_future();
    let b = a.clone();
    let c: Future<u8> = Future::new(&lp);
    assert!(a.ptr_eq(&b));
    assert!(!a.ptr_eq(&c));
    b.set_result(1).unwrap();
    assert!(a.done());
    let r = a.as_ref();
    assert!(r.done());
    assert!(!r.cancelled());
    assert!(r.ptr_eq(&b.as_ref()));
    assert!(!r.cancel(), "done already");
}

/// Reads the state of a future when dropped.
struct InspectOnDrop(Future<u32>, Log);

impl Drop for InspectOnDrop {
    fn drop(&mut self) {
        self.1.push(format!("dropped, done={}", self.0.done()));
    }
}

#[test]
fn a_removed_done_callback_is_dropped_and_may_inspect_its_future() {
    let lp = new_loop();
    let fut = lp.create_future::<u32>();
    let log = Log::new();
    let guard = InspectOnDrop(fut.clone(), log.clone());
    let id = fut.add_done_callback(move |_| drop(guard));
    assert_eq!(fut.remove_done_callback(id), 1);
    assert_eq!(log.take(), ["dropped, done=false"]);
}
