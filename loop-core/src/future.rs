//! [`Future<T>`]: asyncio's Future, a result slot with done-callbacks, that Rust code can
//! also `.await`.

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::fmt;
use core::future::IntoFuture;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use crate::error::{Error, ErrorKind, Result};
use crate::event_loop::EventLoop;
use crate::task::raw::{FutureNode, Local, Plain};

/// Identifies a done-callback, for [`Future::remove_done_callback`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CallbackId(u64);

type DoneCallback<T> = Box<dyn FnOnce(&Future<T>)>;

/// A done-callback of the crate's own combinators: scheduled through the ready queue
/// like any done-callback (in registration order, never inline), but without a closure
/// to box or a handle to allocate: the loop calls [`notify`](Self::notify) with the index
/// the combinator registered it under.
pub(crate) trait DoneNotify {
    /// The future registered under `index` is done.
    fn notify(&self, index: u32);
    /// What to call it in error and debug reports.
    fn name(&self) -> &'static str;
}

enum Waiter<T> {
    Waker(Waker),
    Callback(DoneCallback<T>),
    Notify(Rc<dyn DoneNotify>, u32),
}

/// The waiters of a future, in registration order. Most futures have at most one (the
/// task awaiting it, or one combinator's callback), which is kept inline.
enum Waiters<T> {
    None,
    One(u64, Waiter<T>),
    Many(Vec<(u64, Waiter<T>)>),
}

impl<T> Waiters<T> {
    fn push(&mut self, id: u64, waiter: Waiter<T>) {
        match core::mem::replace(self, Waiters::None) {
            Waiters::None => *self = Waiters::One(id, waiter),
            Waiters::One(i, w) => *self = Waiters::Many(alloc::vec![(i, w), (id, waiter)]),
            Waiters::Many(mut v) => {
                v.push((id, waiter));
                *self = Waiters::Many(v);
            }
        }
    }

    fn find_mut(&mut self, id: u64) -> Option<&mut Waiter<T>> {
        match self {
            Waiters::None => None,
            Waiters::One(i, w) => (*i == id).then_some(w),
            Waiters::Many(v) => v.iter_mut().find(|(i, _)| *i == id).map(|(_, w)| w),
        }
    }

    fn remove(&mut self, id: u64) -> Option<Waiter<T>> {
        match self {
            Waiters::One(i, _) if *i == id => match core::mem::replace(self, Waiters::None) {
                Waiters::One(_, w) => Some(w),
                _ => None,
            },
            Waiters::Many(v) => {
                let pos = v.iter().position(|(i, _)| *i == id)?;
                Some(v.remove(pos).1)
            }
            _ => None,
        }
    }

    /// Visit the waiters in order, consuming them.
    fn for_each(self, mut f: impl FnMut(Waiter<T>)) {
        match self {
            Waiters::None => {}
            Waiters::One(_, w) => f(w),
            Waiters::Many(v) => v.into_iter().for_each(|(_, w)| f(w)),
        }
    }
}

struct State<T> {
    /// `None` while pending.
    outcome: Option<Result<T>>,
    /// The value was moved out by [`Future::take_result`].
    taken: bool,
    /// The future was cancelled (asyncio's CANCELLED state). A future that failed with a
    /// cancellation error without being cancelled (`gather`'s outer future when a child
    /// was cancelled) is done with that error but not cancelled.
    cancelled: bool,
    /// Waiters in registration order: wakers of awaiting tasks and done-callbacks are
    /// notified in one sequence, as asyncio schedules its callbacks.
    waiters: Waiters<T>,
}

/// A future's state: the part of its node after the header (see `task/raw.rs`).
pub(crate) struct FutureCore<T> {
    lp: EventLoop,
    state: RefCell<State<T>>,
    next_waiter: Cell<u64>,
}

impl<T> FutureCore<T> {
    pub(crate) fn new(lp: &EventLoop) -> Self {
        FutureCore {
            lp: lp.clone(),
            state: RefCell::new(State {
                outcome: None,
                taken: false,
                cancelled: false,
                waiters: Waiters::None,
            }),
            next_waiter: Cell::new(0),
        }
    }

    pub(crate) fn get_loop(&self) -> &EventLoop {
        &self.lp
    }

    pub(crate) fn done(&self) -> bool {
        self.state.borrow().outcome.is_some()
    }

    pub(crate) fn cancelled(&self) -> bool {
        self.state.borrow().cancelled
    }
}

/// An asyncio-style future: a slot that is set once with a result, an error, or a
/// cancellation, and notifies its done-callbacks (always through
/// [`call_soon`](EventLoop::call_soon), never inline) and its awaiters.
///
/// `Future<T>` is a cheap, clonable handle; `.await` on it (for `T: Clone`) gives
/// `Ok(value)` or the error, and can be done by many waiters.
pub struct Future<T> {
    node: Local<FutureNode<T>>,
}

impl<T> Clone for Future<T> {
    fn clone(&self) -> Self {
        Future {
            node: self.node.clone(),
        }
    }
}

impl<T> Future<T> {
    fn inner(&self) -> &FutureCore<T> {
        &self.node.core
    }
}

impl<T: 'static> Future<T> {
    /// A pending future bound to `lp` (asyncio's `loop.create_future()`).
    pub fn new(lp: &EventLoop) -> Self {
        Future {
            node: Local::new_plain(FutureCore::new(lp)),
        }
    }

    pub(crate) fn from_node(node: Local<FutureNode<T>>) -> Self {
        Future { node }
    }

    /// The loop this future belongs to.
    pub fn get_loop(&self) -> &EventLoop {
        &self.inner().lp
    }

    /// Whether a result, an error or a cancellation was set.
    pub fn done(&self) -> bool {
        self.inner().done()
    }

    /// Whether the future was cancelled (with [`cancel`](Self::cancel), or as a task
    /// whose future ended with a cancellation). A future that failed with a
    /// cancellation error it was given, as [`gather`](crate::gather)'s does when a child
    /// is cancelled, is done but not cancelled (asyncio's distinction between the
    /// CANCELLED state and a `CancelledError` exception).
    pub fn cancelled(&self) -> bool {
        self.inner().cancelled()
    }

    /// Set the result and schedule the callbacks.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidState`] if the future is already done;
    /// [`ErrorKind::Runtime`] if it is a task's future (a task sets its own result).
    pub fn set_result(&self, value: T) -> Result<()> {
        self.check_settable()?;
        self.complete(Ok(value));
        Ok(())
    }

    /// Set an error and schedule the callbacks (asyncio's `set_exception`).
    ///
    /// # Errors
    ///
    /// As [`set_result`](Self::set_result); also [`ErrorKind::InvalidInput`] for a
    /// cancellation error, which must go through [`cancel`](Self::cancel).
    pub fn set_exception(&self, error: Error) -> Result<()> {
        if error.is_cancelled() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "a cancellation cannot be set as an exception; use cancel()",
            ));
        }
        self.check_settable()?;
        self.complete(Err(error));
        Ok(())
    }

    fn check_settable(&self) -> Result<()> {
        if self.node.is_task() {
            return Err(Error::new(
                ErrorKind::Runtime,
                "a task's result is set by its future, not by set_result/set_exception",
            ));
        }
        if self.done() {
            return Err(Error::new(
                ErrorKind::InvalidState,
                "future is already done",
            ));
        }
        Ok(())
    }

    /// Cancel the future: returns `false` if it was already done, else marks it cancelled,
    /// schedules the callbacks and returns `true`. On a task's future, cancels the task.
    pub fn cancel(&self) -> bool {
        self.cancel_with_message(None)
    }

    /// [`cancel`](Self::cancel) with a message carried by the cancellation error.
    pub fn cancel_with_message(&self, message: Option<Cow<'static, str>>) -> bool {
        if let Some(task) = self.node.as_task() {
            return task.cancel(message);
        }
        self.cancel_direct(message)
    }

    pub(crate) fn cancel_direct(&self, message: Option<Cow<'static, str>>) -> bool {
        if self.done() {
            return false;
        }
        self.settle(Err(Error::cancelled(message)), true);
        true
    }

    /// Complete a task's result with the output of the task's future. As in asyncio's
    /// `Task.__step`, a future that returns a value after `cancel()` was requested in its
    /// last step (the task cancelled itself) ends cancelled; an error is kept.
    pub(crate) fn complete_task(&self, outcome: Result<T>) {
        if outcome.is_ok()
            && let Some(task) = self.node.as_task()
            && let Some(message) = task.take_cancel_request()
        {
            self.cancel_direct(message);
        } else {
            self.complete(outcome);
        }
    }

    /// Complete a pending future with `outcome` (an error, a cancellation error
    /// included, is an exception: see [`cancelled`](Self::cancelled)). The caller checked
    /// that it is pending.
    pub(crate) fn complete(&self, outcome: Result<T>) {
        self.settle(outcome, false);
    }

    /// Complete a pending future, cancelled or not.
    fn settle(&self, outcome: Result<T>, cancelled: bool) {
        let waiters = {
            let mut st = self.inner().state.borrow_mut();
            debug_assert!(st.outcome.is_none());
            st.outcome = Some(outcome);
            st.cancelled = cancelled;
            core::mem::replace(&mut st.waiters, Waiters::None)
        };
        waiters.for_each(|waiter| match waiter {
            Waiter::Waker(w) => self.inner().lp.wake(w),
            Waiter::Callback(cb) => self.schedule_callback(cb),
            Waiter::Notify(n, index) => self.inner().lp.schedule_notify(n, index),
        });
    }

    fn schedule_callback(&self, cb: DoneCallback<T>) {
        let fut = self.clone();
        // On a closed loop nothing can run any more; the callback is dropped with it.
        let _ = self.inner().lp.call_soon(move || cb(&fut));
    }

    /// The error, if the future failed (a cancellation error it failed with, without
    /// being cancelled, included); `Ok(None)` if it succeeded.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidState`] while pending; the cancellation error if cancelled.
    pub fn exception(&self) -> Result<Option<Error>> {
        let st = self.inner().state.borrow();
        match &st.outcome {
            None => Err(Error::new(ErrorKind::InvalidState, "result is not set")),
            Some(_) if st.taken => Ok(None),
            Some(Err(e)) if st.cancelled => Err(e.clone()),
            Some(Err(e)) => Ok(Some(e.clone())),
            Some(Ok(_)) => Ok(None),
        }
    }

    /// The result: the value, or the error it failed with (the cancellation error if
    /// cancelled).
    ///
    /// # Errors
    ///
    /// The future's error; [`ErrorKind::InvalidState`] while pending or after the value
    /// was taken with [`take_result`](Self::take_result).
    pub fn result(&self) -> Result<T>
    where
        T: Clone,
    {
        let st = self.inner().state.borrow();
        match &st.outcome {
            None => Err(Error::new(ErrorKind::InvalidState, "result is not set")),
            Some(_) if st.taken => Err(Error::new(ErrorKind::InvalidState, "result was taken")),
            Some(r) => r.clone(),
        }
    }

    /// Move the result out (for values that are not `Clone`). Errors stay in place and
    /// are returned to every caller; a value can be taken once.
    ///
    /// # Errors
    ///
    /// As [`result`](Self::result).
    pub fn take_result(&self) -> Result<T> {
        let mut st = self.inner().state.borrow_mut();
        match &st.outcome {
            None => Err(Error::new(ErrorKind::InvalidState, "result is not set")),
            Some(_) if st.taken => Err(Error::new(ErrorKind::InvalidState, "result was taken")),
            Some(Err(e)) => Err(e.clone()),
            Some(Ok(_)) => {
                st.taken = true;
                // Keep the future done: park a marker error, which `taken` hides.
                let marker = Some(Err(Error::from_kind(ErrorKind::InvalidState)));
                match core::mem::replace(&mut st.outcome, marker) {
                    Some(Ok(v)) => Ok(v),
                    _ => unreachable!("checked above"),
                }
            }
        }
    }

    /// Add a callback run with this future once it is done, scheduled with
    /// [`call_soon`](EventLoop::call_soon) (at once if the future is already done).
    pub fn add_done_callback(&self, f: impl FnOnce(&Future<T>) + 'static) -> CallbackId {
        let id = self.next_id();
        if self.done() {
            self.schedule_callback(Box::new(f));
        } else {
            self.inner()
                .state
                .borrow_mut()
                .waiters
                .push(id, Waiter::Callback(Box::new(f)));
        }
        CallbackId(id)
    }

    /// Add a crate-internal done-callback (see [`DoneNotify`]): `n.notify(index)` runs,
    /// scheduled through the ready queue, once this future is done.
    pub(crate) fn add_notify(&self, n: Rc<dyn DoneNotify>, index: u32) {
        if self.done() {
            self.inner().lp.schedule_notify(n, index);
        } else {
            let id = self.next_id();
            self.inner()
                .state
                .borrow_mut()
                .waiters
                .push(id, Waiter::Notify(n, index));
        }
    }

    /// Remove a callback that has not been scheduled yet; returns how many were removed
    /// (0 or 1).
    pub fn remove_done_callback(&self, id: CallbackId) -> usize {
        self.remove_waiter(id.0)
    }

    fn next_id(&self) -> u64 {
        let id = self.inner().next_waiter.get();
        self.inner().next_waiter.set(id + 1);
        id
    }

    fn remove_waiter(&self, id: u64) -> usize {
        // Ids are unique. The removed waiter (a user closure) is dropped after the borrow
        // ends: its destructor may look at this future.
        let removed = {
            let mut st = self.inner().state.borrow_mut();
            st.waiters.remove(id)
        };
        usize::from(removed.is_some())
    }

    /// Register `waker` under `slot` (allocating one on first use); returns the slot.
    fn register_waker(&self, slot: Option<u64>, waker: &Waker) -> u64 {
        let mut st = self.inner().state.borrow_mut();
        if let Some(id) = slot
            && let Some(w) = st.waiters.find_mut(id)
        {
            if let Waiter::Waker(old) = w
                && !old.will_wake(waker)
            {
                old.clone_from(waker);
            }
            return id;
        }
        drop(st);
        let id = self.next_id();
        self.inner()
            .state
            .borrow_mut()
            .waiters
            .push(id, Waiter::Waker(waker.clone()));
        id
    }

    /// A type-erased reference, for contexts and task bookkeeping.
    pub fn as_ref(&self) -> FutureRef {
        FutureRef(self.node.erase())
    }

    /// Whether two handles refer to the same future.
    pub fn ptr_eq(&self, other: &Future<T>) -> bool {
        self.node.ptr_eq(&other.node)
    }
}

impl<T> fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.inner().state.borrow();
        let state = match &st.outcome {
            None => "pending",
            Some(Ok(_)) => "finished",
            Some(Err(_)) if st.cancelled => "cancelled",
            Some(Err(_)) if st.taken => "finished",
            Some(Err(_)) => "failed",
        };
        f.debug_struct("Future").field("state", &state).finish()
    }
}

/// The type-erased operations on any future, implemented by every kind of node.
pub(crate) trait AnyFuture {
    fn done(&self) -> bool;
    fn cancelled(&self) -> bool;
    fn cancel(&self, message: Option<Cow<'static, str>>) -> bool;
}

impl<T: 'static> AnyFuture for Plain<T> {
    fn done(&self) -> bool {
        self.0.core.done()
    }
    fn cancelled(&self) -> bool {
        self.0.core.cancelled()
    }
    fn cancel(&self, message: Option<Cow<'static, str>>) -> bool {
        Future::from_node(self.to_local()).cancel_direct(message)
    }
}

/// A type-erased handle to any [`Future`], for exception contexts and for cancelling what
/// a task awaits.
#[derive(Clone)]
pub struct FutureRef(Local<dyn AnyFuture>);

impl FutureRef {
    /// Whether the future is done.
    pub fn done(&self) -> bool {
        self.0.done()
    }

    /// Whether the future was cancelled.
    pub fn cancelled(&self) -> bool {
        self.0.cancelled()
    }

    /// Cancel the future (see [`Future::cancel`]).
    pub fn cancel(&self) -> bool {
        self.0.cancel(None)
    }

    pub(crate) fn cancel_with_message(&self, message: Option<Cow<'static, str>>) -> bool {
        self.0.cancel(message)
    }

    /// Whether two references point to the same future.
    pub fn ptr_eq(&self, other: &FutureRef) -> bool {
        self.0.ptr_eq(&other.0)
    }
}

impl fmt::Debug for FutureRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.cancelled() {
            "cancelled"
        } else if self.done() {
            "done"
        } else {
            "pending"
        };
        f.debug_struct("FutureRef").field("state", &state).finish()
    }
}

/// The future returned by `.await` on a [`Future`]: waits for it and returns a clone of
/// its result. Dropping it unregisters the waiter.
#[must_use = "futures do nothing unless awaited"]
pub struct Wait<T: 'static> {
    fut: Future<T>,
    slot: Option<u64>,
}

impl<T: Clone + 'static> core::future::Future for Wait<T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let this = self.get_mut();
        if this.fut.done() {
            this.slot = None;
            return Poll::Ready(this.fut.result());
        }
        this.slot = Some(this.fut.register_waker(this.slot, cx.waker()));
        this.fut.inner().lp.note_awaiting(this.fut.as_ref());
        Poll::Pending
    }
}

impl<T: 'static> Drop for Wait<T> {
    fn drop(&mut self) {
        if let Some(id) = self.slot.take() {
            self.fut.remove_waiter(id);
        }
    }
}

impl<T: 'static> fmt::Debug for Wait<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait").field("future", &self.fut).finish()
    }
}

impl<T: Clone + 'static> IntoFuture for Future<T> {
    type Output = Result<T>;
    type IntoFuture = Wait<T>;

    fn into_future(self) -> Wait<T> {
        Wait {
            fut: self,
            slot: None,
        }
    }
}

impl<T: Clone + 'static> IntoFuture for &Future<T> {
    type Output = Result<T>;
    type IntoFuture = Wait<T>;

    fn into_future(self) -> Wait<T> {
        Wait {
            fut: self.clone(),
            slot: None,
        }
    }
}
