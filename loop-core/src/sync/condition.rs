//! [`Condition`]: a condition variable over a [`Lock`].

use alloc::rc::Rc;
use core::cell::RefCell;
use core::fmt;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::lock::{Lock, LockAcquire, LockGuard};
use super::waitqueue::{WaitQueue, WaiterId, Wakers};
use crate::error::{Error, ErrorKind, Result};

/// asyncio's `Condition`: lets tasks wait until another task notifies them, with a
/// [`Lock`] protecting the shared state they look at.
///
/// The usual pattern: take the lock ([`acquire`](Self::acquire)), check the state,
/// [`wait`](Self::wait) (which releases the lock while waiting and takes it back before
/// returning) until it is right; a producer takes the lock, changes the state and calls
/// [`notify`](Self::notify) or [`notify_all`](Self::notify_all). Waiters are notified
/// first come, first served; a notified waiter then queues for the lock like any other
/// acquirer.
///
/// # Cancellation
///
/// asyncio's `wait()` re-acquires the lock even when it is cancelled. A Rust future
/// cannot wait in its destructor, so a [`ConditionWait`] dropped before it completes
/// does **not** hold the lock afterwards: it leaves the line (and the lock's line, if it
/// was already re-acquiring). When a task is cancelled this ends the same way as in
/// asyncio, where the re-acquired lock is released again by the `async with` block as
/// the cancellation propagates: the guard held across the wait is inert and the lock is
/// free. Code that abandons a wait and goes on (a timeout) must re-acquire the lock
/// itself.
///
/// A waiter dropped after it was notified passes its notification to the next waiter
/// (as CPython 3.13 does), so a `notify(1)` is never lost to a cancelled task.
///
/// `Condition` is a cheap handle: clones share the same waiters and lock.
///
/// # Examples
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use loop_core::{EventLoop, sim::SimHost, sync::Condition};
///
/// let lp = EventLoop::new(SimHost::new(1));
/// let cond = Condition::new();
/// let items = Rc::new(Cell::new(0));
///
/// let (c, i) = (cond.clone(), items.clone());
/// let consumer = lp.create_try_task(async move {
///     let _guard = c.acquire().await;
///     c.wait_for(|| i.get() > 0).await?; // releases the lock while waiting
///     i.set(i.get() - 1);
///     Ok::<_, loop_core::Error>(i.get())
/// });
/// let (c, i) = (cond.clone(), items.clone());
/// lp.create_try_task(async move {
///     let _guard = c.acquire().await;
///     i.set(i.get() + 1);
///     c.notify(1)
/// });
/// assert_eq!(lp.run_until_complete(consumer)??, 0);
/// assert!(!cond.locked());
/// # Ok::<(), loop_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Condition {
    lock: Lock,
    waiters: Rc<RefCell<WaitQueue>>,
}

impl Condition {
    /// A condition with a new lock of its own.
    pub fn new() -> Self {
        Condition::with_lock(Lock::new())
    }

    /// A condition over an existing lock (asyncio's `Condition(lock)`), for several
    /// conditions that share one lock.
    pub fn with_lock(lock: Lock) -> Self {
        Condition {
            lock,
            waiters: Rc::new(RefCell::new(WaitQueue::new())),
        }
    }

    /// The underlying lock.
    pub fn lock(&self) -> &Lock {
        &self.lock
    }

    /// Whether the underlying lock is locked.
    pub fn locked(&self) -> bool {
        self.lock.locked()
    }

    /// Acquire the underlying lock (see [`Lock::acquire`]).
    pub fn acquire(&self) -> LockAcquire<'_> {
        self.lock.acquire()
    }

    /// Acquire the underlying lock if it is free and nobody waits for it.
    pub fn try_acquire(&self) -> Option<LockGuard<'_>> {
        self.lock.try_acquire()
    }

    /// Release the underlying lock.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if the lock is not locked.
    pub fn release(&self) -> Result<()> {
        self.lock.release()
    }

    /// Wait until notified: release the lock, wait for a [`notify`](Self::notify), then
    /// take the lock back before returning. A guard held across the wait stays valid.
    ///
    /// The future fails with [`ErrorKind::Runtime`] if the lock is not locked when it is
    /// first polled (like asyncio, this checks that the lock is locked, not who holds it).
    /// See the [type docs](Self#cancellation) for what dropping it does.
    pub fn wait(&self) -> ConditionWait<'_> {
        ConditionWait {
            cond: self,
            state: WaitState::Start,
        }
    }

    /// Wait until `predicate` returns `true`: check it, and [`wait`](Self::wait) again
    /// each time it is `false`. The lock must be held whenever a wait happens.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    pub async fn wait_for(&self, mut predicate: impl FnMut() -> bool) -> Result<()> {
        while !predicate() {
            self.wait().await?;
        }
        Ok(())
    }

    /// Wake up to `n` waiting tasks, oldest first (no-op if nobody waits). They return
    /// from [`wait`](Self::wait) once they get the lock back, which the caller still
    /// holds.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if the lock is not locked.
    pub fn notify(&self, n: usize) -> Result<()> {
        self.check_locked("cannot notify on un-acquired lock")?;
        let mut wakers = Wakers::new();
        {
            let mut waiters = self.waiters.borrow_mut();
            for _ in 0..n {
                if !waiters.notify_one(&mut wakers) {
                    break;
                }
            }
        }
        wakers.wake();
        Ok(())
    }

    /// Wake up every waiting task.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if the lock is not locked.
    pub fn notify_all(&self) -> Result<()> {
        self.check_locked("cannot notify on un-acquired lock")?;
        let mut wakers = Wakers::new();
        self.waiters.borrow_mut().notify_all(&mut wakers);
        wakers.wake();
        Ok(())
    }

    /// Whether two handles refer to the same condition.
    pub fn ptr_eq(&self, other: &Condition) -> bool {
        Rc::ptr_eq(&self.waiters, &other.waiters)
    }

    fn check_locked(&self, message: &'static str) -> Result<()> {
        if self.lock.locked() {
            Ok(())
        } else {
            Err(Error::new(ErrorKind::Runtime, message))
        }
    }

    /// Pass a consumed notification on to the next pending waiter.
    fn notify_next(&self) {
        let mut wakers = Wakers::new();
        self.waiters.borrow_mut().notify_one(&mut wakers);
        wakers.wake();
    }
}

impl Default for Condition {
    fn default() -> Self {
        Condition::new()
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("lock", &self.lock)
            .field("waiters", &self.waiters.borrow().len())
            .finish()
    }
}

enum WaitState<'a> {
    Start,
    /// Released the lock held by acquisition `owner`; waiting for a notification.
    Waiting {
        id: WaiterId,
        owner: u64,
    },
    /// Notified; taking the lock back for acquisition `owner`.
    Reacquiring {
        acquire: LockAcquire<'a>,
        owner: u64,
    },
    Done,
}

/// The future returned by [`Condition::wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct ConditionWait<'a> {
    cond: &'a Condition,
    state: WaitState<'a>,
}

impl core::future::Future for ConditionWait<'_> {
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                WaitState::Start => {
                    let owner = this.cond.lock.state().borrow().owner();
                    let released = this
                        .cond
                        .check_locked("cannot wait on un-acquired lock")
                        .and_then(|()| this.cond.lock.release());
                    if let Err(e) = released {
                        this.state = WaitState::Done;
                        return Poll::Ready(Err(e));
                    }
                    let id = this.cond.waiters.borrow_mut().push(cx.waker());
                    this.state = WaitState::Waiting { id, owner };
                    return Poll::Pending;
                }
                WaitState::Waiting { id, owner } => {
                    let (id, owner) = (*id, *owner);
                    {
                        let mut waiters = this.cond.waiters.borrow_mut();
                        if !waiters.is_notified(id) {
                            waiters.set_waker(id, cx.waker());
                            return Poll::Pending;
                        }
                        waiters.remove(id);
                    }
                    this.state = WaitState::Reacquiring {
                        acquire: this.cond.lock.acquire(),
                        owner,
                    };
                }
                WaitState::Reacquiring { acquire, owner } => {
                    let guard = match Pin::new(acquire).poll(cx) {
                        Poll::Ready(guard) => guard,
                        Poll::Pending => return Poll::Pending,
                    };
                    let owner = *owner;
                    guard.forget();
                    // The caller's acquisition continues: its guard releases the lock.
                    this.cond.lock.state().borrow_mut().restore_owner(owner);
                    this.state = WaitState::Done;
                    return Poll::Ready(Ok(()));
                }
                WaitState::Done => panic!("`ConditionWait` polled after completion"),
            }
        }
    }
}

impl Drop for ConditionWait<'_> {
    fn drop(&mut self) {
        match core::mem::replace(&mut self.state, WaitState::Done) {
            WaitState::Waiting { id, .. } => {
                let notified = self.cond.waiters.borrow_mut().remove(id);
                if notified {
                    self.cond.notify_next();
                }
            }
            WaitState::Reacquiring { acquire, .. } => {
                // Leave the lock's line first (passing the lock on if it was handed to
                // us), then the notification this waiter consumed.
                drop(acquire);
                self.cond.notify_next();
            }
            WaitState::Start | WaitState::Done => {}
        }
    }
}

impl fmt::Debug for ConditionWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            WaitState::Start => "start",
            WaitState::Waiting { .. } => "waiting",
            WaitState::Reacquiring { .. } => "reacquiring",
            WaitState::Done => "done",
        };
        f.debug_struct("ConditionWait")
            .field("condition", self.cond)
            .field("state", &state)
            .finish()
    }
}
