//! [`as_completed`]: asyncio's `as_completed(aws, timeout=)`, as a struct whose
//! [`next`](AsCompleted::next) gives the results in completion order.

use alloc::collections::VecDeque;
use alloc::rc::{Rc, Weak};
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::fmt;
use core::future::poll_fn;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use super::{Awaitable, check_loop};
use crate::error::{Error, ErrorKind, Result};
use crate::event_loop::EventLoop;
use crate::future::{CallbackId, Future};
use crate::handle::TimerHandle;

/// What an entry of the completion queue stands for.
#[derive(Clone, Copy)]
enum Entry {
    /// The future at this index is done.
    Done(usize),
    /// The timeout passed before the future at this index was done.
    TimedOut(usize),
    /// The future at this index belongs to another loop.
    WrongLoop(usize),
}

struct Shared<T: 'static> {
    children: Vec<Future<T>>,
    /// The done-callback of each child, until it ran or was removed.
    callbacks: RefCell<Vec<Option<CallbackId>>>,
    /// In completion order.
    queue: RefCell<VecDeque<Entry>>,
    waker: Cell<Option<Waker>>,
}

impl<T: 'static> Shared<T> {
    fn push(&self, entry: Entry) {
        self.queue.borrow_mut().push_back(entry);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    /// A child's done-callback (asyncio's `_on_completion`).
    fn completed(&self, index: usize) {
        // `None`: the timeout came first and already queued this child.
        if self.callbacks.borrow_mut()[index].take().is_some() {
            self.push(Entry::Done(index));
        }
    }

    /// The timer (asyncio's `_on_timeout`): every child still pending times out.
    fn timed_out(&self) {
        let mut callbacks = self.callbacks.borrow_mut();
        let mut queue = self.queue.borrow_mut();
        for (index, slot) in callbacks.iter_mut().enumerate() {
            if let Some(id) = slot.take() {
                self.children[index].remove_done_callback(id);
                queue.push_back(Entry::TimedOut(index));
            }
        }
        drop((callbacks, queue));
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

/// The results of several awaitables in the order they complete (asyncio's
/// `as_completed`): see [`as_completed`].
#[must_use = "as_completed yields nothing unless `next` is awaited"]
pub struct AsCompleted<T: 'static> {
    shared: Rc<Shared<T>>,
    read: fn(&Future<T>) -> Result<T>,
    timer: Option<TimerHandle>,
    /// How many entries were not yielded yet.
    left: usize,
}

/// Iterate over the results of `aws` in completion order (asyncio's `as_completed`).
///
/// Rust futures are wrapped in tasks, and the futures watched, at once; the timeout,
/// if any, counts from now. [`AsCompleted::next`] then returns each result as its
/// future completes (`None` after the last one). When the timeout passes, every
/// awaitable not done yet yields an [`ErrorKind::Timeout`] error (in input order) after
/// the results that completed before it; the awaitables are not cancelled.
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use loop_core::{EventLoop, as_completed, sim::SimHost};
///
/// let lp = EventLoop::new(SimHost::new(1));
/// let jobs = [3u64, 1, 2].map(|secs| {
///     let lp = lp.clone();
///     async move {
///         lp.sleep(Duration::from_secs(secs)).await.unwrap();
///         secs
///     }
/// });
/// let mut results = as_completed(&lp, jobs, None);
/// let order = lp.run_until_complete(async move {
///     let mut order = Vec::new();
///     while let Some(result) = results.next().await {
///         order.push(result.unwrap());
///     }
///     order
/// })?;
/// assert_eq!(order, [1, 2, 3]);
/// # Ok::<(), loop_core::Error>(())
/// ```
pub fn as_completed<A, I>(
    lp: &EventLoop,
    aws: I,
    timeout: Option<Duration>,
) -> AsCompleted<A::Output>
where
    A: Awaitable,
    I: IntoIterator<Item = A>,
{
    let children: Vec<Future<A::Output>> = aws.into_iter().map(|a| a.ensure_future(lp)).collect();
    let n = children.len();
    let shared = Rc::new(Shared {
        children,
        callbacks: RefCell::new(Vec::with_capacity(n)),
        queue: RefCell::new(VecDeque::with_capacity(n)),
        waker: Cell::new(None),
    });
    {
        let mut callbacks = shared.callbacks.borrow_mut();
        for (index, child) in shared.children.iter().enumerate() {
            if check_loop(lp, child).is_err() {
                callbacks.push(None);
                shared.queue.borrow_mut().push_back(Entry::WrongLoop(index));
                continue;
            }
            let weak = Rc::downgrade(&shared);
            callbacks.push(Some(child.add_done_callback(move |_| {
                if let Some(s) = weak.upgrade() {
                    s.completed(index);
                }
            })));
        }
    }
    let timer = match timeout {
        Some(t) if n > 0 => {
            let weak: Weak<Shared<A::Output>> = Rc::downgrade(&shared);
            let timer = lp.call_later(t, move || {
                if let Some(s) = weak.upgrade() {
                    s.timed_out();
                }
            });
            // On a closed loop nothing completes and no timer runs; the children's
            // callbacks are dropped with the loop's queues.
            timer.ok()
        }
        _ => None,
    };
    AsCompleted {
        shared,
        read: A::take_output,
        timer,
        left: n,
    }
}

impl<T: 'static> AsCompleted<T> {
    /// The next result in completion order, with the index of its awaitable in the
    /// input; `None` once every awaitable was yielded.
    ///
    /// # Errors
    ///
    /// The awaitable's error; [`ErrorKind::Timeout`] for each awaitable not done when the
    /// timeout passed; [`ErrorKind::InvalidInput`] for a future of another loop.
    pub fn poll_next_indexed(&mut self, cx: &mut Context<'_>) -> Poll<Option<(usize, Result<T>)>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let entry = self.shared.queue.borrow_mut().pop_front();
        let Some(entry) = entry else {
            let old = self.shared.waker.take();
            match old {
                Some(w) if w.will_wake(cx.waker()) => self.shared.waker.set(Some(w)),
                _ => self.shared.waker.set(Some(cx.waker().clone())),
            }
            return Poll::Pending;
        };
        self.left -= 1;
        if self.left == 0
            && let Some(t) = self.timer.take()
        {
            t.cancel();
        }
        Poll::Ready(Some(match entry {
            Entry::Done(i) => (i, (self.read)(&self.shared.children[i])),
            Entry::TimedOut(i) => (i, Err(Error::from_kind(ErrorKind::Timeout))),
            Entry::WrongLoop(i) => (
                i,
                Err(Error::new(
                    ErrorKind::InvalidInput,
                    "the future belongs to a different loop",
                )),
            ),
        }))
    }

    /// [`poll_next_indexed`](Self::poll_next_indexed) without the index.
    ///
    /// # Errors
    ///
    /// As [`poll_next_indexed`](Self::poll_next_indexed).
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T>>> {
        self.poll_next_indexed(cx).map(|o| o.map(|(_, r)| r))
    }

    /// Wait for the next result in completion order; `None` once every awaitable was
    /// yielded.
    ///
    /// # Errors
    ///
    /// As [`poll_next_indexed`](Self::poll_next_indexed).
    #[allow(
        clippy::should_implement_trait,
        reason = "async iteration: this returns a future; core has no async iterator trait yet"
    )]
    pub fn next(&mut self) -> impl core::future::Future<Output = Option<Result<T>>> + '_ {
        poll_fn(move |cx| self.poll_next(cx))
    }

    /// Like [`next`](Self::next), with the index of the awaitable in the input.
    ///
    /// # Errors
    ///
    /// As [`poll_next_indexed`](Self::poll_next_indexed).
    pub fn next_indexed(
        &mut self,
    ) -> impl core::future::Future<Output = Option<(usize, Result<T>)>> + '_ {
        poll_fn(move |cx| self.poll_next_indexed(cx))
    }

    /// How many results are still to be yielded.
    pub fn remaining(&self) -> usize {
        self.left
    }
}

impl<T: 'static> Drop for AsCompleted<T> {
    fn drop(&mut self) {
        if let Some(t) = self.timer.take() {
            t.cancel();
        }
        let mut callbacks = self.shared.callbacks.borrow_mut();
        for (child, slot) in self.shared.children.iter().zip(callbacks.iter_mut()) {
            if let Some(id) = slot.take() {
                child.remove_done_callback(id);
            }
        }
    }
}

impl<T: 'static> fmt::Debug for AsCompleted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("remaining", &self.left)
            .field("ready", &self.shared.queue.borrow().len())
            .finish()
    }
}
