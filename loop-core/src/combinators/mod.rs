//! asyncio's task functions: [`sleep`](crate::EventLoop::sleep), [`gather`],
//! [`wait`], [`wait_for`], [`as_completed`] and [`shield`].
//!
//! They take anything [`Awaitable`]: a loop [`Future`](crate::Future), a
//! [`Task`](crate::Task), or a plain Rust future, which is wrapped in a task as asyncio's
//! `ensure_future` wraps a coroutine. Every combinator is built on done-callbacks and
//! timers of the loop, so its timing (in loop iterations) follows asyncio's.
//!
//! # Differences from asyncio
//!
//! - A Rust future cannot catch its cancellation and go on: a cancelled task's future is
//!   dropped. Where asyncio's combinators wait for a cancelled coroutine to finish its
//!   `except`/`finally` blocks, the destructors of the dropped future have run by the
//!   time the task completes.
//! - The outer future of [`gather`] is a plain [`Future`](crate::Future): cancelling it
//!   completes it at once, and its children are cancelled in the next iteration (asyncio
//!   cancels the children first and completes the outer future when they have
//!   finished).

mod as_completed;
mod awaitable;
mod gather;
mod shield;
mod sleep;
mod wait;
mod wait_for;

pub use as_completed::{AsCompleted, as_completed};
pub use awaitable::Awaitable;
pub use gather::{gather, gather_settled};
pub use shield::shield;
pub use sleep::Sleep;
pub use wait::{ReturnWhen, WaitFuture, wait};
pub use wait_for::{WaitFor, wait_for};

use crate::error::{Error, ErrorKind, Result};
use crate::event_loop::EventLoop;
use crate::future::Future;

/// asyncio's `ValueError` for a future bound to another loop.
fn check_loop<T: 'static>(lp: &EventLoop, fut: &Future<T>) -> Result<()> {
    if fut.get_loop().ptr_eq(lp) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::InvalidInput,
            "the future belongs to a different loop",
        ))
    }
}
