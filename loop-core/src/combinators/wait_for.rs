//! [`wait_for`]: asyncio's `wait_for(aw, timeout)`.

use alloc::rc::Rc;
use core::cell::Cell;
use core::fmt;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use super::{Awaitable, check_loop};
use crate::error::{Error, ErrorKind, Result};
use crate::event_loop::EventLoop;
use crate::future::{CallbackId, Future};
use crate::handle::TimerHandle;

/// Wait for `aw` to complete, with a timeout (asyncio's `wait_for`).
///
/// - `timeout: None` waits as long as it takes.
/// - When the timeout passes, the awaitable is cancelled and `wait_for` **waits for it
///   to finish** (a task's future is dropped and its destructors run) before failing
///   with [`ErrorKind::Timeout`]. If it completed anyway, its outcome is returned.
/// - A zero timeout returns the result of an awaitable that is already done, and
///   otherwise cancels it at once and fails with [`ErrorKind::Timeout`].
/// - If the `wait_for` future is dropped before it completes (its task was cancelled),
///   the awaitable is cancelled too; when its task is cancelled, the awaitable is
///   cancelled at that moment, like any loop future the task awaits.
///
/// A Rust future is wrapped in a task (asyncio's `ensure_future`); everything, timer
/// included, starts at the first poll.
///
/// # Errors
///
/// [`ErrorKind::Timeout`] as above; the awaitable's own error; its cancellation error if
/// it was cancelled by something else; [`ErrorKind::InvalidInput`] if it belongs to
/// another loop; [`ErrorKind::Runtime`] if the loop is closed.
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use loop_core::{ErrorKind, EventLoop, sim::SimHost, wait_for};
///
/// let lp = EventLoop::new(SimHost::new(1));
/// let lp2 = lp.clone();
/// let slow = async move { lp2.sleep(Duration::from_secs(3600)).await };
/// let err = lp
///     .run_until_complete(wait_for(&lp, slow, Some(Duration::from_secs(5))))?
///     .unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Timeout);
/// assert_eq!(lp.time().as_secs_f64(), 5.0);
/// # Ok::<(), loop_core::Error>(())
/// ```
pub fn wait_for<A: Awaitable>(lp: &EventLoop, aw: A, timeout: Option<Duration>) -> WaitFor<A> {
    WaitFor {
        lp: lp.clone(),
        state: State::Start { aw, timeout },
    }
}

enum State<A: Awaitable> {
    Start {
        aw: A,
        timeout: Option<Duration>,
    },
    Waiting {
        inner: Future<A::Output>,
        timer: Option<TimerHandle>,
        /// Set when the timeout passed (and the inner future was cancelled for it).
        expired: Rc<Cell<bool>>,
        /// The done-callback waking this future, and the waker it holds.
        wake: Option<(CallbackId, Waker)>,
    },
    Done,
}

/// The future returned by [`wait_for`]; its output is the awaitable's result.
#[must_use = "futures do nothing unless awaited"]
pub struct WaitFor<A: Awaitable> {
    lp: EventLoop,
    state: State<A>,
}

// `A` is never polled in place: it is moved into a task (or is a handle) at the first
// poll, so pinning a `WaitFor` does not pin it.
impl<A: Awaitable> Unpin for WaitFor<A> {}

impl<A: Awaitable> WaitFor<A> {
    /// Start waiting: returns the outcome at once if the awaitable is already done.
    fn start(&mut self, aw: A, timeout: Option<Duration>) -> Option<Result<A::Output>> {
        let inner = aw.ensure_future(&self.lp);
        if let Err(e) = check_loop(&self.lp, &inner) {
            return Some(Err(e));
        }
        if inner.done() {
            return Some(A::take_output(&inner));
        }
        let expired = Rc::new(Cell::new(false));
        let timer = match timeout {
            None => None,
            Some(t) if t.is_zero() => {
                expired.set(true);
                inner.cancel();
                None
            }
            Some(t) => {
                let (flag, fut) = (expired.clone(), inner.clone());
                let timer = self.lp.call_later(t, move || {
                    flag.set(true);
                    fut.cancel();
                });
                match timer {
                    Ok(timer) => Some(timer),
                    Err(e) => return Some(Err(e)),
                }
            }
        };
        self.state = State::Waiting {
            inner,
            timer,
            expired,
            wake: None,
        };
        None
    }
}

impl<A: Awaitable> core::future::Future for WaitFor<A> {
    type Output = Result<A::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let State::Start { .. } = this.state {
            let State::Start { aw, timeout } = core::mem::replace(&mut this.state, State::Done)
            else {
                unreachable!("checked above")
            };
            if let Some(outcome) = this.start(aw, timeout) {
                return Poll::Ready(outcome);
            }
        }
        match &mut this.state {
            State::Waiting {
                inner,
                timer,
                expired,
                wake,
            } => {
                if inner.done() {
                    if let Some(t) = timer {
                        t.cancel();
                    }
                    let outcome = if expired.get() && inner.cancelled() {
                        Err(Error::from_kind(ErrorKind::Timeout))
                    } else {
                        A::take_output(inner)
                    };
                    this.state = State::Done;
                    return Poll::Ready(outcome);
                }
                let current = matches!(wake, Some((_, w)) if w.will_wake(cx.waker()));
                if !current {
                    if let Some((id, _)) = wake.take() {
                        inner.remove_done_callback(id);
                    }
                    let w = cx.waker().clone();
                    let id = inner.add_done_callback(move |_| w.wake());
                    *wake = Some((id, cx.waker().clone()));
                }
                // Cancelling the task that awaits this cancels the inner future too, at
                // once (asyncio's `_fut_waiter`).
                this.lp.note_awaiting(inner.as_ref());
                Poll::Pending
            }
            State::Start { .. } | State::Done => Poll::Ready(Err(Error::new(
                ErrorKind::InvalidState,
                "wait_for polled after completion",
            ))),
        }
    }
}

impl<A: Awaitable> Drop for WaitFor<A> {
    fn drop(&mut self) {
        if let State::Waiting {
            inner, timer, wake, ..
        } = &mut self.state
        {
            if let Some(t) = timer {
                t.cancel();
            }
            if let Some((id, _)) = wake.take() {
                inner.remove_done_callback(id);
            }
            inner.cancel();
        }
    }
}

impl<A: Awaitable> fmt::Debug for WaitFor<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Start { .. } => "not started",
            State::Waiting { expired, .. } if expired.get() => "cancelling after timeout",
            State::Waiting { .. } => "waiting",
            State::Done => "done",
        };
        f.debug_struct("WaitFor").field("state", &state).finish()
    }
}
