//! Helpers shared by the `sync_*` tests: an event trace, virtual-time sleeps, a
//! one-step yield and a runner that drives the loop until some tasks are done.
#![allow(dead_code, reason = "each test file uses a different subset")]

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use loop_core::{EventLoop, TaskRef, sim::SimHost};

/// A new loop on the simulation host.
pub(crate) fn new_loop() -> EventLoop {
    EventLoop::new(SimHost::new(7))
}

/// An ordered record of what happened, shared by the tasks of a test.
#[derive(Clone, Default)]
pub(crate) struct Trace(Rc<RefCell<Vec<String>>>);

impl Trace {
    /// An empty trace.
    pub(crate) fn new() -> Self {
        Trace::default()
    }

    /// Record one event.
    pub(crate) fn push(&self, event: impl Into<String>) {
        self.0.borrow_mut().push(event.into());
    }

    /// Record one event with the loop's virtual time in whole seconds.
    pub(crate) fn at(&self, lp: &EventLoop, event: &str) {
        let secs = lp.time().as_nanos() / 1_000_000_000;
        self.push(format!("{event} @{secs}"));
    }

    /// Everything recorded so far.
    pub(crate) fn get(&self) -> Vec<String> {
        self.0.borrow().clone()
    }
}

/// Sleep `d` of virtual time (a loop future completed by a timer).
pub(crate) fn sleep(lp: &EventLoop, d: Duration) -> impl Future<Output = ()> + 'static {
    let fut = lp.create_future::<()>();
    let f = fut.clone();
    lp.call_later(d, move || {
        let _ = f.set_result(());
    })
    .expect("loop is open");
    async move {
        fut.await.expect("sleep timer fired");
    }
}

/// `sleep(1 s)`.
pub(crate) fn tick(lp: &EventLoop) -> impl Future<Output = ()> + 'static {
    sleep(lp, Duration::from_secs(1))
}

/// Give up the rest of this step once (asyncio's `sleep(0)`).
pub(crate) fn yield_now() -> YieldNow {
    YieldNow(false)
}

/// The future returned by [`yield_now`].
pub(crate) struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// Run the loop until every task in `tasks` is done. A deadlock surfaces as the
/// simulation host's `Stalled` error instead of a hang.
pub(crate) fn run_until_done(lp: &EventLoop, tasks: &[&TaskRef]) {
    while !tasks.iter().all(|t| t.done()) {
        lp.run_once().expect("the loop made progress");
    }
}

/// Run `n` iterations of the loop.
pub(crate) fn run_iterations(lp: &EventLoop, n: usize) {
    for _ in 0..n {
        lp.run_once().expect("the loop made progress");
    }
}
