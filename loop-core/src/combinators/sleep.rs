//! [`EventLoop::sleep`] and [`EventLoop::sleep_until`]: asyncio's `sleep`, a future
//! backed by one loop timer.

use alloc::rc::Rc;
use core::cell::Cell;
use core::fmt;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use crate::error::Result;
use crate::event_loop::EventLoop;
use crate::handle::TimerHandle;
use crate::time::Instant;

/// What the timer callback shares with the [`Sleep`]: whether it ran, and whom to wake.
struct Alarm {
    fired: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

enum State {
    /// `sleep(ZERO)`: yield to the loop once, without a timer.
    Yield {
        yielded: bool,
    },
    /// Not polled yet: the timer starts at the first poll, `delay` from then.
    After(Duration),
    /// Not polled yet: the timer is for this instant.
    At(Instant),
    Armed {
        timer: TimerHandle,
        alarm: Rc<Alarm>,
    },
    Done,
}

/// The future returned by [`EventLoop::sleep`] and [`EventLoop::sleep_until`].
///
/// The timer is scheduled at the first poll (as asyncio's `sleep` coroutine schedules it
/// when it starts running) and cancelled when the `Sleep` is dropped, so a cancelled
/// task leaves no timer behind. It costs the timer's callback and one small shared cell.
///
/// Its output is `Ok(())` once the deadline has passed.
///
/// # Errors
///
/// [`ErrorKind::Runtime`](crate::ErrorKind::Runtime) if the loop is closed when the timer
/// would be scheduled.
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    lp: EventLoop,
    state: State,
}

impl EventLoop {
    /// Sleep for `delay` (asyncio's `asyncio.sleep(delay)`): the returned future
    /// completes in the first iteration whose clock has reached the deadline. The delay
    /// counts from the first poll.
    ///
    /// `sleep(Duration::ZERO)` schedules no timer: it yields to the loop exactly once,
    /// letting every other ready callback and task run, and completes in the next
    /// iteration (asyncio's `sleep(0)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use core::time::Duration;
    /// use loop_core::{EventLoop, sim::SimHost};
    ///
    /// let lp = EventLoop::new(SimHost::new(1));
    /// let lp2 = lp.clone();
    /// let task = lp.create_try_task(async move {
    ///     lp2.sleep(Duration::from_secs(60)).await?;
    ///     Ok::<_, loop_core::Error>(lp2.time())
    /// });
    /// let woke_at = lp.run_until_complete(task)??;
    /// assert_eq!(woke_at.as_secs_f64(), 60.0); // virtual time
    /// # Ok::<(), loop_core::Error>(())
    /// ```
    pub fn sleep(&self, delay: Duration) -> Sleep {
        let state = if delay.is_zero() {
            State::Yield { yielded: false }
        } else {
            State::After(delay)
        };
        Sleep {
            lp: self.clone(),
            state,
        }
    }

    /// Sleep until the loop's clock reaches `deadline` (a past deadline completes in the
    /// next iteration, through the timer queue like [`call_at`](Self::call_at)).
    pub fn sleep_until(&self, deadline: Instant) -> Sleep {
        Sleep {
            lp: self.clone(),
            state: State::At(deadline),
        }
    }
}

impl Sleep {
    fn arm(&mut self, deadline: Instant, waker: &Waker) -> Result<()> {
        let alarm = Rc::new(Alarm {
            fired: Cell::new(false),
            waker: Cell::new(Some(waker.clone())),
        });
        let a = alarm.clone();
        let lp = self.lp.clone();
        let timer = self.lp.call_at(deadline, move || {
            a.fired.set(true);
            if let Some(w) = a.waker.take() {
                lp.wake(w);
            }
        })?;
        self.state = State::Armed { timer, alarm };
        Ok(())
    }
}

impl core::future::Future for Sleep {
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        let deadline = match &mut this.state {
            State::Yield { yielded } => {
                if *yielded {
                    this.state = State::Done;
                    return Poll::Ready(Ok(()));
                }
                *yielded = true;
                this.lp.wake_by_ref(cx.waker());
                return Poll::Pending;
            }
            State::After(delay) => this.lp.time() + *delay,
            State::At(at) => *at,
            State::Armed { alarm, .. } => {
                if alarm.fired.get() {
                    this.state = State::Done;
                    return Poll::Ready(Ok(()));
                }
                let old = alarm.waker.take();
                match old {
                    Some(w) if w.will_wake(cx.waker()) => alarm.waker.set(Some(w)),
                    _ => alarm.waker.set(Some(cx.waker().clone())),
                }
                return Poll::Pending;
            }
            State::Done => return Poll::Ready(Ok(())),
        };
        match this.arm(deadline, cx.waker()) {
            Ok(()) => Poll::Pending,
            Err(e) => {
                this.state = State::Done;
                Poll::Ready(Err(e))
            }
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let State::Armed { timer, alarm } = &self.state
            && !alarm.fired.get()
        {
            timer.cancel();
        }
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Sleep");
        match &self.state {
            State::Yield { yielded } => d.field("yield_once", &!yielded),
            State::After(delay) => d.field("delay", delay),
            State::At(at) => d.field("deadline", at),
            State::Armed { timer, .. } => d.field("deadline", &timer.when()),
            State::Done => d.field("done", &true),
        };
        d.finish()
    }
}
