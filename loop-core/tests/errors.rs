//! Error handling: the exception handler (set / get / default / call) and its context,
//! panicking callbacks and tasks, debug mode's slow-callback reports, and `Error`.
mod util;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use loop_core::sim::SimHost;
use loop_core::{Error, ErrorKind, EventLoop, ExceptionContext, ExceptionHandler, Handle};
use util::{Log, yield_once};

fn sim_loop() -> (EventLoop, SimHost) {
    let host = SimHost::new(1);
    (EventLoop::new(host.clone()), host)
}

/// Install a handler that records every context it gets.
fn record_contexts(lp: &EventLoop) -> Rc<RefCell<Vec<ExceptionContext>>> {
    let seen: Rc<RefCell<Vec<ExceptionContext>>> = Rc::default();
    let s = seen.clone();
    let lp2 = lp.clone();
    lp.set_exception_handler(Some(Rc::new(
        move |l: &EventLoop, ctx: &ExceptionContext| {
            assert!(l.ptr_eq(&lp2), "the handler gets the loop");
            s.borrow_mut().push(ctx.clone());
        },
    )));
    seen
}

/// Run one non-blocking iteration.
fn turn(lp: &EventLoop) {
    lp.stop();
    lp.run_forever().unwrap();
}

// spec: set_exception_handler(None) restores the default; get_exception_handler returns
// None while the default one is in use.
#[test]
fn exception_handler_set_get_and_reset() {
    let (lp, _) = sim_loop();
    assert!(lp.get_exception_handler().is_none());
    let handler: ExceptionHandler = Rc::new(|_: &EventLoop, _: &ExceptionContext| {});
    lp.set_exception_handler(Some(handler.clone()));
    assert!(Rc::ptr_eq(&lp.get_exception_handler().unwrap(), &handler));
    lp.set_exception_handler(None);
    assert!(lp.get_exception_handler().is_none());
}

#[test]
fn call_exception_handler_passes_the_context_to_the_installed_handler() {
    let (lp, _) = sim_loop();
    let seen = record_contexts(&lp);
    let fut = lp.create_future::<u8>();
    let handle = lp.call_soon(|| {}).unwrap();
    let ctx = ExceptionContext::new("something broke")
        .with_error(Error::new(ErrorKind::Host, "selector failed"))
        .with_future(fut.as_ref())
        .with_handle(handle.clone());
    lp.call_exception_handler(&ctx);
    let seen = seen.take();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].message, "something broke");
    assert_eq!(seen[0].error.as_ref().unwrap().kind(), ErrorKind::Host);
    assert!(seen[0].future.as_ref().unwrap().ptr_eq(&fut.as_ref()));
    assert!(seen[0].handle.as_ref().unwrap().ptr_eq(&handle));
    assert!(seen[0].task.is_none());
    assert!(seen[0].duration.is_none());
}

#[test]
fn a_handler_may_defer_to_the_default_handler() {
    let (lp, _) = sim_loop();
    let log = Log::new();
    let l = log.clone();
    lp.set_exception_handler(Some(Rc::new(
        move |lp: &EventLoop, ctx: &ExceptionContext| {
            l.push(format!("custom: {}", ctx.message));
            lp.default_exception_handler(ctx);
        },
    )));
    lp.call_exception_handler(&ExceptionContext::new("deferred"));
    assert_eq!(log.take(), ["custom: deferred"]);
}

#[test]
fn the_context_displays_as_asyncio_logs_it() {
    let ctx = ExceptionContext::new("executing cb took 0.150 seconds")
        .with_error(Error::new(ErrorKind::Timeout, "late"))
        .with_duration(Duration::from_millis(150));
    assert_eq!(
        ctx.to_string(),
        "executing cb took 0.150 seconds\nerror: timed out: late\nduration: 0.150s"
    );
    assert_eq!(ExceptionContext::new("plain").to_string(), "plain");
}

// With `std`, a panic in a callback is caught, reported with the handle, and the loop
// keeps running (asyncio logs "Exception in callback ..." and goes on).
#[test]
fn a_panicking_callback_is_reported_and_the_loop_keeps_running() {
    let (lp, _) = sim_loop();
    let seen = record_contexts(&lp);
    let log = Log::new();
    let bad: Handle = lp.call_soon(|| panic!("boom")).unwrap();
    lp.call_soon(log.cb("same batch")).unwrap();
    let (lp2, l) = (lp.clone(), log.clone());
    lp.call_later(Duration::from_secs(1), move || {
        l.push("later iteration");
        lp2.stop();
    })
    .unwrap();
    lp.run_forever().unwrap();
    assert_eq!(log.take(), ["same batch", "later iteration"]);

    let seen = seen.take();
    assert_eq!(seen.len(), 1);
    let ctx = &seen[0];
    assert!(
        ctx.message.starts_with("exception in callback"),
        "message: {}",
        ctx.message
    );
    let err = ctx.error.as_ref().unwrap();
    assert_eq!(err.kind(), ErrorKind::Panicked);
    assert_eq!(err.message(), Some("boom"));
    assert!(ctx.handle.as_ref().unwrap().ptr_eq(&bad));
}

#[test]
fn a_panicking_timer_is_reported_with_a_formatted_message() {
    let (lp, _) = sim_loop();
    let seen = record_contexts(&lp);
    let n = 42;
    lp.call_later(Duration::from_millis(5), move || panic!("bad value {n}"))
        .unwrap();
    lp.run_once().unwrap();
    let seen = seen.take();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].error.as_ref().unwrap().message(),
        Some("bad value 42")
    );
    assert!(seen[0].handle.is_some());
}

#[test]
fn a_panicking_task_is_reported_and_fails_with_panicked() {
    let (lp, _) = sim_loop();
    let seen = record_contexts(&lp);
    let task = lp.create_task(async {
        yield_once().await;
        if true {
            panic!("task exploded");
        }
        5u32
    });
    let t2 = task.clone();
    let watcher = lp.create_task(async move { t2.await });
    let (lp2, log) = (lp.clone(), Log::new());
    let l = log.clone();
    lp.call_later(Duration::from_secs(1), move || {
        l.push("still running");
        lp2.stop();
    })
    .unwrap();
    lp.run_forever().unwrap();
    assert_eq!(log.take(), ["still running"]);

    let err = task.result().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
    assert_eq!(err.message(), Some("task exploded"));
    assert!(!task.cancelled());
    let seen_by_waiter = watcher.result().unwrap().unwrap_err();
    assert_eq!(seen_by_waiter.kind(), ErrorKind::Panicked);

    let seen = seen.take();
    assert_eq!(seen.len(), 1);
    let ctx = &seen[0];
    assert!(
        ctx.message.contains(&task.name()),
        "message: {}",
        ctx.message
    );
    assert_eq!(ctx.error.as_ref().unwrap().kind(), ErrorKind::Panicked);
    assert!(ctx.task.as_ref().unwrap().ptr_eq(task.task_ref()));
    assert!(lp.all_tasks().is_empty());
}

#[test]
fn a_panicking_handler_does_not_stop_the_loop() {
    let (lp, _) = sim_loop();
    lp.set_exception_handler(Some(Rc::new(|_: &EventLoop, _: &ExceptionContext| {
        panic!("handler is broken too")
    })));
    let log = Log::new();
    lp.call_soon(|| panic!("first")).unwrap();
    lp.call_soon(log.cb("after")).unwrap();
    lp.run_once().unwrap();
    assert_eq!(log.take(), ["after"]);
}

#[test]
fn debug_mode_and_slow_callback_duration_defaults() {
    let (lp, _) = sim_loop();
    assert!(!lp.get_debug());
    lp.set_debug(true);
    assert!(lp.get_debug());
    // asyncio's default slow_callback_duration is 0.1 seconds.
    assert_eq!(lp.slow_callback_duration(), Duration::from_millis(100));
    lp.set_slow_callback_duration(Duration::from_millis(10));
    assert_eq!(lp.slow_callback_duration(), Duration::from_millis(10));
}

/// A callback that "runs" for `d` of virtual time.
fn busy(host: &SimHost, d: Duration) -> impl FnOnce() + 'static {
    let host = host.clone();
    move || host.advance(d)
}

// asyncio debug mode: a callback that runs for at least slow_callback_duration is
// reported with its duration.
#[test]
fn debug_mode_reports_slow_callbacks_with_their_duration() {
    let (lp, host) = sim_loop();
    let seen = record_contexts(&lp);
    lp.set_debug(true);
    lp.call_soon(busy(&host, Duration::from_millis(50)))
        .unwrap();
    let slow = lp
        .call_soon(busy(&host, Duration::from_millis(150)))
        .unwrap();
    let edge = lp
        .call_soon(busy(&host, Duration::from_millis(100)))
        .unwrap();
    lp.call_soon(busy(&host, Duration::from_millis(99)))
        .unwrap();
    lp.run_once().unwrap();

    let seen = seen.take();
    assert_eq!(seen.len(), 2, "only the callbacks of >= 100 ms: {seen:?}");
    assert!(seen[0].handle.as_ref().unwrap().ptr_eq(&slow));
    assert_eq!(seen[0].duration, Some(Duration::from_millis(150)));
    assert!(
        seen[0].message.ends_with("took 0.150 seconds"),
        "message: {}",
        seen[0].message
    );
    assert!(seen[0].error.is_none());
    assert!(seen[1].handle.as_ref().unwrap().ptr_eq(&edge));
    assert_eq!(seen[1].duration, Some(Duration::from_millis(100)));
}

#[test]
fn slow_callbacks_are_not_reported_outside_debug_mode() {
    let (lp, host) = sim_loop();
    let seen = record_contexts(&lp);
    lp.call_soon(busy(&host, Duration::from_secs(5))).unwrap();
    lp.run_once().unwrap();
    assert!(seen.take().is_empty());
}

#[test]
fn the_slow_callback_threshold_can_be_changed() {
    let (lp, host) = sim_loop();
    let seen = record_contexts(&lp);
    lp.set_debug(true);
    lp.set_slow_callback_duration(Duration::from_millis(10));
    lp.call_soon(busy(&host, Duration::from_millis(5))).unwrap();
    lp.call_soon(busy(&host, Duration::from_millis(20)))
        .unwrap();
    lp.run_once().unwrap();
    let seen = seen.take();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].duration, Some(Duration::from_millis(20)));
}

#[test]
fn debug_mode_reports_slow_task_steps_with_the_task() {
    let (lp, host) = sim_loop();
    let seen = record_contexts(&lp);
    lp.set_debug(true);
    let h = host.clone();
    let task = lp.create_task(async move {
        h.advance(Duration::from_millis(10));
        yield_once().await;
        h.advance(Duration::from_millis(300));
    });
    turn(&lp);
    turn(&lp);
    assert!(task.done());
    let seen = seen.take();
    assert_eq!(seen.len(), 1, "only the second step was slow: {seen:?}");
    assert!(seen[0].task.as_ref().unwrap().ptr_eq(task.task_ref()));
    assert_eq!(seen[0].duration, Some(Duration::from_millis(300)));
    assert!(seen[0].message.contains(&task.name()));
}

#[test]
fn errors_carry_kind_message_and_source() {
    #[derive(Debug)]
    struct Disk;
    impl std::fmt::Display for Disk {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("disk on fire")
        }
    }
    impl std::error::Error for Disk {}

    let e = Error::new(ErrorKind::InvalidState, "result is not set");
    assert_eq!(e.kind(), ErrorKind::InvalidState);
    assert_eq!(e.to_string(), "invalid state: result is not set");
    assert_eq!(
        Error::from(ErrorKind::QueueEmpty).to_string(),
        "queue empty"
    );

    let wrapped = Error::other(Disk);
    assert_eq!(wrapped.kind(), ErrorKind::Other);
    assert_eq!(wrapped.to_string(), "disk on fire");
    assert!(wrapped.downcast_ref::<Disk>().is_some());
    assert!(std::error::Error::source(&wrapped).is_some());
    let hosted = Error::with_source(ErrorKind::Host, Disk);
    assert_eq!(hosted.to_string(), "host error: disk on fire");

    let c = Error::cancelled(Some("bye".into()));
    assert!(c.is_cancelled());
    assert!(!c.is_timeout());
    assert_eq!(c, c.clone());
    assert_ne!(c, Error::cancelled(None));
}
