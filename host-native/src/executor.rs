//! Blocking work off the loop thread: the [`Executor`] trait, the bounded
//! [`ThreadPoolExecutor`], the loop's default executor, and [`RunInExecutor`], the future
//! of one job.
//!
//! A job's result comes back through the waker of the task that awaits it: the worker
//! thread completes a one-shot channel, whose waker pushes the task into the loop's
//! thread-safe queue and wakes the loop's poll (the path `call_soon_threadsafe` takes).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use futures_channel::oneshot;
use loop_core::{Error, ErrorKind, Result, TimerHandle};

use crate::NativeLoop;

/// One unit of work for an [`Executor`].
pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// Runs [`Job`]s on other threads (Python's `concurrent.futures.Executor`).
///
/// Implementations MUST NOT run a job on the thread that calls
/// [`execute`](Executor::execute) (that would block the loop), and SHOULD run every job
/// accepted before [`shutdown`](Executor::shutdown). A job dropped without running makes
/// its [`RunInExecutor`] fail with [`ErrorKind::Runtime`].
pub trait Executor: Send + Sync + fmt::Debug {
    /// Queue `job` to run on one of the executor's threads.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] once the executor was shut down, or when it cannot start a
    /// thread.
    fn execute(&self, job: Job) -> Result<()>;

    /// Stop accepting jobs; the jobs already accepted still run. With `wait`, block until
    /// they all finished and the executor's threads exited.
    fn shutdown(&self, wait: bool);
}

/// A bounded pool of threads (Python's `ThreadPoolExecutor`): a thread is started for a
/// job when no thread is idle and fewer than `max_workers` exist; threads then live
/// until shutdown and take queued jobs in FIFO order.
///
/// Dropping the pool shuts it down without waiting: queued jobs still run, then the
/// threads exit.
pub struct ThreadPoolExecutor {
    pool: Arc<Pool>,
}

struct Pool {
    state: Mutex<PoolState>,
    work: Condvar,
    max_workers: usize,
}

#[derive(Default)]
struct PoolState {
    queue: VecDeque<Job>,
    /// Threads started and not yet exited.
    workers: usize,
    /// Threads waiting for a job.
    idle: usize,
    shutdown: bool,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // Jobs run outside the lock, so a poisoned lock only means a bug here; the
        // state is still consistent (every update is a single assignment).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for ThreadPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.pool.lock();
        f.debug_struct("ThreadPoolExecutor")
            .field("max_workers", &self.pool.max_workers)
            .field("workers", &st.workers)
            .field("queued", &st.queue.len())
            .field("shutdown", &st.shutdown)
            .finish()
    }
}

impl ThreadPoolExecutor {
    /// A pool of at most `max_workers` threads; none is started before the first job.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] if `max_workers` is zero.
    pub fn new(max_workers: usize) -> Result<Self> {
        if max_workers == 0 {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "max_workers must be greater than 0",
            ));
        }
        Ok(ThreadPoolExecutor {
            pool: Arc::new(Pool {
                state: Mutex::new(PoolState::default()),
                work: Condvar::new(),
                max_workers,
            }),
        })
    }

    /// CPython's default size: `min(32, cores + 4)`.
    pub fn default_max_workers() -> usize {
        let cores = thread::available_parallelism().map_or(1, |n| n.get());
        (cores + 4).min(32)
    }

    /// The most threads this pool starts.
    pub fn max_workers(&self) -> usize {
        self.pool.max_workers
    }

    /// Threads started and not yet exited.
    pub fn worker_count(&self) -> usize {
        self.pool.lock().workers
    }
}

impl Default for ThreadPoolExecutor {
    /// A pool of [`default_max_workers`](Self::default_max_workers) threads.
    fn default() -> Self {
        match ThreadPoolExecutor::new(Self::default_max_workers()) {
            Ok(pool) => pool,
            Err(_) => unreachable!("the default size is at least 5"),
        }
    }
}

fn worker(pool: Arc<Pool>) {
    let mut st = pool.lock();
    loop {
        if let Some(job) = st.queue.pop_front() {
            drop(st);
            // A job from `run_in_executor` catches its own panic; a raw job's panic must
            // not take the thread (and the jobs queued behind it) down.
            let _ = catch_unwind(AssertUnwindSafe(job));
            st = pool.lock();
            continue;
        }
        if st.shutdown {
            st.workers -= 1;
            return;
        }
        st.idle += 1;
        st = pool.work.wait(st).unwrap_or_else(PoisonError::into_inner);
        st.idle -= 1;
    }
}

impl Executor for ThreadPoolExecutor {
    fn execute(&self, job: Job) -> Result<()> {
        let mut st = self.pool.lock();
        if st.shutdown {
            return Err(Error::new(
                ErrorKind::Runtime,
                "cannot schedule new jobs after shutdown",
            ));
        }
        st.queue.push_back(job);
        if st.idle >= st.queue.len() {
            self.pool.work.notify_one();
        } else if st.workers < self.pool.max_workers {
            let pool = self.pool.clone();
            let spawned = thread::Builder::new()
                .name(format!("tulip-executor-{}", st.threads.len()))
                .spawn(move || worker(pool));
            match spawned {
                Ok(handle) => {
                    st.workers += 1;
                    st.threads.push(handle);
                }
                // Threads already running will take the job.
                Err(_) if st.workers > 0 => {}
                Err(e) => {
                    st.queue.pop_back();
                    return Err(Error::with_source(ErrorKind::Runtime, e));
                }
            }
        }
        Ok(())
    }

    fn shutdown(&self, wait: bool) {
        let threads = {
            let mut st = self.pool.lock();
            st.shutdown = true;
            self.pool.work.notify_all();
            if wait {
                core::mem::take(&mut st.threads)
            } else {
                Vec::new()
            }
        };
        let me = thread::current().id();
        for t in threads {
            // A job that shuts its own pool down cannot wait for itself.
            if t.thread().id() != me {
                let _ = t.join();
            }
        }
    }
}

impl Drop for ThreadPoolExecutor {
    fn drop(&mut self) {
        self.shutdown(false);
    }
}

/// The future of [`NativeLoop::run_in_executor`]: the job's return value, or the error
/// that kept it from returning one.
///
/// The job is queued when the future is created, not when it is first polled (as
/// asyncio submits it at once). Dropping the future before the job started means the
/// job is skipped; once started it runs to completion and its result is dropped.
#[must_use = "dropping a RunInExecutor before the job started skips the job"]
pub struct RunInExecutor<T> {
    state: RunState<T>,
}

enum RunState<T> {
    Waiting(oneshot::Receiver<thread::Result<T>>),
    Failed(Error),
    Done,
}

impl<T> fmt::Debug for RunInExecutor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            RunState::Waiting(_) => "waiting",
            RunState::Failed(_) => "failed",
            RunState::Done => "done",
        };
        f.debug_struct("RunInExecutor")
            .field("state", &state)
            .finish()
    }
}

impl<T> RunInExecutor<T> {
    fn failed(error: Error) -> Self {
        RunInExecutor {
            state: RunState::Failed(error),
        }
    }
}

/// The loop error for a panic payload.
fn panicked(payload: Box<dyn std::any::Any + Send>) -> Error {
    let message = if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    };
    Error::new(
        ErrorKind::Panicked,
        format!("job in executor panicked: {message}"),
    )
}

impl<T> Future for RunInExecutor<T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let outcome = match &mut self.state {
            RunState::Waiting(rx) => match Pin::new(rx).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(Ok(value))) => Ok(value),
                Poll::Ready(Ok(Err(payload))) => Err(panicked(payload)),
                Poll::Ready(Err(oneshot::Canceled)) => Err(Error::new(
                    ErrorKind::Runtime,
                    "the executor dropped the job without running it",
                )),
            },
            RunState::Failed(_) => match core::mem::replace(&mut self.state, RunState::Done) {
                RunState::Failed(e) => Err(e),
                _ => unreachable!("matched Failed above"),
            },
            RunState::Done => Err(Error::new(
                ErrorKind::InvalidState,
                "RunInExecutor polled after it completed",
            )),
        };
        self.state = RunState::Done;
        Poll::Ready(outcome)
    }
}

/// The loop's default executor (a [`ThreadPoolExecutor`] created on first use) and
/// whether `shutdown_default_executor` was called.
#[derive(Debug, Default)]
pub(crate) struct DefaultExecutor {
    current: RefCell<Option<Arc<dyn Executor>>>,
    shutdown_called: Cell<bool>,
}

impl DefaultExecutor {
    fn get_or_create(&self) -> Result<Arc<dyn Executor>> {
        if self.shutdown_called.get() {
            return Err(Error::new(
                ErrorKind::Runtime,
                "executor shutdown has been called",
            ));
        }
        let mut current = self.current.borrow_mut();
        Ok(current
            .get_or_insert_with(|| Arc::new(ThreadPoolExecutor::default()))
            .clone())
    }

    /// Shut the default executor down without waiting (the loop is closing or dropped).
    pub(crate) fn shutdown_nowait(&self) {
        if let Some(executor) = self.current.borrow_mut().take() {
            executor.shutdown(false);
        }
    }
}

fn submit<T, F>(executor: &dyn Executor, f: F) -> RunInExecutor<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    let job: Job = Box::new(move || {
        if tx.is_canceled() {
            // The RunInExecutor was dropped: nobody wants the result.
            return;
        }
        let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
    });
    match executor.execute(job) {
        Ok(()) => RunInExecutor {
            state: RunState::Waiting(rx),
        },
        Err(e) => RunInExecutor::failed(e),
    }
}

impl NativeLoop {
    /// Run `f` on the default executor (asyncio's `run_in_executor(None, f)`); the
    /// returned future gives its return value.
    ///
    /// The default executor is a [`ThreadPoolExecutor`] of
    /// [`default_max_workers`](ThreadPoolExecutor::default_max_workers) threads, created
    /// on first use, unless [`set_default_executor`](Self::set_default_executor)
    /// installed another.
    ///
    /// # Errors
    ///
    /// The future fails with [`ErrorKind::Panicked`] if `f` panicked, and with
    /// [`ErrorKind::Runtime`] if the loop is closed, the default executor was shut down
    /// ([`shutdown_default_executor`](Self::shutdown_default_executor)), or it could not
    /// run the job.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = host_native::NativeLoop::new()?;
    /// let job = lp.run_in_executor(|| (1..=10).product::<u64>());
    /// assert_eq!(lp.run_until_complete(job)??, 3_628_800);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run_in_executor<T, F>(&self, f: F) -> RunInExecutor<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        if self.is_closed() {
            return RunInExecutor::failed(closed_error());
        }
        match self.inner.executor.get_or_create() {
            Ok(executor) => submit(&*executor, f),
            Err(e) => RunInExecutor::failed(e),
        }
    }

    /// Run `f` on `executor` (asyncio's `run_in_executor(executor, f)`).
    ///
    /// # Errors
    ///
    /// As [`run_in_executor`](Self::run_in_executor), for `executor`.
    pub fn run_in_executor_on<T, F>(&self, executor: &dyn Executor, f: F) -> RunInExecutor<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        if self.is_closed() {
            return RunInExecutor::failed(closed_error());
        }
        submit(executor, f)
    }

    /// Make `executor` the default executor. The previous default is dropped (a
    /// [`ThreadPoolExecutor`] dropped by its last owner finishes its queued jobs, then
    /// its threads exit).
    pub fn set_default_executor(&self, executor: Arc<dyn Executor>) {
        *self.inner.executor.current.borrow_mut() = Some(executor);
    }

    /// Shut the default executor down and wait until its jobs finished and its threads
    /// exited (asyncio's `shutdown_default_executor`). The waiting is done by a helper
    /// thread, so the loop keeps running meanwhile.
    ///
    /// From the call on, [`run_in_executor`](Self::run_in_executor) fails with
    /// [`ErrorKind::Runtime`]. [`close`](Self::close) shuts the default executor down
    /// too, but does not wait.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`] if `timeout` passed first (the helper thread goes on
    /// waiting in the background); [`ErrorKind::Runtime`] if the helper thread could not
    /// be started or the loop is closed.
    pub fn shutdown_default_executor(
        &self,
        timeout: Option<Duration>,
    ) -> impl Future<Output = Result<()>> + 'static {
        self.inner.executor.shutdown_called.set(true);
        let executor = self.inner.executor.current.borrow_mut().take();
        let lp = self.event_loop().clone();
        async move {
            let Some(executor) = executor else {
                return Ok(());
            };
            let (tx, mut rx) = oneshot::channel::<()>();
            thread::Builder::new()
                .name("tulip-executor-shutdown".to_owned())
                .spawn(move || {
                    executor.shutdown(true);
                    let _ = tx.send(());
                })
                .map_err(|e| Error::with_source(ErrorKind::Runtime, e))?;
            let lost = || Error::new(ErrorKind::Runtime, "the shutdown thread exited early");
            let Some(timeout) = timeout else {
                return rx.await.map_err(|_| lost());
            };
            let fired = Rc::new(Cell::new(false));
            let mut timer: Option<TimerHandle> = None;
            let outcome = core::future::poll_fn(|cx| {
                if let Poll::Ready(r) = Pin::new(&mut rx).poll(cx) {
                    return Poll::Ready(r.map_err(|_| lost()));
                }
                if fired.get() {
                    return Poll::Ready(Err(Error::new(
                        ErrorKind::Timeout,
                        "the default executor did not shut down in time",
                    )));
                }
                if timer.is_none() {
                    let (fired, waker) = (fired.clone(), cx.waker().clone());
                    match lp.call_later(timeout, move || {
                        fired.set(true);
                        waker.wake();
                    }) {
                        Ok(t) => timer = Some(t),
                        Err(e) => return Poll::Ready(Err(e)),
                    }
                }
                Poll::Pending
            })
            .await;
            if let Some(t) = timer {
                t.cancel();
            }
            outcome
        }
    }
}

fn closed_error() -> Error {
    Error::new(ErrorKind::Runtime, "event loop is closed")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn default_size_follows_cpython() {
        let cores = thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(
            ThreadPoolExecutor::default_max_workers(),
            (cores + 4).min(32)
        );
        assert_eq!(
            ThreadPoolExecutor::default().max_workers(),
            ThreadPoolExecutor::default_max_workers()
        );
    }

    #[test]
    fn zero_workers_is_rejected() {
        let err = ThreadPoolExecutor::new(0).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn threads_start_lazily_up_to_the_bound() {
        let pool = ThreadPoolExecutor::new(2).unwrap();
        assert_eq!(pool.worker_count(), 0);
        let (tx, rx) = mpsc::channel();
        for i in 0..6 {
            let tx = tx.clone();
            pool.execute(Box::new(move || tx.send(i).unwrap())).unwrap();
        }
        pool.shutdown(true);
        let mut got: Vec<i32> = rx.try_iter().collect();
        got.sort_unstable();
        assert_eq!(got, [0, 1, 2, 3, 4, 5]);
        assert_eq!(pool.worker_count(), 0);
    }

    #[test]
    fn a_panicking_raw_job_does_not_kill_the_worker() {
        let pool = ThreadPoolExecutor::new(1).unwrap();
        let (tx, rx) = mpsc::channel();
        pool.execute(Box::new(|| panic!("raw job panics"))).unwrap();
        pool.execute(Box::new(move || tx.send(7).unwrap())).unwrap();
        pool.shutdown(true);
        assert_eq!(rx.try_recv(), Ok(7));
    }

    #[test]
    fn execute_after_shutdown_fails() {
        let pool = ThreadPoolExecutor::new(1).unwrap();
        pool.shutdown(false);
        let err = pool.execute(Box::new(|| {})).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Runtime);
    }
}
