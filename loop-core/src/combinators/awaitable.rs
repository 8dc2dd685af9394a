//! [`Awaitable`]: what the combinators accept — a loop future, a task, or any Rust future
//! (run as a task, as asyncio's `ensure_future` wraps a coroutine).

use crate::error::Result;
use crate::event_loop::EventLoop;
use crate::future::Future;
use crate::task::Task;

mod sealed {
    /// Keeps [`Awaitable`](super::Awaitable) closed: the combinators rely on how each
    /// kind reads its result.
    pub trait Sealed {}
}

/// Something a combinator can wait for: a [`Future`], a [`Task`] (by value or by
/// reference), or any Rust future, which is wrapped in a task on the combinator's loop
/// (asyncio's `ensure_future`).
///
/// Loop futures and tasks are shared handles, so their results are cloned (`T: Clone`,
/// as for `.await` on them). The task made for a Rust future belongs to the combinator,
/// so its result is moved out and needs no `Clone`; to gather results that are not
/// `Clone`, pass the Rust futures rather than tasks. A future that returns `Result` is
/// wrapped with [`create_task`](EventLoop::create_task), so its `Err` is a value; wrap it
/// with [`create_try_task`](EventLoop::create_try_task) first to make it the task's error.
///
/// This trait is sealed.
pub trait Awaitable: sealed::Sealed {
    /// The value the awaitable produces.
    type Output: 'static;

    /// The loop future standing for this awaitable: itself for futures and tasks, a new
    /// task on `lp` for a Rust future (asyncio's `ensure_future(aw, loop=lp)`).
    fn ensure_future(self, lp: &EventLoop) -> Future<Self::Output>;

    /// Read the outcome of a done future returned by [`ensure_future`]: clones the value
    /// of a shared future, moves it out of a task made for a Rust future.
    ///
    /// # Errors
    ///
    /// The future's error (its cancellation if cancelled);
    /// [`ErrorKind::InvalidState`](crate::ErrorKind::InvalidState) while it is pending or
    /// if its value was already taken.
    ///
    /// [`ensure_future`]: Awaitable::ensure_future
    fn take_output(fut: &Future<Self::Output>) -> Result<Self::Output>;
}

impl<T: Clone + 'static> sealed::Sealed for Future<T> {}
impl<T: Clone + 'static> Awaitable for Future<T> {
    type Output = T;
    fn ensure_future(self, _lp: &EventLoop) -> Future<T> {
        self
    }
    fn take_output(fut: &Future<T>) -> Result<T> {
        fut.result()
    }
}

impl<T: Clone + 'static> sealed::Sealed for &Future<T> {}
impl<T: Clone + 'static> Awaitable for &Future<T> {
    type Output = T;
    fn ensure_future(self, _lp: &EventLoop) -> Future<T> {
        self.clone()
    }
    fn take_output(fut: &Future<T>) -> Result<T> {
        fut.result()
    }
}

impl<T: Clone + 'static> sealed::Sealed for Task<T> {}
impl<T: Clone + 'static> Awaitable for Task<T> {
    type Output = T;
    fn ensure_future(self, _lp: &EventLoop) -> Future<T> {
        self.future().clone()
    }
    fn take_output(fut: &Future<T>) -> Result<T> {
        fut.result()
    }
}

impl<T: Clone + 'static> sealed::Sealed for &Task<T> {}
impl<T: Clone + 'static> Awaitable for &Task<T> {
    type Output = T;
    fn ensure_future(self, _lp: &EventLoop) -> Future<T> {
        self.future().clone()
    }
    fn take_output(fut: &Future<T>) -> Result<T> {
        fut.result()
    }
}

impl<F> sealed::Sealed for F
where
    F: core::future::Future + 'static,
    F::Output: 'static,
{
}
impl<F> Awaitable for F
where
    F: core::future::Future + 'static,
    F::Output: 'static,
{
    type Output = F::Output;
    fn ensure_future(self, lp: &EventLoop) -> Future<F::Output> {
        lp.create_task(self).future().clone()
    }
    fn take_output(fut: &Future<F::Output>) -> Result<F::Output> {
        fut.take_result()
    }
}
