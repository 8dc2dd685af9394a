//! [`Semaphore`] and [`BoundedSemaphore`]: a counter of permits, FIFO-fair.

use alloc::rc::Rc;
use core::cell::RefCell;
use core::fmt;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use super::waitqueue::{WaitQueue, WaiterId, Wakers};
use crate::error::{Error, ErrorKind, Result};

/// The counter and its waiters, shared by [`Semaphore`] and [`BoundedSemaphore`].
///
/// Follows CPython 3.12's `asyncio.Semaphore`: a release hands its permit straight to
/// the first pending waiter (the counter is decremented on its behalf when it is
/// notified), and the semaphore counts as [`locked`](Self::locked) while anybody is in
/// line, so a newcomer never overtakes a waiter.
#[derive(Debug)]
pub(crate) struct SemaphoreState {
    value: usize,
    /// `Some(initial value)` for a bounded semaphore.
    bound: Option<usize>,
    waiters: WaitQueue,
}

impl SemaphoreState {
    pub(crate) const fn new(value: usize, bounded: bool) -> Self {
        SemaphoreState {
            value,
            bound: if bounded { Some(value) } else { None },
            waiters: WaitQueue::new(),
        }
    }

    pub(crate) fn value(&self) -> usize {
        self.value
    }

    /// No permit is free, or somebody is in line (FIFO: they go first).
    pub(crate) fn locked(&self) -> bool {
        self.value == 0 || !self.waiters.is_empty()
    }

    pub(crate) fn try_acquire(&mut self) -> bool {
        if self.locked() {
            return false;
        }
        self.value -= 1;
        true
    }

    /// Give a permit back and hand it to the first pending waiter, if any.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] (asyncio's `ValueError`) when a bounded semaphore
    /// would go above its initial value.
    ///
    /// # Panics
    ///
    /// If the counter would overflow `usize`.
    pub(crate) fn release(&mut self, wakers: &mut Wakers) -> Result<()> {
        if let Some(bound) = self.bound
            && self.value >= bound
        {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "BoundedSemaphore released too many times",
            ));
        }
        self.value = self
            .value
            .checked_add(1)
            .expect("semaphore counter overflow");
        self.wake_while_available(wakers);
        Ok(())
    }

    /// Hand free permits to pending waiters, oldest first.
    fn wake_while_available(&mut self, wakers: &mut Wakers) {
        while self.value > 0 && self.waiters.notify_one(wakers) {
            self.value -= 1;
        }
    }

    pub(crate) fn enqueue(&mut self, waker: &Waker) -> WaiterId {
        self.waiters.push(waker)
    }

    /// A queued acquisition is polled: once notified it already owns its permit.
    pub(crate) fn poll_waiter(
        &mut self,
        id: WaiterId,
        waker: &Waker,
        wakers: &mut Wakers,
    ) -> Poll<()> {
        if !self.waiters.is_notified(id) {
            self.waiters.set_waker(id, waker);
            return Poll::Pending;
        }
        self.waiters.remove(id);
        self.wake_while_available(wakers);
        Poll::Ready(())
    }

    /// A queued acquisition is dropped: a permit already handed to it goes back and on
    /// to the next waiter.
    pub(crate) fn cancel_waiter(&mut self, id: WaiterId, wakers: &mut Wakers) {
        if self.waiters.remove(id) {
            self.value += 1;
        }
        self.wake_while_available(wakers);
    }
}

type Shared = Rc<RefCell<SemaphoreState>>;

fn acquire(state: &Shared) -> SemaphoreAcquire<'_> {
    SemaphoreAcquire {
        state,
        step: AcquireState::Start,
    }
}

fn try_acquire(state: &Shared) -> Option<SemaphorePermit<'_>> {
    let acquired = state.borrow_mut().try_acquire();
    // Build the permit only on success: a permit that is dropped gives a permit back.
    acquired.then(|| SemaphorePermit { state })
}

fn release(state: &Shared) -> Result<()> {
    let mut wakers = Wakers::new();
    let result = state.borrow_mut().release(&mut wakers);
    wakers.wake();
    result
}

fn debug(state: &Shared, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let st = state.borrow();
    let mut d = f.debug_struct(name);
    d.field("value", &st.value);
    if let Some(bound) = st.bound {
        d.field("bound", &bound);
    }
    d.field("waiters", &st.waiters.len()).finish()
}

/// asyncio's `Semaphore`: a counter of permits. [`acquire`](Self::acquire) takes one,
/// waiting while none is free; [`release`](Self::release) gives one back.
///
/// Waiters are served first come, first served, and a newcomer waits behind them even if
/// a permit is free at that moment (asyncio's rule). A waiter dropped after a permit was
/// handed to it (its task cancelled) passes the permit to the next waiter.
///
/// The counter is a `usize`, so asyncio's `ValueError` for a negative initial value
/// cannot happen. `Semaphore` is a cheap handle: clones share the same counter.
///
/// # Examples
///
/// ```
/// use loop_core::{EventLoop, sim::SimHost, sync::Semaphore};
///
/// let lp = EventLoop::new(SimHost::new(1));
/// let sem = Semaphore::new(2);
/// let s = sem.clone();
/// let task = lp.create_task(async move {
///     let _a = s.acquire().await;
///     let _b = s.acquire().await;
///     assert!(s.locked()); // both permits taken
///     s.value()
/// });
/// assert_eq!(lp.run_until_complete(task)??, 0);
/// assert_eq!(sem.value(), 2); // the permits were released when dropped
/// # Ok::<(), loop_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Semaphore {
    state: Shared,
}

impl Semaphore {
    /// A semaphore with `value` free permits (asyncio's default is 1).
    pub fn new(value: usize) -> Self {
        Semaphore {
            state: Rc::new(RefCell::new(SemaphoreState::new(value, false))),
        }
    }

    /// The number of free permits.
    pub fn value(&self) -> usize {
        self.state.borrow().value()
    }

    /// Whether an [`acquire`](Self::acquire) would have to wait: no permit is free, or
    /// tasks are already waiting.
    pub fn locked(&self) -> bool {
        self.state.borrow().locked()
    }

    /// Wait for a permit and take it. The permit is given back when dropped (or call
    /// [`SemaphorePermit::forget`] and [`release`](Self::release) later).
    pub fn acquire(&self) -> SemaphoreAcquire<'_> {
        acquire(&self.state)
    }

    /// Take a permit if that is possible without waiting.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        try_acquire(&self.state)
    }

    /// Give a permit back (any number of releases is allowed, as in asyncio); the first
    /// waiter, if any, gets it.
    ///
    /// # Panics
    ///
    /// If the counter would overflow `usize`.
    pub fn release(&self) {
        if let Err(e) = release(&self.state) {
            unreachable!("an unbounded semaphore cannot reject a release: {e}");
        }
    }

    /// Whether two handles refer to the same semaphore.
    pub fn ptr_eq(&self, other: &Semaphore) -> bool {
        Rc::ptr_eq(&self.state, &other.state)
    }
}

impl Default for Semaphore {
    /// asyncio's default: one permit.
    fn default() -> Self {
        Semaphore::new(1)
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug(&self.state, "Semaphore", f)
    }
}

/// asyncio's `BoundedSemaphore`: a [`Semaphore`] whose [`release`](Self::release) fails
/// if it would raise the counter above its initial value.
///
/// asyncio raises `ValueError` there; here it is [`ErrorKind::InvalidInput`], this
/// crate's `ValueError`.
///
/// # Examples
///
/// ```
/// use loop_core::{ErrorKind, sync::BoundedSemaphore};
///
/// let sem = BoundedSemaphore::new(1);
/// let permit = sem.try_acquire().expect("a permit is free");
/// permit.forget(); // asyncio style: release explicitly
/// sem.release()?;
/// assert_eq!(sem.release().unwrap_err().kind(), ErrorKind::InvalidInput);
/// # Ok::<(), loop_core::Error>(())
/// ```
#[derive(Clone)]
pub struct BoundedSemaphore {
    state: Shared,
}

impl BoundedSemaphore {
    /// A semaphore with `value` free permits that never holds more than `value`.
    pub fn new(value: usize) -> Self {
        BoundedSemaphore {
            state: Rc::new(RefCell::new(SemaphoreState::new(value, true))),
        }
    }

    /// The number of free permits.
    pub fn value(&self) -> usize {
        self.state.borrow().value()
    }

    /// The initial value, which the counter never exceeds.
    pub fn bound(&self) -> usize {
        self.state.borrow().bound.unwrap_or_default()
    }

    /// Whether an [`acquire`](Self::acquire) would have to wait.
    pub fn locked(&self) -> bool {
        self.state.borrow().locked()
    }

    /// Wait for a permit and take it (see [`Semaphore::acquire`]).
    pub fn acquire(&self) -> SemaphoreAcquire<'_> {
        acquire(&self.state)
    }

    /// Take a permit if that is possible without waiting.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        try_acquire(&self.state)
    }

    /// Give a permit back; the first waiter, if any, gets it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] if the counter is already at its initial value.
    pub fn release(&self) -> Result<()> {
        release(&self.state)
    }

    /// Whether two handles refer to the same semaphore.
    pub fn ptr_eq(&self, other: &BoundedSemaphore) -> bool {
        Rc::ptr_eq(&self.state, &other.state)
    }
}

impl Default for BoundedSemaphore {
    /// asyncio's default: one permit.
    fn default() -> Self {
        BoundedSemaphore::new(1)
    }
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug(&self.state, "BoundedSemaphore", f)
    }
}

/// A permit of a [`Semaphore`] or [`BoundedSemaphore`], given back when dropped.
///
/// Use either the permit or an explicit `release()` to give it back, not both (call
/// [`forget`](Self::forget) for the explicit style): a semaphore does not track who
/// holds its permits, so for a plain [`Semaphore`] a drop after an explicit release adds
/// one more permit, as a second `release()` would. A [`BoundedSemaphore`] is never
/// raised above its bound by a drop: that drop does nothing.
#[must_use = "dropping the permit releases it at once"]
pub struct SemaphorePermit<'a> {
    state: &'a Shared,
}

impl SemaphorePermit<'_> {
    /// Keep the permit taken: asyncio's explicit style, where it is given back later with
    /// `release()`.
    pub fn forget(self) {
        core::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        // The only error is a bounded semaphore already at its bound, which means the
        // permit was given back explicitly: nothing to do.
        let _ = release(self.state);
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug(self.state, "SemaphorePermit", f)
    }
}

enum AcquireState {
    Start,
    Waiting(WaiterId),
    Done,
}

/// The future returned by [`Semaphore::acquire`] and [`BoundedSemaphore::acquire`].
///
/// Dropping it before it completes leaves the line; a permit already handed to it goes
/// to the next waiter.
#[must_use = "futures do nothing unless awaited"]
pub struct SemaphoreAcquire<'a> {
    state: &'a Shared,
    step: AcquireState,
}

impl<'a> core::future::Future for SemaphoreAcquire<'a> {
    type Output = SemaphorePermit<'a>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<SemaphorePermit<'a>> {
        let this = self.get_mut();
        let mut wakers = Wakers::new();
        let mut st = this.state.borrow_mut();
        match this.step {
            AcquireState::Start => {
                if !st.try_acquire() {
                    this.step = AcquireState::Waiting(st.enqueue(cx.waker()));
                    return Poll::Pending;
                }
            }
            AcquireState::Waiting(id) => {
                if st.poll_waiter(id, cx.waker(), &mut wakers).is_pending() {
                    return Poll::Pending;
                }
            }
            AcquireState::Done => panic!("`SemaphoreAcquire` polled after completion"),
        }
        drop(st);
        wakers.wake();
        this.step = AcquireState::Done;
        Poll::Ready(SemaphorePermit { state: this.state })
    }
}

impl Drop for SemaphoreAcquire<'_> {
    fn drop(&mut self) {
        if let AcquireState::Waiting(id) = self.step {
            let mut wakers = Wakers::new();
            self.state.borrow_mut().cancel_waiter(id, &mut wakers);
            wakers.wake();
        }
    }
}

impl fmt::Debug for SemaphoreAcquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphoreAcquire")
            .field("waiting", &matches!(self.step, AcquireState::Waiting(_)))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::waitqueue::tests::{count, counter};

    #[test]
    fn release_hands_permits_over_in_order() {
        let mut st = SemaphoreState::new(0, false);
        let (c1, w1) = counter();
        let (c2, w2) = counter();
        let a = st.enqueue(&w1);
        let b = st.enqueue(&w2);
        let mut wk = Wakers::new();
        st.release(&mut wk).unwrap();
        wk.wake();
        // Handed over: the counter stays 0 and the semaphore stays locked.
        assert_eq!(st.value(), 0);
        assert!(st.locked());
        assert_eq!((count(&c1), count(&c2)), (1, 0));
        let mut wk = Wakers::new();
        assert_eq!(st.poll_waiter(b, &w2, &mut wk), Poll::Pending);
        assert_eq!(st.poll_waiter(a, &w1, &mut wk), Poll::Ready(()));
        wk.wake();
        assert!(!st.try_acquire());
    }

    #[test]
    fn newcomer_waits_behind_queue_even_with_free_permit() {
        let mut st = SemaphoreState::new(0, false);
        let (_, w) = counter();
        let a = st.enqueue(&w);
        let mut wk = Wakers::new();
        st.release(&mut wk).unwrap();
        st.release(&mut wk).unwrap();
        wk.wake();
        assert_eq!(st.value(), 1);
        // The notified waiter has not run: a newcomer may not take the free permit.
        assert!(!st.try_acquire());
        let mut wk = Wakers::new();
        assert_eq!(st.poll_waiter(a, &w, &mut wk), Poll::Ready(()));
        wk.wake();
        assert!(st.try_acquire());
    }

    #[test]
    fn cancelled_notified_waiter_passes_its_permit() {
        let mut st = SemaphoreState::new(0, false);
        let (_, w1) = counter();
        let (c2, w2) = counter();
        let a = st.enqueue(&w1);
        let _b = st.enqueue(&w2);
        let mut wk = Wakers::new();
        st.release(&mut wk).unwrap();
        st.cancel_waiter(a, &mut wk);
        wk.wake();
        assert_eq!(count(&c2), 1);
        assert_eq!(st.value(), 0);
    }

    #[test]
    fn bounded_rejects_release_above_initial_value() {
        let mut st = SemaphoreState::new(1, true);
        let mut wk = Wakers::new();
        assert_eq!(
            st.release(&mut wk).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert!(st.try_acquire());
        st.release(&mut wk).unwrap();
        wk.wake();
        assert_eq!(st.value(), 1);
    }
}
