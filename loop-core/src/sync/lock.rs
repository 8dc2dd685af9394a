//! [`Lock`]: asyncio's primitive lock, FIFO-fair, with a guard that releases on drop.

use alloc::rc::Rc;
use core::cell::RefCell;
use core::fmt;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use super::waitqueue::{WaitQueue, WaiterId, Wakers};
use crate::error::{Error, ErrorKind, Result};

/// The lock's state, without any waiting machinery of its own: the async wrapper
/// ([`LockAcquire`]) only calls these methods.
///
/// Fairness follows CPython 3.12's `asyncio.Lock`: `release` unlocks and *notifies* the
/// first waiter, which takes the lock when it runs; until then the lock reads as unlocked
/// but a new `acquire` still queues behind the notified waiter (no barging).
#[derive(Debug)]
pub(crate) struct LockState {
    locked: bool,
    /// The acquisition holding the lock (meaningful while `locked`).
    owner: u64,
    /// The id the next acquisition gets; ids are never reused.
    next_owner: u64,
    waiters: WaitQueue,
}

impl LockState {
    pub(crate) const fn new() -> Self {
        LockState {
            locked: false,
            owner: 0,
            next_owner: 1,
            waiters: WaitQueue::new(),
        }
    }

    pub(crate) fn locked(&self) -> bool {
        self.locked
    }

    /// The acquisition holding the lock (meaningful while locked).
    pub(crate) fn owner(&self) -> u64 {
        self.owner
    }

    /// Lock it for a new acquisition and return that acquisition's id.
    fn take(&mut self) -> u64 {
        debug_assert!(!self.locked);
        self.locked = true;
        self.owner = self.next_owner;
        self.next_owner += 1;
        self.owner
    }

    /// The fast path: free and nobody in line, not even a notified waiter that has not
    /// run yet (CPython: `not self._locked and all(w.cancelled() for w in waiters)`).
    pub(crate) fn try_acquire(&mut self) -> Option<u64> {
        (!self.locked && self.waiters.is_empty()).then(|| self.take())
    }

    /// Unlock and let the first waiter proceed.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if the lock is not locked.
    pub(crate) fn release(&mut self, wakers: &mut Wakers) -> Result<()> {
        if !self.locked {
            return Err(Error::new(ErrorKind::Runtime, "lock is not acquired"));
        }
        self.locked = false;
        self.wake_up_first(wakers);
        Ok(())
    }

    /// Release on behalf of a guard: only if its acquisition still holds the lock.
    pub(crate) fn release_owned(&mut self, owner: u64, wakers: &mut Wakers) {
        if self.locked && self.owner == owner {
            self.locked = false;
            self.wake_up_first(wakers);
        }
    }

    /// Make `owner` the holding acquisition again (a condition wait that re-acquired).
    pub(crate) fn restore_owner(&mut self, owner: u64) {
        debug_assert!(self.locked);
        self.owner = owner;
    }

    /// Notify the first waiter unless one is already notified (CPython's
    /// `_wake_up_first`). While the lock is free there is at most one notified waiter and
    /// it is at the head of the line.
    fn wake_up_first(&mut self, wakers: &mut Wakers) {
        if self.waiters.notified() == 0 {
            self.waiters.notify_one(wakers);
        }
    }

    pub(crate) fn enqueue(&mut self, waker: &Waker) -> WaiterId {
        self.waiters.push(waker)
    }

    /// A queued acquisition is polled: it takes the lock once notified.
    pub(crate) fn poll_waiter(&mut self, id: WaiterId, waker: &Waker) -> Poll<u64> {
        if !self.waiters.is_notified(id) {
            self.waiters.set_waker(id, waker);
            return Poll::Pending;
        }
        if self.locked {
            // Unreachable while the invariant holds (nobody can take the lock past a
            // notified waiter); wait for the next release rather than steal it.
            debug_assert!(false, "a notified lock waiter found the lock taken");
            self.waiters.unnotify(id, waker);
            return Poll::Pending;
        }
        self.waiters.remove(id);
        Poll::Ready(self.take())
    }

    /// A queued acquisition is dropped: if the lock is free (its wake-up may have been
    /// granted to this waiter) the next waiter is notified instead.
    pub(crate) fn cancel_waiter(&mut self, id: WaiterId, wakers: &mut Wakers) {
        self.waiters.remove(id);
        if !self.locked {
            self.wake_up_first(wakers);
        }
    }
}

/// asyncio's `Lock`: a mutual-exclusion lock for tasks on one loop, not owned by a
/// particular task.
///
/// [`acquire`](Self::acquire) waits until the lock is free, locks it and returns a
/// [`LockGuard`] that releases it when dropped; asyncio's explicit style is available
/// too: [`LockGuard::forget`] keeps the lock locked and [`release`](Self::release)
/// unlocks it.
///
/// Waiters are served first come, first served. A release hands the lock to the first
/// waiter: [`locked`](Self::locked) reads `false` until that waiter runs (as in asyncio),
/// but an `acquire` made in the meantime still waits its turn. A waiter dropped after it
/// was handed the lock (its task cancelled) passes it to the next waiter.
///
/// `Lock` is a cheap handle: clones share the same lock. It needs no event loop, so it
/// can be created anywhere and used from any task.
///
/// # Examples
///
/// ```
/// use loop_core::{EventLoop, sim::SimHost, sync::Lock};
///
/// let lp = EventLoop::new(SimHost::new(1));
/// let lock = Lock::new();
/// let l = lock.clone();
/// let task = lp.create_try_task(async move {
///     let guard = l.acquire().await;
///     assert!(l.locked());
///     drop(guard); // released
///     // asyncio style: keep it locked, release explicitly
///     l.acquire().await.forget();
///     l.release()
/// });
/// lp.run_until_complete(task)??;
/// assert!(!lock.locked());
/// assert!(lock.release().is_err()); // releasing an unlocked lock is a RuntimeError
/// # Ok::<(), loop_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Lock {
    state: Rc<RefCell<LockState>>,
}

impl Lock {
    /// A new, unlocked lock.
    pub fn new() -> Self {
        Lock {
            state: Rc::new(RefCell::new(LockState::new())),
        }
    }

    /// Whether the lock is locked.
    pub fn locked(&self) -> bool {
        self.state.borrow().locked()
    }

    /// Wait until the lock is free, then lock it. The guard releases it when dropped
    /// (or call [`LockGuard::forget`] and [`release`](Self::release) later).
    ///
    /// Dropping the returned future before it completes leaves the line; if the lock
    /// had already been handed to it, the lock goes to the next waiter.
    pub fn acquire(&self) -> LockAcquire<'_> {
        LockAcquire {
            lock: self,
            state: AcquireState::Start,
        }
    }

    /// Lock it if that is possible without waiting: it is free and nobody is in line.
    pub fn try_acquire(&self) -> Option<LockGuard<'_>> {
        let owner = self.state.borrow_mut().try_acquire()?;
        Some(LockGuard { lock: self, owner })
    }

    /// Unlock it; if tasks are waiting, the first one will get the lock.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if the lock is not locked.
    pub fn release(&self) -> Result<()> {
        let mut wakers = Wakers::new();
        let result = self.state.borrow_mut().release(&mut wakers);
        wakers.wake();
        result
    }

    /// Whether two handles refer to the same lock.
    pub fn ptr_eq(&self, other: &Lock) -> bool {
        Rc::ptr_eq(&self.state, &other.state)
    }

    pub(crate) fn state(&self) -> &RefCell<LockState> {
        &self.state
    }

    fn release_owned(&self, owner: u64) {
        let mut wakers = Wakers::new();
        self.state.borrow_mut().release_owned(owner, &mut wakers);
        wakers.wake();
    }
}

impl Default for Lock {
    fn default() -> Self {
        Lock::new()
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state.borrow();
        f.debug_struct("Lock")
            .field("locked", &st.locked)
            .field("waiters", &st.waiters.len())
            .finish()
    }
}

/// Holds a [`Lock`] and releases it when dropped.
///
/// A guard only releases the acquisition it came from: if the lock was released some
/// other way in between (an explicit [`Lock::release`]), dropping the guard does nothing.
#[must_use = "dropping the guard releases the lock at once"]
pub struct LockGuard<'a> {
    lock: &'a Lock,
    owner: u64,
}

impl<'a> LockGuard<'a> {
    pub(crate) fn new(lock: &'a Lock, owner: u64) -> Self {
        LockGuard { lock, owner }
    }

    /// The lock this guard holds.
    pub fn lock(&self) -> &'a Lock {
        self.lock
    }

    /// Keep the lock locked without a guard: asyncio's explicit style, where the lock is
    /// released later with [`Lock::release`].
    pub fn forget(self) {
        core::mem::forget(self);
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        self.lock.release_owned(self.owner);
    }
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("lock", self.lock)
            .finish()
    }
}

enum AcquireState {
    Start,
    Waiting(WaiterId),
    Done,
}

/// The future returned by [`Lock::acquire`].
#[must_use = "futures do nothing unless awaited"]
pub struct LockAcquire<'a> {
    lock: &'a Lock,
    state: AcquireState,
}

impl<'a> core::future::Future for LockAcquire<'a> {
    type Output = LockGuard<'a>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LockGuard<'a>> {
        let this = self.get_mut();
        let mut st = this.lock.state.borrow_mut();
        let owner = match this.state {
            AcquireState::Start => match st.try_acquire() {
                Some(owner) => owner,
                None => {
                    this.state = AcquireState::Waiting(st.enqueue(cx.waker()));
                    return Poll::Pending;
                }
            },
            AcquireState::Waiting(id) => match st.poll_waiter(id, cx.waker()) {
                Poll::Ready(owner) => owner,
                Poll::Pending => return Poll::Pending,
            },
            AcquireState::Done => panic!("`LockAcquire` polled after completion"),
        };
        this.state = AcquireState::Done;
        Poll::Ready(LockGuard::new(this.lock, owner))
    }
}

impl Drop for LockAcquire<'_> {
    fn drop(&mut self) {
        if let AcquireState::Waiting(id) = self.state {
            let mut wakers = Wakers::new();
            self.lock.state.borrow_mut().cancel_waiter(id, &mut wakers);
            wakers.wake();
        }
    }
}

impl fmt::Debug for LockAcquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockAcquire")
            .field("lock", self.lock)
            .field("waiting", &matches!(self.state, AcquireState::Waiting(_)))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::waitqueue::tests::{count, counter};

    #[test]
    fn release_notifies_first_and_blocks_newcomers() {
        let mut st = LockState::new();
        let first = st.try_acquire().unwrap();
        let (c1, w1) = counter();
        let (_, w2) = counter();
        let a = st.enqueue(&w1);
        let b = st.enqueue(&w2);
        let mut wk = Wakers::new();
        st.release_owned(first, &mut wk);
        wk.wake();
        assert_eq!(count(&c1), 1);
        assert!(!st.locked());
        // No barging: the notified waiter has not run yet.
        assert_eq!(st.try_acquire(), None);
        assert_eq!(st.poll_waiter(b, &w2), Poll::Pending);
        let owner = match st.poll_waiter(a, &w1) {
            Poll::Ready(o) => o,
            Poll::Pending => panic!("notified waiter must get the lock"),
        };
        assert!(owner > first && st.locked());
        // A stale owner id does not release the new acquisition.
        let mut wk = Wakers::new();
        st.release_owned(first, &mut wk);
        wk.wake();
        assert!(st.locked());
    }

    #[test]
    fn cancelled_notified_waiter_passes_the_lock_on() {
        let mut st = LockState::new();
        st.try_acquire().unwrap();
        let (_, w1) = counter();
        let (c2, w2) = counter();
        let a = st.enqueue(&w1);
        let b = st.enqueue(&w2);
        let mut wk = Wakers::new();
        st.release(&mut wk).unwrap();
        st.cancel_waiter(a, &mut wk);
        wk.wake();
        assert_eq!(count(&c2), 1);
        assert!(matches!(st.poll_waiter(b, &w2), Poll::Ready(_)));
    }

    #[test]
    fn release_unlocked_is_a_runtime_error() {
        let mut st = LockState::new();
        let mut wk = Wakers::new();
        let err = st.release(&mut wk).unwrap_err();
        wk.wake();
        assert_eq!(err.kind(), ErrorKind::Runtime);
    }
}
