//! [`gather`] and [`gather_settled`]: asyncio's `gather`, without and with
//! `return_exceptions=True`.

use alloc::borrow::Cow;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::marker::PhantomData;

use super::{Awaitable, check_loop};
use crate::error::Result;
use crate::event_loop::EventLoop;
use crate::future::{DoneNotify, Future};

/// How the results are collected: the two modes of asyncio's `gather`.
trait Mode<T> {
    type Item: 'static;
    /// Whether a failed or cancelled child completes the outer future at once.
    const FAIL_FAST: bool;
    fn item(outcome: Result<T>) -> Result<Self::Item>;
}

/// `return_exceptions=False`: the first error is the outer future's error.
struct FailFast;
impl<T: 'static> Mode<T> for FailFast {
    type Item = T;
    const FAIL_FAST: bool = true;
    fn item(outcome: Result<T>) -> Result<T> {
        outcome
    }
}

/// `return_exceptions=True`: errors are results.
struct Settled;
impl<T: 'static> Mode<T> for Settled {
    type Item = Result<T>;
    const FAIL_FAST: bool = false;
    fn item(outcome: Result<T>) -> Result<Result<T>> {
        Ok(outcome)
    }
}

struct Gathering<T: 'static, M: Mode<T>> {
    outer: Future<Vec<M::Item>>,
    /// In input order; emptied once the outer future is done.
    children: RefCell<Vec<Future<T>>>,
    remaining: Cell<usize>,
    /// The outer future was completed here (not cancelled from outside), so its
    /// completion must not cancel the children.
    settled: Cell<bool>,
    read: fn(&Future<T>) -> Result<T>,
    mode: PhantomData<M>,
}

impl<T: 'static, M: Mode<T> + 'static> Gathering<T, M> {
    fn settle(&self, outcome: Result<Vec<M::Item>>) {
        self.settled.set(true);
        self.outer.complete(outcome);
    }

    /// The done-callback of the child at `index` (asyncio's `_done_callback`).
    fn child_done(&self, index: usize) {
        let remaining = self.remaining.get() - 1;
        self.remaining.set(remaining);
        if self.outer.done() {
            return;
        }
        // The children are only let go once the outer future is done.
        let Some(child) = self.children.borrow().get(index).cloned() else {
            return;
        };
        if M::FAIL_FAST {
            match child.exception() {
                Ok(None) => {}
                // A cancelled child fails the outer future with its cancellation error,
                // without cancelling the outer future's other children.
                Err(cancelled) => return self.settle(Err(cancelled)),
                Ok(Some(error)) => return self.settle(Err(error)),
            }
        }
        if remaining == 0 {
            let results = self.collect();
            self.settle(results);
        }
    }

    /// Every child's outcome in input order, stopping at the first read that fails. The
    /// `Vec` is sized up front: collecting into `Result<Vec<_>>` cannot know the length
    /// and would grow (and copy) it repeatedly.
    fn collect(&self) -> Result<Vec<M::Item>> {
        let children = self.children.borrow();
        let mut results = Vec::with_capacity(children.len());
        for child in children.iter() {
            results.push(M::item((self.read)(child))?);
        }
        Ok(results)
    }

    /// The outer future's done-callback: if it was cancelled from outside, cancel the
    /// children that are not done; then let the children go.
    fn outer_done(&self) {
        let children = core::mem::take(&mut *self.children.borrow_mut());
        if self.settled.get() || !self.outer.cancelled() {
            return;
        }
        let message = match self.outer.exception() {
            Err(e) => e.message().map(|m| Cow::Owned(String::from(m))),
            Ok(_) => None,
        };
        for child in children.iter().filter(|c| !c.done()) {
            child.cancel_with_message(message.clone());
        }
    }
}

/// The index the outer future's done-callback is registered under.
const OUTER: u32 = u32::MAX;

impl<T: 'static, M: Mode<T> + 'static> DoneNotify for Gathering<T, M> {
    fn notify(&self, index: u32) {
        if index == OUTER {
            self.outer_done();
        } else {
            self.child_done(index as usize);
        }
    }

    fn name(&self) -> &'static str {
        "gather"
    }
}

fn start<A, I, M>(lp: &EventLoop, aws: I) -> Future<Vec<M::Item>>
where
    A: Awaitable,
    I: IntoIterator<Item = A>,
    M: Mode<A::Output> + 'static,
{
    let outer = Future::new(lp);
    let children: Vec<Future<A::Output>> = aws.into_iter().map(|a| a.ensure_future(lp)).collect();
    if children.is_empty() {
        outer.complete(Ok(Vec::new()));
        return outer;
    }
    if let Some(Err(e)) = children
        .iter()
        .map(|c| check_loop(lp, c))
        .find(Result::is_err)
    {
        outer.complete(Err(e));
        return outer;
    }
    let state = Rc::new(Gathering::<A::Output, M> {
        outer: outer.clone(),
        children: RefCell::new(Vec::new()),
        remaining: Cell::new(children.len()),
        settled: Cell::new(false),
        read: A::take_output,
        mode: PhantomData,
    });
    // The children's and the outer future's done-callbacks are `DoneNotify`s: no closure
    // or handle to allocate per child.
    for (index, child) in children.iter().enumerate() {
        // A `Vec` of more than `u32::MAX` futures does not fit in memory.
        let index = u32::try_from(index)
            .ok()
            .filter(|&i| i != OUTER)
            .expect("gather of more than 2^32 - 1 awaitables");
        child.add_notify(state.clone(), index);
    }
    *state.children.borrow_mut() = children;
    outer.add_notify(state, OUTER);
    outer
}

/// Run the awaitables concurrently and collect their results in input order (asyncio's
/// `gather(*aws)`).
///
/// Rust futures are wrapped in tasks at once; loop futures and tasks are used as they
/// are. The returned future:
///
/// - succeeds with every result, in the order of `aws` (not of completion), once all are
///   done; with no awaitables it is done at once with an empty `Vec`;
/// - fails with the first error as soon as a child fails, while the other children
///   keep running (they are not cancelled);
/// - fails with a child's cancellation error if a child is cancelled, without being
///   cancelled itself ([`cancelled`](Future::cancelled) is `false`, as in asyncio, where
///   the outer future gets the `CancelledError` as its exception); unlike cancelling the
///   outer future, this does not cancel the other children;
/// - when cancelled itself, cancels every child that is not done yet (in the next
///   iteration, from its done-callback), with the same message.
///
/// Each child costs one done-callback; gathering `n` children is O(n).
///
/// Awaiting the returned future clones the results (`T: Clone`, as for any loop
/// future); for other results, wait for it (with [`wait`](crate::wait)) and move them
/// out with [`take_result`](Future::take_result).
///
/// # Errors
///
/// The outer future fails with [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput)
/// if a future belongs to another loop (children already started keep running).
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use loop_core::{EventLoop, gather, sim::SimHost};
///
/// let lp = EventLoop::new(SimHost::new(1));
/// let jobs = [3u64, 1, 2].map(|secs| {
///     let lp = lp.clone();
///     async move {
///         lp.sleep(Duration::from_secs(secs)).await.unwrap();
///         secs * 10
///     }
/// });
/// let all = gather(&lp, jobs);
/// // Input order, though the second job finished first.
/// assert_eq!(lp.run_until_complete(all)??, vec![30, 10, 20]);
/// assert_eq!(lp.time().as_secs_f64(), 3.0);
/// # Ok::<(), loop_core::Error>(())
/// ```
pub fn gather<A, I>(lp: &EventLoop, aws: I) -> Future<Vec<A::Output>>
where
    A: Awaitable,
    I: IntoIterator<Item = A>,
{
    start::<A, I, FailFast>(lp, aws)
}

/// [`gather`] with asyncio's `return_exceptions=True`: every child's outcome, success,
/// error or cancellation, is collected in input order, and the returned future succeeds
/// once all children are done.
///
/// Cancelling the returned future cancels the children that are not done (as with
/// [`gather`]), and the returned future is cancelled.
///
/// # Examples
///
/// ```
/// use loop_core::{Error, ErrorKind, EventLoop, gather_settled, sim::SimHost};
///
/// let lp = EventLoop::new(SimHost::new(1));
/// let ok = lp.create_try_task(async { Ok::<_, Error>(1) });
/// let failed = lp.create_try_task(async { Err::<i32, _>(Error::from_kind(ErrorKind::Other)) });
/// let all = gather_settled(&lp, [ok, failed]);
/// let results = lp.run_until_complete(all)??;
/// assert_eq!(results[0], Ok(1));
/// assert_eq!(results[1].as_ref().unwrap_err().kind(), ErrorKind::Other);
/// # Ok::<(), loop_core::Error>(())
/// ```
pub fn gather_settled<A, I>(lp: &EventLoop, aws: I) -> Future<Vec<Result<A::Output>>>
where
    A: Awaitable,
    I: IntoIterator<Item = A>,
{
    start::<A, I, Settled>(lp, aws)
}
