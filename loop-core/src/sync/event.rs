//! [`Event`]: a flag tasks can wait for.

use alloc::rc::Rc;
use core::cell::RefCell;
use core::fmt;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use super::waitqueue::{WaitQueue, WaiterId, Wakers};

/// The event's flag and its waiters.
#[derive(Debug)]
pub(crate) struct EventState {
    flag: bool,
    waiters: WaitQueue,
}

impl EventState {
    pub(crate) const fn new() -> Self {
        EventState {
            flag: false,
            waiters: WaitQueue::new(),
        }
    }

    /// Set the flag and notify every waiter (once notified, a waiter returns even if the
    /// flag is cleared before it runs, as in asyncio).
    pub(crate) fn set(&mut self, wakers: &mut Wakers) {
        if !self.flag {
            self.flag = true;
            self.waiters.notify_all(wakers);
        }
    }

    pub(crate) fn clear(&mut self) {
        self.flag = false;
    }

    /// First poll of a wait: done if the flag is set, else join the line.
    pub(crate) fn start_wait(&mut self, waker: &Waker) -> Option<WaiterId> {
        (!self.flag).then(|| self.waiters.push(waker))
    }

    pub(crate) fn poll_waiter(&mut self, id: WaiterId, waker: &Waker) -> Poll<()> {
        if self.waiters.is_notified(id) {
            self.waiters.remove(id);
            Poll::Ready(())
        } else {
            self.waiters.set_waker(id, waker);
            Poll::Pending
        }
    }

    /// A wait is dropped: every waiter is woken by `set`, so there is nothing to pass on.
    pub(crate) fn cancel_waiter(&mut self, id: WaiterId) {
        self.waiters.remove(id);
    }
}

/// asyncio's `Event`: a flag that tasks wait for. [`set`](Self::set) wakes every waiter;
/// a [`wait`](Self::wait) that starts while the flag is set returns at once.
///
/// `Event` is a cheap handle: clones share the same flag.
///
/// # Examples
///
/// ```
/// use loop_core::{EventLoop, sim::SimHost, sync::Event};
///
/// let lp = EventLoop::new(SimHost::new(1));
/// let ready = Event::new();
/// let r = ready.clone();
/// let waiter = lp.create_task(async move {
///     r.wait().await;
///     "woken"
/// });
/// let r = ready.clone();
/// lp.call_soon(move || r.set())?;
/// assert_eq!(lp.run_until_complete(waiter)??, "woken");
/// assert!(ready.is_set());
/// # Ok::<(), loop_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Event {
    state: Rc<RefCell<EventState>>,
}

impl Event {
    /// A new event, not set.
    pub fn new() -> Self {
        Event {
            state: Rc::new(RefCell::new(EventState::new())),
        }
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.state.borrow().flag
    }

    /// Set the flag and wake every task waiting for it.
    pub fn set(&self) {
        let mut wakers = Wakers::new();
        self.state.borrow_mut().set(&mut wakers);
        wakers.wake();
    }

    /// Clear the flag: later waits block until the next [`set`](Self::set). Waiters
    /// already woken by a `set` still return.
    pub fn clear(&self) {
        self.state.borrow_mut().clear();
    }

    /// Wait until the flag is set (return at once if it is set when the wait starts).
    pub fn wait(&self) -> EventWait<'_> {
        EventWait {
            event: self,
            state: WaitState::Start,
        }
    }

    /// Whether two handles refer to the same event.
    pub fn ptr_eq(&self, other: &Event) -> bool {
        Rc::ptr_eq(&self.state, &other.state)
    }
}

impl Default for Event {
    fn default() -> Self {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state.borrow();
        f.debug_struct("Event")
            .field("set", &st.flag)
            .field("waiters", &st.waiters.len())
            .finish()
    }
}

enum WaitState {
    Start,
    Waiting(WaiterId),
    Done,
}

/// The future returned by [`Event::wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct EventWait<'a> {
    event: &'a Event,
    state: WaitState,
}

impl core::future::Future for EventWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut st = this.event.state.borrow_mut();
        match this.state {
            WaitState::Start => {
                if let Some(id) = st.start_wait(cx.waker()) {
                    this.state = WaitState::Waiting(id);
                    return Poll::Pending;
                }
            }
            WaitState::Waiting(id) => {
                if st.poll_waiter(id, cx.waker()).is_pending() {
                    return Poll::Pending;
                }
            }
            WaitState::Done => panic!("`EventWait` polled after completion"),
        }
        this.state = WaitState::Done;
        Poll::Ready(())
    }
}

impl Drop for EventWait<'_> {
    fn drop(&mut self) {
        if let WaitState::Waiting(id) = self.state {
            self.event.state.borrow_mut().cancel_waiter(id);
        }
    }
}

impl fmt::Debug for EventWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventWait")
            .field("event", self.event)
            .field("waiting", &matches!(self.state, WaitState::Waiting(_)))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::waitqueue::tests::{count, counter};

    #[test]
    fn set_wakes_all_and_survives_clear() {
        let mut st = EventState::new();
        let (c1, w1) = counter();
        let (c2, w2) = counter();
        let a = st.start_wait(&w1).unwrap();
        let b = st.start_wait(&w2).unwrap();
        let mut wk = Wakers::new();
        st.set(&mut wk);
        // A second set while set wakes nobody twice.
        st.set(&mut wk);
        wk.wake();
        assert_eq!((count(&c1), count(&c2)), (1, 1));
        st.clear();
        assert_eq!(st.poll_waiter(a, &w1), Poll::Ready(()));
        assert_eq!(st.poll_waiter(b, &w2), Poll::Ready(()));
        // Cleared: a new wait blocks.
        assert!(st.start_wait(&w1).is_some());
    }
}
