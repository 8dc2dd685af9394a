//! Tasks: running any `'static` future (`!Send` included), results, cancellation (the
//! future is dropped at its next step), `current_task`, `all_tasks`, names, the task
//! factory and `create_try_task`.
mod util;

use std::cell::{Cell, RefCell};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use loop_core::sim::SimHost;
use loop_core::{Error, ErrorKind, EventLoop, TaskBody, TaskFactory};
use util::{DropGuard, Log, yield_once};

fn new_loop() -> EventLoop {
    EventLoop::new(SimHost::new(1))
}

/// Run one non-blocking iteration.
fn turn(lp: &EventLoop) {
    lp.stop();
    lp.run_forever().unwrap();
}

#[test]
fn create_task_runs_a_not_send_future() {
    let lp = new_loop();
    let shared = Rc::new(RefCell::new(vec![1, 2]));
    let s = shared.clone();
    let task = lp.create_task(async move {
        yield_once().await;
        s.borrow_mut().push(3);
        s.borrow().iter().sum::<i32>()
    });
    assert_eq!(lp.run_until_complete(task.clone()).unwrap().unwrap(), 6);
    assert!(task.done());
    assert_eq!(task.result().unwrap(), 6);
    assert_eq!(*shared.borrow(), [1, 2, 3]);
}

#[test]
fn a_task_starts_in_the_next_iteration_not_inline() {
    let lp = new_loop();
    let log = Log::new();
    let l = log.clone();
    lp.call_soon(log.cb("soon before")).unwrap();
    let task = lp.create_task(async move { l.push("task step") });
    lp.call_soon(log.cb("soon after")).unwrap();
    assert!(log.entries().is_empty());
    assert!(!task.done());
    lp.run_once().unwrap();
    assert_eq!(log.take(), ["soon before", "task step", "soon after"]);
    assert!(task.done());
}

#[test]
fn a_result_that_is_not_clone_is_taken() {
    struct NotClone(u32);
    let lp = new_loop();
    let task = lp.create_task(async { NotClone(8) });
    while !task.done() {
        lp.run_once().unwrap();
    }
    assert_eq!(task.take_result().unwrap().0, 8);
}

#[test]
fn tasks_await_tasks() {
    let lp = new_loop();
    let inner = lp.create_task(async {
        yield_once().await;
        21
    });
    let i2 = inner.clone();
    let outer = lp.create_task(async move { i2.await.unwrap() * 2 });
    let also = lp.create_task(async move { (&inner).await.unwrap() + 1 });
    assert_eq!(lp.run_until_complete(outer).unwrap().unwrap(), 42);
    assert_eq!(lp.run_until_complete(also).unwrap().unwrap(), 22);
}

// Tulip: a cancelled task's future is dropped at its next step (a Rust future cannot
// catch the CancelledError a coroutine sees); the task then completes as cancelled.
#[test]
fn cancel_drops_the_future_at_its_next_step_and_completes_as_cancelled() {
    let lp = new_loop();
    let log = Log::new();
    let fut = lp.create_future::<()>();
    let (l, f) = (log.clone(), fut.clone());
    let task = lp.create_task(async move {
        let _guard = DropGuard::new(&l, "task future");
        l.push("started");
        let _ = f.await;
        l.push("resumed after cancel");
    });
    lp.run_once().unwrap();
    assert_eq!(log.take(), ["started"]);

    assert!(task.cancel());
    assert!(
        !task.done(),
        "the task completes at its next step, not inside cancel()"
    );
    assert!(
        log.entries().is_empty(),
        "the future must not be dropped inside cancel()"
    );

    turn(&lp);
    assert_eq!(log.take(), ["drop task future"]);
    assert!(task.done());
    assert!(task.cancelled());
    assert!(task.result().unwrap_err().is_cancelled());
    assert!(!task.cancel(), "cancel on a done task returns false");
}

// asyncio: cancelling a task that awaits a future cancels that future (_fut_waiter).
#[test]
fn cancelling_a_task_cancels_the_future_it_awaits() {
    let lp = new_loop();
    let fut = lp.create_future::<u32>();
    let f = fut.clone();
    let task = lp.create_task(async move { f.await });
    lp.run_once().unwrap();
    assert!(!fut.done());
    assert!(task.cancel_with_message("stop waiting"));
    assert!(
        fut.cancelled(),
        "the awaited future is cancelled with the task"
    );
    assert_eq!(fut.result().unwrap_err().message(), Some("stop waiting"));
    turn(&lp);
    let err = task.result().unwrap_err();
    assert!(err.is_cancelled());
    assert_eq!(err.message(), Some("stop waiting"));
}

#[test]
fn cancelling_a_task_cancels_the_task_it_awaits() {
    let lp = new_loop();
    let never = lp.create_future::<u32>();
    let inner = lp.create_task(async move { never.await });
    let i2 = inner.clone();
    let outer = lp.create_task(async move { i2.await });
    lp.run_once().unwrap();
    assert!(outer.cancel());
    turn(&lp);
    turn(&lp);
    assert!(outer.cancelled());
    assert!(inner.cancelled());
}

#[test]
fn a_task_cancelled_before_its_first_step_never_runs() {
    let lp = new_loop();
    let log = Log::new();
    let guard = DropGuard::new(&log, "captured");
    let l = log.clone();
    let task = lp.create_task(async move {
        let _g = guard;
        l.push("ran");
    });
    assert!(task.cancel());
    assert!(
        task.cancel(),
        "a pending cancellation can be requested again"
    );
    turn(&lp);
    assert_eq!(log.take(), ["drop captured"]);
    assert!(task.cancelled());
}

#[test]
fn cancelling_through_the_result_future_cancels_the_task() {
    let lp = new_loop();
    let task = lp.create_task(async {
        yield_once().await;
        1
    });
    lp.run_once().unwrap();
    assert!(task.future().cancel());
    turn(&lp);
    assert!(task.cancelled());
}

#[test]
fn a_task_that_cancels_itself_ends_at_its_next_await() {
    let lp = new_loop();
    let log = Log::new();
    let (l, lp2) = (log.clone(), lp.clone());
    let task = lp.create_task(async move {
        assert!(lp2.current_task().unwrap().cancel());
        l.push("still running this step");
        yield_once().await;
        l.push("never");
    });
    turn(&lp);
    turn(&lp);
    assert_eq!(log.take(), ["still running this step"]);
    assert!(task.cancelled());
}

// asyncio: a coroutine that returns after cancel() was requested in its last step still
// ends cancelled (Task.__step: StopIteration with _must_cancel set).
#[test]
fn a_task_that_cancels_itself_and_returns_ends_cancelled() {
    let lp = new_loop();
    let lp2 = lp.clone();
    let task = lp.create_task(async move {
        assert!(lp2.current_task().unwrap().cancel());
        5
    });
    turn(&lp);
    assert!(task.done());
    assert!(
        task.cancelled(),
        "cancel() returned true, so the task must end cancelled"
    );
}

#[test]
fn a_task_result_cannot_be_set_from_outside() {
    let lp = new_loop();
    let task = lp.create_task(async { 1 });
    assert_eq!(task.set_result(2).unwrap_err().kind(), ErrorKind::Runtime);
    assert_eq!(
        task.set_exception(Error::from_kind(ErrorKind::Other))
            .unwrap_err()
            .kind(),
        ErrorKind::Runtime
    );
    assert_eq!(lp.run_until_complete(task).unwrap().unwrap(), 1);
}

#[test]
fn many_wake_ups_before_a_step_coalesce_into_one_step() {
    struct WakeThrice {
        polls: Rc<Cell<u32>>,
    }
    impl std::future::Future for WakeThrice {
        type Output = ();
        #[allow(
            clippy::waker_clone_wake,
            reason = "exercises Waker::wake (by value) as well as wake_by_ref"
        )]
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.polls.set(self.polls.get() + 1);
            if self.polls.get() == 1 {
                cx.waker().wake_by_ref();
                cx.waker().wake_by_ref();
                cx.waker().clone().wake();
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        }
    }
    let lp = new_loop();
    let polls = Rc::new(Cell::new(0));
    let task = lp.create_task(WakeThrice {
        polls: polls.clone(),
    });
    lp.run_once().unwrap();
    assert_eq!(lp.ready_count(), 1, "three wake-ups, one queued step");
    lp.run_once().unwrap();
    assert!(task.done());
    assert_eq!(polls.get(), 2);
}

#[test]
fn current_task_inside_and_outside_tasks() {
    let lp = new_loop();
    assert!(lp.current_task().is_none());
    let seen = Rc::new(RefCell::new(Vec::new()));
    let (lp2, s) = (lp.clone(), seen.clone());
    lp.call_soon(move || s.borrow_mut().push(lp2.current_task().map(|t| t.id())))
        .unwrap();
    let (lp2, s) = (lp.clone(), seen.clone());
    let inner = lp.create_task(async move {
        s.borrow_mut().push(lp2.current_task().map(|t| t.id()));
    });
    let (lp2, s, i2) = (lp.clone(), seen.clone(), inner.clone());
    let outer = lp.create_task(async move {
        let me = lp2.current_task().unwrap();
        s.borrow_mut().push(Some(me.id()));
        i2.await.unwrap();
        // Still this task after awaiting another one.
        assert!(lp2.current_task().unwrap().ptr_eq(&me));
        s.borrow_mut().push(Some(me.id()));
    });
    lp.run_until_complete(outer.clone()).unwrap().unwrap();
    assert!(lp.current_task().is_none());
    let (i, o) = (inner.task_ref().id(), outer.task_ref().id());
    assert_eq!(*seen.borrow(), [None, Some(i), Some(o), Some(o)]);
}

#[test]
fn all_tasks_lists_the_tasks_not_done() {
    let lp = new_loop();
    assert!(lp.all_tasks().is_empty());
    let quick = lp.create_task(async {});
    let fut = lp.create_future::<()>();
    let f = fut.clone();
    let slow = lp.create_task(async move { f.await });
    let f = fut.clone();
    let slow2 = lp.create_task(async move { f.await });
    assert_eq!(lp.all_tasks().len(), 3);
    lp.run_once().unwrap();
    let all = lp.all_tasks();
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|t| !t.ptr_eq(quick.task_ref())));
    assert!(all.iter().any(|t| t.ptr_eq(slow.task_ref())));
    assert!(all.iter().any(|t| t.ptr_eq(slow2.task_ref())));
    fut.set_result(()).unwrap();
    lp.run_once().unwrap();
    assert!(lp.all_tasks().is_empty());
}

#[test]
fn task_names_default_to_their_id_and_can_be_set() {
    let lp = new_loop();
    let a = lp.create_task(async {});
    let b = lp.create_task(async {});
    assert_ne!(a.task_ref().id(), b.task_ref().id());
    assert_eq!(a.name(), format!("Task-{}", a.task_ref().id()));
    a.set_name("fetcher");
    assert_eq!(a.name(), "fetcher");
    assert_eq!(a.task_ref().name(), "fetcher");
    b.task_ref().set_name("other");
    assert_eq!(b.name(), "other");
    let lp2 = lp.clone();
    let c = lp.create_task(async move { lp2.current_task().unwrap().name() });
    c.set_name("named before it ran");
    assert_eq!(
        lp.run_until_complete(c).unwrap().unwrap(),
        "named before it ran"
    );
    assert!(format!("{a:?}").contains("fetcher"));
}

#[test]
fn task_factory_get_set_and_wraps_every_body() {
    let lp = new_loop();
    assert!(lp.get_task_factory().is_none());
    let log = Log::new();
    let l = log.clone();
    let factory: TaskFactory = Rc::new(move |_lp: &EventLoop, body: TaskBody| -> TaskBody {
        let l = l.clone();
        Box::pin(async move {
            l.push("enter");
            body.await;
            l.push("exit");
        })
    });
    lp.set_task_factory(Some(factory.clone()));
    assert!(Rc::ptr_eq(&lp.get_task_factory().unwrap(), &factory));

    let l = log.clone();
    let task = lp.create_task(async move {
        l.push("body");
        7
    });
    while !task.done() {
        lp.run_once().unwrap();
    }
    assert_eq!(task.result().unwrap(), 7);
    assert_eq!(log.take(), ["enter", "body", "exit"]);

    lp.set_task_factory(None);
    assert!(lp.get_task_factory().is_none());
    let l = log.clone();
    let task = lp.create_task(async move { l.push("plain") });
    while !task.done() {
        lp.run_once().unwrap();
    }
    assert_eq!(log.take(), ["plain"]);
}

#[test]
fn a_factory_body_that_drops_the_task_future_completes_it_as_cancelled() {
    let lp = new_loop();
    lp.set_task_factory(Some(Rc::new(|_: &EventLoop, body: TaskBody| -> TaskBody {
        drop(body);
        Box::pin(async {})
    })));
    let task = lp.create_task(async { 1 });
    while !task.done() {
        lp.run_once().unwrap();
    }
    assert!(task.cancelled());
}

#[test]
fn create_try_task_turns_err_into_the_task_exception() {
    let lp = new_loop();
    let ok = lp.create_try_task(async { Ok::<_, ErrorKind>(3) });
    let failed = lp.create_try_task(async {
        yield_once().await;
        Err::<u32, _>(Error::new(ErrorKind::Timeout, "took too long"))
    });
    let cancelled = lp.create_try_task(async { Err::<u32, _>(ErrorKind::Cancelled) });
    assert_eq!(lp.run_until_complete(ok).unwrap().unwrap(), 3);
    let err = lp.run_until_complete(failed.clone()).unwrap().unwrap_err();
    assert!(err.is_timeout());
    let exc = failed.exception().unwrap().unwrap();
    assert_eq!(exc.message(), Some("took too long"));
    assert!(!failed.cancelled());
    assert!(cancelled.cancelled(), "an Err(Cancelled) cancels the task");
}

#[test]
fn close_drops_pending_task_futures() {
    let lp = new_loop();
    let log = Log::new();
    let fut = lp.create_future::<()>();
    let (l, f) = (log.clone(), fut.clone());
    let task = lp.create_task(async move {
        let _g = DropGuard::new(&l, "pending task");
        let _ = f.await;
    });
    lp.run_once().unwrap();
    lp.close().unwrap();
    assert_eq!(log.take(), ["drop pending task"]);
    assert!(!task.done(), "close drops tasks without completing them");
    assert!(lp.all_tasks().is_empty());
}

#[test]
fn a_task_woken_by_a_timer_resumes_at_the_timer_deadline() {
    let lp = new_loop();
    let fut = lp.create_future::<()>();
    let f = fut.clone();
    lp.call_later(Duration::from_millis(1500), move || {
        f.set_result(()).unwrap()
    })
    .unwrap();
    let lp2 = lp.clone();
    let task = lp.create_task(async move {
        fut.await.unwrap();
        lp2.time()
    });
    let woke_at = lp.run_until_complete(task).unwrap().unwrap();
    assert_eq!(woke_at, util::millis(1500));
}

#[test]
fn a_task_future_is_polled_with_a_waker_that_is_send() {
    // The waker only holds the task header: waking from a plain context is fine.
    let lp = new_loop();
    let stash: Rc<RefCell<Option<std::task::Waker>>> = Rc::default();
    let s = stash.clone();
    let done = Rc::new(Cell::new(false));
    let d = done.clone();
    let task = lp.create_task(std::future::poll_fn(move |cx| {
        if d.get() {
            Poll::Ready(())
        } else {
            *s.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        }
    }));
    lp.run_once().unwrap();
    let waker = stash.borrow_mut().take().unwrap();
    fn assert_send<T: Send + Sync>(_: &T) {}
    assert_send(&waker);
    done.set(true);
    waker.wake();
    lp.run_once().unwrap();
    assert!(task.done());
}

/// Cancels the task it belongs to when dropped (a guard that tears down a group the
/// task is part of).
struct CancelOwnTaskOnDrop(Option<loop_core::TaskRef>, Log);

impl Drop for CancelOwnTaskOnDrop {
    fn drop(&mut self) {
        let task = self.0.take().unwrap();
        self.1
            .push(format!("guard dropped, cancel() = {}", task.cancel()));
    }
}

// DESIGN.md: "Cancelling a task drops its future at its next step (destructors run)":
// those destructors may touch their own task.
#[test]
fn a_destructor_run_by_cancellation_may_cancel_its_own_task() {
    let lp = new_loop();
    let log = Log::new();
    let (lp2, l) = (lp.clone(), log.clone());
    let task = lp.create_task(async move {
        let _guard = CancelOwnTaskOnDrop(lp2.current_task(), l);
        std::future::pending::<()>().await;
    });
    lp.run_once().unwrap();
    assert!(task.cancel());
    turn(&lp);
    assert_eq!(log.take(), ["guard dropped, cancel() = true"]);
    assert!(task.cancelled());
}
