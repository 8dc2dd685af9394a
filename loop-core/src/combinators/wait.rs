//! [`wait`]: asyncio's `wait(fs, timeout=, return_when=)`.

use alloc::rc::Rc;
use alloc::vec::Vec;
use core::borrow::Borrow;
use core::cell::Cell;
use core::fmt;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use super::check_loop;
use crate::error::{Error, ErrorKind, Result};
use crate::event_loop::EventLoop;
use crate::future::{CallbackId, Future};
use crate::handle::TimerHandle;
use crate::task::Task;

/// When [`wait`] returns (asyncio's `FIRST_COMPLETED`, `FIRST_EXCEPTION`,
/// `ALL_COMPLETED`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ReturnWhen {
    /// As soon as any future is done (or cancelled).
    FirstCompleted,
    /// As soon as any future fails with an error, or when all are done. A cancelled
    /// future does not count as an error here, as in asyncio.
    FirstException,
    /// When every future is done.
    #[default]
    AllCompleted,
}

impl<T: 'static> Borrow<Future<T>> for Task<T> {
    fn borrow(&self) -> &Future<T> {
        self.future()
    }
}

impl<T: 'static> Borrow<Future<T>> for &Task<T> {
    fn borrow(&self) -> &Future<T> {
        self.future()
    }
}

/// What the done-callbacks and the timer share with the waiting future.
struct Waiter {
    remaining: Cell<usize>,
    return_when: ReturnWhen,
    released: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

impl Waiter {
    fn release(&self) {
        self.released.set(true);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    /// A future's done-callback (asyncio's `_on_completion`).
    fn completed<T: 'static>(&self, fut: &Future<T>) {
        let remaining = self.remaining.get() - 1;
        self.remaining.set(remaining);
        let release = remaining == 0
            || match self.return_when {
                ReturnWhen::FirstCompleted => true,
                ReturnWhen::FirstException => matches!(fut.exception(), Ok(Some(_))),
                ReturnWhen::AllCompleted => false,
            };
        if release {
            self.release();
        }
    }
}

/// Wait for the futures (asyncio's `wait`): returns `(done, pending)`, both in input
/// order, when `return_when` is satisfied or `timeout` passes, whichever comes first.
///
/// Items are [`Future`]s or [`Task`]s (or references to them), returned as given; wrap
/// Rust futures in tasks first (asyncio refuses coroutines here too). Nothing is
/// cancelled on timeout, and the done-callbacks are removed when the wait ends or is
/// dropped. The futures are watched from the first poll; the timeout counts from then.
///
/// # Errors
///
/// [`ErrorKind::InvalidInput`] if `futures` is empty or a future belongs to another
/// loop.
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use loop_core::{EventLoop, ReturnWhen, sim::SimHost, wait};
///
/// let lp = EventLoop::new(SimHost::new(1));
/// let tasks: Vec<_> = [1u64, 5]
///     .into_iter()
///     .map(|secs| {
///         let lp2 = lp.clone();
///         lp.create_task(async move { lp2.sleep(Duration::from_secs(secs)).await.is_ok() })
///     })
///     .collect();
/// let waiting = wait(&lp, tasks.clone(), Some(Duration::from_secs(3)), ReturnWhen::AllCompleted);
/// let (done, pending) = lp.run_until_complete(waiting)??;
/// assert_eq!((done.len(), pending.len()), (1, 1));
/// assert!(done[0].ptr_eq(&tasks[0]));
/// assert_eq!(lp.time().as_secs_f64(), 3.0);
/// # Ok::<(), loop_core::Error>(())
/// ```
pub fn wait<T, F, I>(
    lp: &EventLoop,
    futures: I,
    timeout: Option<Duration>,
    return_when: ReturnWhen,
) -> WaitFuture<T, F>
where
    T: 'static,
    F: Borrow<Future<T>>,
    I: IntoIterator<Item = F>,
{
    WaitFuture {
        lp: lp.clone(),
        futures: futures.into_iter().collect(),
        timeout,
        return_when,
        watch: None,
        finished: false,
        output: PhantomData,
    }
}

struct Watch<T: 'static> {
    waiter: Rc<Waiter>,
    callbacks: Vec<(Future<T>, CallbackId)>,
    timer: Option<TimerHandle>,
}

impl<T: 'static> Watch<T> {
    /// Remove the callbacks and the timer (asyncio's `finally:` block).
    fn stop(self) {
        if let Some(t) = &self.timer {
            t.cancel();
        }
        for (f, id) in &self.callbacks {
            f.remove_done_callback(*id);
        }
    }
}

/// The future returned by [`wait`]; its output is `(done, pending)`.
#[must_use = "futures do nothing unless awaited"]
pub struct WaitFuture<T: 'static, F> {
    lp: EventLoop,
    futures: Vec<F>,
    timeout: Option<Duration>,
    return_when: ReturnWhen,
    /// Set at the first poll; `None` again once the wait returned.
    watch: Option<Watch<T>>,
    finished: bool,
    output: PhantomData<fn() -> T>,
}

// The futures are handles, never polled in place: pinning a `WaitFuture` does not pin
// them.
impl<T: 'static, F> Unpin for WaitFuture<T, F> {}

impl<T: 'static, F: Borrow<Future<T>>> WaitFuture<T, F> {
    fn start(&mut self, waker: &Waker) -> Result<()> {
        if self.futures.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "the set of futures to wait for is empty",
            ));
        }
        for f in &self.futures {
            check_loop(&self.lp, f.borrow())?;
        }
        let waiter = Rc::new(Waiter {
            remaining: Cell::new(self.futures.len()),
            return_when: self.return_when,
            released: Cell::new(false),
            waker: Cell::new(Some(waker.clone())),
        });
        let timer = match self.timeout {
            Some(timeout) => {
                let w = waiter.clone();
                Some(self.lp.call_later(timeout, move || w.release())?)
            }
            None => None,
        };
        let callbacks = self
            .futures
            .iter()
            .map(|f| {
                let f = f.borrow();
                let w = waiter.clone();
                (f.clone(), f.add_done_callback(move |f| w.completed(f)))
            })
            .collect();
        self.watch = Some(Watch {
            waiter,
            callbacks,
            timer,
        });
        Ok(())
    }
}

impl<T: 'static, F: Borrow<Future<T>>> core::future::Future for WaitFuture<T, F> {
    type Output = Result<(Vec<F>, Vec<F>)>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match &this.watch {
            None if this.finished => {
                return Poll::Ready(Err(Error::new(
                    ErrorKind::InvalidState,
                    "wait future polled after completion",
                )));
            }
            None => {
                if let Err(e) = this.start(cx.waker()) {
                    this.finished = true;
                    this.futures.clear();
                    return Poll::Ready(Err(e));
                }
                return Poll::Pending;
            }
            Some(watch) if !watch.waiter.released.get() => {
                let old = watch.waiter.waker.take();
                match old {
                    Some(w) if w.will_wake(cx.waker()) => watch.waiter.waker.set(Some(w)),
                    _ => watch.waiter.waker.set(Some(cx.waker().clone())),
                }
                return Poll::Pending;
            }
            Some(_) => {}
        }
        if let Some(watch) = this.watch.take() {
            watch.stop();
        }
        this.finished = true;
        let (done, pending) = core::mem::take(&mut this.futures)
            .into_iter()
            .partition(|f| f.borrow().done());
        Poll::Ready(Ok((done, pending)))
    }
}

impl<T: 'static, F> Drop for WaitFuture<T, F> {
    fn drop(&mut self) {
        if let Some(watch) = self.watch.take() {
            watch.stop();
        }
    }
}

impl<T: 'static, F> fmt::Debug for WaitFuture<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitFuture")
            .field("futures", &self.futures.len())
            .field("timeout", &self.timeout)
            .field("return_when", &self.return_when)
            .field("started", &self.watch.is_some())
            .finish()
    }
}
