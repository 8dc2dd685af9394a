//! [`EventLoop`]: asyncio's loop over a [`Host`].
//!
//! # The iteration
//!
//! Each [`run_once`](EventLoop::run_once) follows asyncio's `_run_once` exactly:
//!
//! 1. cancelled timers are dropped from the top of the heap (or the whole heap is
//!    compacted when they are more than half of it);
//! 2. the poll timeout is zero when callbacks are ready or the loop is stopping, else the
//!    time to the next timer, else unbounded;
//! 3. the host polls; ready readers and writers are queued;
//! 4. timers due before `now + clock resolution` are queued, in deadline order (equal
//!    deadlines in scheduling order);
//! 5. the callbacks present in the ready queue at this point run, in FIFO order; callbacks
//!    they schedule run in the next iteration.
//!
//! [`stop`](EventLoop::stop) lets the current batch finish; called before
//! [`run_forever`](EventLoop::run_forever) it makes the run do exactly one iteration.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::format;
use alloc::rc::{Rc, Weak};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};
use core::task::Waker;
use core::time::Duration;

use slab::Slab;

use crate::error::{Error, ErrorKind, Result};
use crate::exception::{ExceptionContext, ExceptionHandler};
use crate::future::{DoneNotify, Future, FutureRef};
use crate::handle::{Handle, HandlePool, TimerHandle};
use crate::host::{Events, Host, Interest, Token};
use crate::task::raw::{self, Local, LocalWake, RemoteTask};
use crate::task::{self, Task, TaskBody, TaskControl, TaskFactory, TaskRef};
use crate::time::Instant;
use crate::timers::Timers;
use crate::wake::{Injected, Shared};

/// Size of the loop's shared read buffer: the most a stream transport reads in one call
/// (asyncio's `max_size`, 256 KiB).
pub(crate) const READ_BUFFER_SIZE: usize = 256 * 1024;

/// asyncio's default `slow_callback_duration`.
const DEFAULT_SLOW_CALLBACK: Duration = Duration::from_millis(100);

enum Ready {
    Call(Handle),
    Task(RemoteTask),
    /// A done-callback of one of the crate's combinators (see [`DoneNotify`]).
    Notify(Rc<dyn DoneNotify>, u32),
}

#[derive(Default)]
struct IoEntry {
    reader: Option<Handle>,
    writer: Option<Handle>,
}

impl IoEntry {
    fn interest(&self) -> Interest {
        let mut i = Interest::NONE;
        if self.reader.is_some() {
            i = i.add(Interest::READABLE);
        }
        if self.writer.is_some() {
            i = i.add(Interest::WRITABLE);
        }
        i
    }
}

pub(crate) struct LoopInner {
    ready: RefCell<VecDeque<Ready>>,
    /// Spent callback nodes, reused by `call_soon` and `call_at`.
    handles: RefCell<HandlePool>,
    timers: RefCell<Timers>,
    host: RefCell<Box<dyn Host>>,
    shared: Arc<Shared>,
    tasks: RefCell<Slab<TaskRef>>,
    io: RefCell<Slab<IoEntry>>,
    events: RefCell<Events>,
    running: Cell<bool>,
    stopping: Cell<bool>,
    closed: Cell<bool>,
    current_task: Cell<Option<TaskRef>>,
    /// The host's `poll` is running: wake-ups go through the injector, to reach the
    /// ready queue after the I/O callbacks of this poll, as cross-thread ones do.
    in_poll: Cell<bool>,
    exception_handler: RefCell<Option<ExceptionHandler>>,
    task_factory: RefCell<Option<TaskFactory>>,
    debug: Cell<bool>,
    slow_callback_duration: Cell<Duration>,
    next_task_id: Cell<u64>,
    /// The buffer stream transports read into and lend to `data_received` (one per
    /// loop: only one reader callback runs at a time).
    read_buffer: Cell<Vec<u8>>,
}

impl LoopInner {
    pub(crate) fn timer_cancelled(&self) {
        if let Ok(mut timers) = self.timers.try_borrow_mut() {
            timers.note_cancelled();
        }
    }
}

/// asyncio's event loop: callbacks, timers, tasks and I/O readiness over a [`Host`].
///
/// `EventLoop` is a cheap, clonable handle (it is `!Send`: the loop lives on one thread;
/// use [`remote`](Self::remote) to reach it from others).
///
/// ```
/// use core::time::Duration;
/// use loop_core::{EventLoop, sim::SimHost};
///
/// let lp = EventLoop::new(SimHost::new(7));
/// let lp2 = lp.clone();
/// lp.call_later(Duration::from_secs(3600), move || lp2.stop()).unwrap();
/// lp.run_forever().unwrap(); // an hour of virtual time, at once
/// assert!(lp.time().as_secs_f64() >= 3600.0);
/// ```
#[derive(Clone)]
pub struct EventLoop {
    inner: Rc<LoopInner>,
}

impl fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventLoop")
            .field("running", &self.is_running())
            .field("closed", &self.is_closed())
            .field("debug", &self.get_debug())
            .finish()
    }
}

impl EventLoop {
    /// A new loop on `host`.
    pub fn new(host: impl Host + 'static) -> Self {
        let notifier = host.notifier();
        EventLoop {
            inner: Rc::new(LoopInner {
                ready: RefCell::new(VecDeque::new()),
                handles: RefCell::new(HandlePool::default()),
                timers: RefCell::new(Timers::default()),
                host: RefCell::new(Box::new(host)),
                shared: Arc::new(Shared::new(notifier)),
                tasks: RefCell::new(Slab::new()),
                io: RefCell::new(Slab::new()),
                events: RefCell::new(Vec::new()),
                running: Cell::new(false),
                stopping: Cell::new(false),
                closed: Cell::new(false),
                current_task: Cell::new(None),
                in_poll: Cell::new(false),
                exception_handler: RefCell::new(None),
                task_factory: RefCell::new(None),
                debug: Cell::new(false),
                slow_callback_duration: Cell::new(DEFAULT_SLOW_CALLBACK),
                next_task_id: Cell::new(1),
                read_buffer: Cell::new(Vec::new()),
            }),
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    /// Whether two handles refer to the same loop.
    pub fn ptr_eq(&self, other: &EventLoop) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }

    // ----- time -------------------------------------------------------------------

    /// The loop's clock (the host's monotonic clock).
    pub fn time(&self) -> Instant {
        self.inner.host.borrow().now()
    }

    // ----- scheduling -------------------------------------------------------------

    fn check_closed(&self) -> Result<()> {
        if self.inner.closed.get() {
            Err(Error::new(ErrorKind::Runtime, "event loop is closed"))
        } else {
            Ok(())
        }
    }

    /// Schedule `f` to run in the next iteration, after the callbacks already scheduled
    /// (FIFO).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if the loop is closed.
    pub fn call_soon(&self, f: impl FnOnce() + 'static) -> Result<Handle> {
        self.check_closed()?;
        let handle = self.inner.handles.borrow_mut().once(f);
        self.push_ready(Ready::Call(handle.clone()));
        Ok(handle)
    }

    #[inline]
    fn push_ready(&self, item: Ready) {
        self.drain_injected();
        self.inner.ready.borrow_mut().push_back(item);
    }

    /// Schedule `f` from any thread; wakes the loop if it is blocked in `poll`.
    ///
    /// From the loop's own thread this is [`call_soon`](Self::call_soon) plus a wake-up;
    /// from other threads use [`remote`](Self::remote).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if the loop is closed.
    pub fn call_soon_threadsafe(&self, f: impl FnOnce() + Send + 'static) -> Result<RemoteHandle> {
        self.check_closed()?;
        Ok(self.remote().call_soon_threadsafe(f))
    }

    /// A `Send + Sync` handle that schedules callbacks on this loop from other threads.
    pub fn remote(&self) -> Remote {
        Remote {
            shared: self.inner.shared.clone(),
        }
    }

    /// Schedule `f` to run after `delay`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if the loop is closed.
    pub fn call_later(&self, delay: Duration, f: impl FnOnce() + 'static) -> Result<TimerHandle> {
        let when = self.time() + delay;
        self.call_at(when, f)
    }

    /// Schedule `f` to run at `when` on the loop's clock. Timers with equal deadlines run
    /// in the order they were scheduled.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if the loop is closed.
    pub fn call_at(&self, when: Instant, f: impl FnOnce() + 'static) -> Result<TimerHandle> {
        self.check_closed()?;
        let handle = self.inner.handles.borrow_mut().once(f);
        self.inner.timers.borrow_mut().push(when, handle.clone());
        Ok(TimerHandle::new(
            handle,
            when,
            Rc::downgrade(&self.inner) as Weak<LoopInner>,
        ))
    }

    // ----- running ----------------------------------------------------------------

    /// Whether the loop is running.
    pub fn is_running(&self) -> bool {
        self.inner.running.get()
    }

    /// Whether the loop was closed.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.get()
    }

    /// Stop the loop: a running loop finishes its current batch of callbacks and returns
    /// from `run_forever`; a loop not running yet will run exactly one iteration.
    pub fn stop(&self) {
        self.inner.stopping.set(true);
    }

    /// Run until [`stop`](Self::stop) is called.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if the loop is closed or already running; a host failure
    /// ([`ErrorKind::Host`], or [`ErrorKind::Stalled`] on the simulation host).
    pub fn run_forever(&self) -> Result<()> {
        self.check_closed()?;
        if self.inner.running.get() {
            return Err(Error::new(
                ErrorKind::Runtime,
                "this event loop is already running",
            ));
        }
        self.inner.running.set(true);
        let result = loop {
            if let Err(e) = self.run_once() {
                break Err(e);
            }
            if self.inner.stopping.get() {
                break Ok(());
            }
        };
        self.inner.stopping.set(false);
        self.inner.running.set(false);
        result
    }

    /// Run `fut` as a task until it completes and return its output. Anything that
    /// implements `IntoFuture` works, a [`Future`] or a [`Task`] included (their output
    /// is their own `Result`).
    ///
    /// # Errors
    ///
    /// The task's failure (a panic, a cancellation); [`ErrorKind::Runtime`] if the loop
    /// is closed, already running, or stopped before the task completed; a host failure.
    pub fn run_until_complete<F>(&self, fut: F) -> Result<F::Output>
    where
        F: core::future::IntoFuture,
        F::IntoFuture: 'static,
        F::Output: 'static,
    {
        self.check_closed()?;
        if self.inner.running.get() {
            return Err(Error::new(
                ErrorKind::Runtime,
                "this event loop is already running",
            ));
        }
        let task = self.create_task(fut.into_future());
        let lp = self.clone();
        let id = task.add_done_callback(move |_| lp.stop());
        let run = self.run_forever();
        task.remove_done_callback(id);
        run?;
        if !task.done() {
            return Err(Error::new(
                ErrorKind::Runtime,
                "event loop stopped before the future completed",
            ));
        }
        task.take_result()
    }

    /// Close the loop: drop pending callbacks, timers and tasks (their futures are dropped
    /// without completing). Closing twice does nothing.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if the loop is running.
    pub fn close(&self) -> Result<()> {
        if self.inner.running.get() {
            return Err(Error::new(
                ErrorKind::Runtime,
                "cannot close a running event loop",
            ));
        }
        if self.inner.closed.replace(true) {
            return Ok(());
        }
        let ready = core::mem::take(&mut *self.inner.ready.borrow_mut());
        drop(ready);
        let timers = core::mem::take(&mut *self.inner.timers.borrow_mut());
        drop(timers);
        while self.inner.shared.queue.pop().is_some() {}
        let tasks: Vec<_> = self.inner.tasks.borrow_mut().drain().collect();
        for t in &tasks {
            t.0.discard();
        }
        drop(tasks);
        let io = core::mem::take(&mut *self.inner.io.borrow_mut());
        drop(io);
        Ok(())
    }

    /// Run one iteration (asyncio's `_run_once`). Exposed for hosts and tests that
    /// drive the loop step by step.
    ///
    /// # Errors
    ///
    /// A host failure from `poll`.
    pub fn run_once(&self) -> Result<()> {
        let inner = &*self.inner;
        let has_timers = {
            let mut timers = inner.timers.borrow_mut();
            timers.compact();
            !timers.is_empty()
        };
        self.drain_injected();

        let mut timeout = if !inner.ready.borrow().is_empty() || inner.stopping.get() {
            Some(Duration::ZERO)
        } else if has_timers {
            let next = inner.timers.borrow().next_deadline();
            next.map(|when| when.saturating_duration_since(self.time()))
        } else {
            None
        };

        // Only a poll that may block needs wake-ups from other threads; the SeqCst
        // stores are full barriers, so a non-blocking poll skips them.
        let may_block = timeout != Some(Duration::ZERO);
        if may_block {
            inner.shared.polling.store(true, Ordering::SeqCst);
            if !inner.shared.queue.is_empty() {
                timeout = Some(Duration::ZERO);
            }
        }
        {
            // Nothing but this function uses the event buffer, and the host's poll cannot
            // re-enter the loop (the loop holds its host), nor can `process_events`, which
            // only queues handles.
            let mut events = inner.events.borrow_mut();
            events.clear();
            inner.in_poll.set(true);
            let polled = inner.host.borrow_mut().poll(&mut events, timeout);
            inner.in_poll.set(false);
            if may_block {
                inner.shared.polling.store(false, Ordering::SeqCst);
            }
            polled?;
            if !events.is_empty() {
                self.process_events(&events);
            }
        }
        self.drain_injected();

        if has_timers {
            let end = {
                let host = inner.host.borrow();
                host.now() + host.clock_resolution()
            };
            loop {
                let due = inner.timers.borrow_mut().pop_due(end);
                match due {
                    Some(h) if h.cancelled() => {}
                    Some(h) => inner.ready.borrow_mut().push_back(Ready::Call(h)),
                    None => break,
                }
            }
        }

        let ntodo = inner.ready.borrow().len();
        for _ in 0..ntodo {
            let item = inner.ready.borrow_mut().pop_front();
            match item {
                Some(Ready::Call(h)) => {
                    if !h.cancelled() {
                        self.run_handle(&h);
                    }
                    let spare = self.inner.handles.borrow_mut().recycle(h);
                    drop(spare);
                }
                Some(Ready::Task(task)) => self.run_task(task),
                Some(Ready::Notify(n, index)) => self.run_notify(&*n, index),
                None => break,
            }
            self.drain_injected();
        }
        Ok(())
    }

    fn process_events(&self, events: &Events) {
        for ev in events {
            let (reader, writer) = {
                let io = self.inner.io.borrow();
                match io.get(ev.token.0) {
                    Some(e) => (
                        e.reader.clone().filter(|_| ev.ready.is_readable()),
                        e.writer.clone().filter(|_| ev.ready.is_writable()),
                    ),
                    None => (None, None),
                }
            };
            let mut ready = self.inner.ready.borrow_mut();
            for h in [reader, writer].into_iter().flatten() {
                if !h.cancelled() {
                    ready.push_back(Ready::Call(h));
                }
            }
        }
    }

    fn run_handle(&self, h: &Handle) {
        let start = self.inner.debug.get().then(|| self.time());
        if let Err(error) = crate::panic::catch(|| h.run()) {
            let ctx = ExceptionContext::new(format!("exception in callback {}", h.name()))
                .with_error(error)
                .with_handle(h.clone());
            self.call_exception_handler(&ctx);
        }
        if let Some(start) = start {
            self.report_if_slow(start, || {
                ExceptionContext::new(format!("executing {}", h.name())).with_handle(h.clone())
            });
        }
    }

    fn run_notify(&self, n: &dyn DoneNotify, index: u32) {
        let start = self.inner.debug.get().then(|| self.time());
        if let Err(error) = crate::panic::catch(|| n.notify(index)) {
            let ctx = ExceptionContext::new(format!("exception in callback {}", n.name()))
                .with_error(error);
            self.call_exception_handler(&ctx);
        }
        if let Some(start) = start {
            self.report_if_slow(start, || {
                ExceptionContext::new(format!("executing {}", n.name()))
            });
        }
    }

    fn run_task(&self, task: RemoteTask) {
        let Some(task) = task.into_local(self) else {
            return;
        };
        if !self.inner.debug.get() {
            task.step();
            return;
        }
        let start = self.time();
        task.step();
        self.report_if_slow(start, || {
            ExceptionContext::new(format!("executing step of task {}", task.name()))
                .with_task(TaskRef(task.clone()))
        });
    }

    fn report_if_slow(&self, start: Instant, ctx: impl FnOnce() -> ExceptionContext) {
        let took = self.time().saturating_duration_since(start);
        if took >= self.inner.slow_callback_duration.get() {
            let mut c = ctx();
            c.message = format!("{} took {:.3} seconds", c.message, took.as_secs_f64());
            self.call_exception_handler(&c.with_duration(took));
        }
    }

    /// Move wake-ups and thread-safe callbacks into the ready queue.
    #[inline]
    fn drain_injected(&self) {
        if self.inner.shared.may_have_injected() {
            self.drain_injected_slow();
        }
    }

    #[inline(never)]
    fn drain_injected_slow(&self) {
        let shared = &self.inner.shared;
        if !shared.take_injected() {
            return;
        }
        let mut ready = self.inner.ready.borrow_mut();
        while let Some(item) = shared.queue.pop() {
            match item {
                Injected::Wake(task) => ready.push_back(Ready::Task(task)),
                Injected::Call(f, cancelled) => {
                    let handle = Handle::once(move || {
                        if !cancelled.load(Ordering::Acquire) {
                            f();
                        }
                    });
                    ready.push_back(Ready::Call(handle));
                }
            }
        }
    }

    // ----- tasks --------------------------------------------------------------------

    /// Wrap `fut` in a [`Task`] and schedule its first step (asyncio's `create_task`).
    /// Any `'static` future works, `!Send` ones included.
    ///
    /// On a closed loop the task is returned already failed with
    /// [`ErrorKind::Runtime`].
    pub fn create_task<F>(&self, fut: F) -> Task<F::Output>
    where
        F: core::future::Future + 'static,
    {
        if self.needs_task_body() {
            return self.spawn_body(move |slot: Future<F::Output>| async move {
                let value = fut.await;
                slot.complete_task(Ok(value));
            });
        }
        let task = task::spawn::<_, _, task::Value>(self, fut);
        self.schedule_task(&task.task_ref().0);
        task
    }

    /// Like [`create_task`](Self::create_task) for a fallible future: an `Err` becomes
    /// the task's error, as an exception raised by a coroutine does.
    pub fn create_try_task<F, T, E>(&self, fut: F) -> Task<T>
    where
        F: core::future::Future<Output = core::result::Result<T, E>> + 'static,
        T: 'static,
        E: Into<Error>,
    {
        if self.needs_task_body() {
            return self.spawn_body(move |slot: Future<T>| async move {
                let output = fut.await;
                <task::Fallible as task::Settle<T, _>>::settle(output, &slot);
            });
        }
        let task = task::spawn::<T, _, task::Fallible>(self, fut);
        self.schedule_task(&task.task_ref().0);
        task
    }

    /// Whether a new task needs a body of its own, which settles its result (for a task
    /// factory, which takes bodies), or is never run (on a closed loop).
    fn needs_task_body(&self) -> bool {
        self.inner.closed.get() || self.inner.task_factory.borrow().is_some()
    }

    /// Create a task whose body `make` builds from a handle to the task's result, and
    /// schedule its first step.
    fn spawn_body<T: 'static, B>(&self, make: impl FnOnce(Future<T>) -> B) -> Task<T>
    where
        B: core::future::Future<Output = ()> + 'static,
    {
        if self.inner.closed.get() {
            // The body is never made: the future it would run is dropped unpolled.
            drop(make);
            let task = task::spawn_with(self, |_: Future<T>| core::future::ready(()));
            task.task_ref().0.discard();
            task.future()
                .complete(Err(Error::new(ErrorKind::Runtime, "event loop is closed")));
            return task;
        }
        let factory = self.inner.task_factory.borrow().clone();
        let task = match factory {
            Some(factory) => task::spawn_with(self, |slot| -> TaskBody {
                factory(self, Box::pin(make(slot)))
            }),
            None => task::spawn_with(self, make),
        };
        self.schedule_task(&task.task_ref().0);
        task
    }

    /// Install a task factory (`None` restores the default).
    pub fn set_task_factory(&self, factory: Option<TaskFactory>) {
        *self.inner.task_factory.borrow_mut() = factory;
    }

    /// The installed task factory.
    pub fn get_task_factory(&self) -> Option<TaskFactory> {
        self.inner.task_factory.borrow().clone()
    }

    /// The task whose step is running, if any.
    pub fn current_task(&self) -> Option<TaskRef> {
        let current = self.inner.current_task.take();
        let copy = current.clone();
        self.inner.current_task.set(current);
        copy
    }

    /// The tasks that are not done yet.
    pub fn all_tasks(&self) -> Vec<TaskRef> {
        self.inner
            .tasks
            .borrow()
            .iter()
            .filter(|(_, t)| !t.done())
            .map(|(_, t)| t.clone())
            .collect()
    }

    /// Schedule a task's step from the loop's own thread: straight into the ready queue
    /// (after whatever was injected before, so the order is the one the injector would
    /// give), sparing the cross-thread queue. Coalesces with pending wake-ups.
    pub(crate) fn schedule_task(&self, task: &Local<dyn TaskControl>) {
        if let Some(entry) = task.schedule() {
            self.push_ready(Ready::Task(entry));
        }
    }

    /// Wake `waker` (asyncio's loop futures and combinators wake their awaiting tasks
    /// through this). A task of this loop is scheduled directly, as its waker would
    /// schedule it through the injector, but without the cross-thread queue; other
    /// wakers are woken as usual. During the host's `poll` the injector is used, so that
    /// the task lands after the poll's I/O callbacks, as before.
    pub(crate) fn wake(&self, waker: Waker) {
        if self.inner.in_poll.get() {
            return waker.wake();
        }
        match raw::schedule_waker(&waker, self) {
            LocalWake::Foreign => waker.wake(),
            LocalWake::Coalesced => {}
            LocalWake::Queue(entry) => self.push_ready(Ready::Task(entry)),
        }
    }

    /// [`wake`](Self::wake) by reference.
    pub(crate) fn wake_by_ref(&self, waker: &Waker) {
        if self.inner.in_poll.get() {
            return waker.wake_by_ref();
        }
        match raw::schedule_waker(waker, self) {
            LocalWake::Foreign => waker.wake_by_ref(),
            LocalWake::Coalesced => {}
            LocalWake::Queue(entry) => self.push_ready(Ready::Task(entry)),
        }
    }

    /// Schedule a crate-internal done-callback, as `call_soon` schedules one (on a
    /// closed loop it is dropped, as `call_soon`'s error drops a callback).
    pub(crate) fn schedule_notify(&self, n: Rc<dyn DoneNotify>, index: u32) {
        if !self.inner.closed.get() {
            self.push_ready(Ready::Notify(n, index));
        }
    }

    /// Put a new task in the task table; its key is its place there.
    pub(crate) fn adopt_task(&self, task: &TaskRef) {
        let mut tasks = self.inner.tasks.borrow_mut();
        let entry = tasks.vacant_entry();
        task.0.set_key(entry.key());
        entry.insert(task.clone());
    }

    pub(crate) fn forget_task(&self, key: usize) {
        let removed = {
            let mut tasks = self.inner.tasks.borrow_mut();
            tasks.try_remove(key)
        };
        drop(removed);
    }

    pub(crate) fn next_task_id(&self) -> u64 {
        let id = self.inner.next_task_id.get();
        self.inner.next_task_id.set(id + 1);
        id
    }

    pub(crate) fn enter_task(&self, task: TaskRef) -> Option<TaskRef> {
        self.inner.current_task.replace(Some(task))
    }

    pub(crate) fn leave_task(&self, prev: Option<TaskRef>) {
        let current = self.inner.current_task.replace(prev);
        drop(current);
    }

    /// The running task awaits `fut`: remember it so cancelling the task cancels it.
    pub(crate) fn note_awaiting(&self, fut: FutureRef) {
        if let Some(task) = self.current_task() {
            task.0.set_fut_waiter(fut);
        }
    }

    /// A pending [`Future`] bound to this loop (asyncio's `create_future`).
    pub fn create_future<T: 'static>(&self) -> Future<T> {
        Future::new(self)
    }

    // ----- I/O registrations -----------------------------------------------------

    /// Allocate a [`Token`] for one of the host's I/O objects. The host reports its
    /// readiness under this token; callbacks are attached with
    /// [`add_reader`](Self::add_reader) / [`add_writer`](Self::add_writer).
    pub fn register_io(&self) -> Token {
        Token(self.inner.io.borrow_mut().insert(IoEntry::default()))
    }

    /// Forget a token and its callbacks.
    ///
    /// # Errors
    ///
    /// The host's error while dropping its interest.
    pub fn deregister_io(&self, token: Token) -> Result<()> {
        let removed = {
            let mut io = self.inner.io.borrow_mut();
            if io.contains(token.0) {
                Some(io.remove(token.0))
            } else {
                None
            }
        };
        match removed {
            Some(e) if !e.interest().is_none() => self
                .inner
                .host
                .borrow_mut()
                .set_interest(token, Interest::NONE),
            _ => Ok(()),
        }
    }

    fn set_io(
        &self,
        token: Token,
        f: impl FnOnce(&mut IoEntry) -> Option<Handle>,
    ) -> Result<Option<Handle>> {
        let (old, before, after) = {
            let mut io = self.inner.io.borrow_mut();
            let entry = io
                .get_mut(token.0)
                .ok_or_else(|| Error::new(ErrorKind::InvalidInput, "unknown I/O token"))?;
            let before = entry.interest();
            let old = f(entry);
            (old, before, entry.interest())
        };
        if before != after {
            self.inner.host.borrow_mut().set_interest(token, after)?;
        }
        Ok(old)
    }

    /// Call `f` whenever `token` is readable, replacing any previous reader.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] for an unknown token, [`ErrorKind::Runtime`] on a
    /// closed loop, or the host's error.
    pub fn add_reader(&self, token: Token, f: impl Fn() + 'static) -> Result<Handle> {
        self.check_closed()?;
        let h = Handle::repeat(f);
        let h2 = h.clone();
        if let Some(old) = self.set_io(token, |e| e.reader.replace(h2))? {
            old.cancel();
        }
        Ok(h)
    }

    /// Stop watching `token` for reading; returns whether a reader was registered.
    ///
    /// # Errors
    ///
    /// The host's error while dropping its interest.
    pub fn remove_reader(&self, token: Token) -> Result<bool> {
        match self.set_io(token, |e| e.reader.take()) {
            Ok(Some(old)) => {
                old.cancel();
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(e) if e.kind() == ErrorKind::InvalidInput => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Call `f` whenever `token` is writable, replacing any previous writer.
    ///
    /// # Errors
    ///
    /// As [`add_reader`](Self::add_reader).
    pub fn add_writer(&self, token: Token, f: impl Fn() + 'static) -> Result<Handle> {
        self.check_closed()?;
        let h = Handle::repeat(f);
        let h2 = h.clone();
        if let Some(old) = self.set_io(token, |e| e.writer.replace(h2))? {
            old.cancel();
        }
        Ok(h)
    }

    /// Stop watching `token` for writing; returns whether a writer was registered.
    ///
    /// # Errors
    ///
    /// As [`remove_reader`](Self::remove_reader).
    pub fn remove_writer(&self, token: Token) -> Result<bool> {
        match self.set_io(token, |e| e.writer.take()) {
            Ok(Some(old)) => {
                old.cancel();
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(e) if e.kind() == ErrorKind::InvalidInput => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Borrow the loop's read buffer ([`READ_BUFFER_SIZE`] bytes); give it back with
    /// [`put_read_buffer`](Self::put_read_buffer). A nested borrow gets a fresh buffer.
    pub(crate) fn take_read_buffer(&self) -> Vec<u8> {
        let buf = self.inner.read_buffer.take();
        if buf.is_empty() {
            alloc::vec![0; READ_BUFFER_SIZE]
        } else {
            buf
        }
    }

    pub(crate) fn put_read_buffer(&self, buf: Vec<u8>) {
        self.inner.read_buffer.set(buf);
    }

    // ----- errors and debug ----------------------------------------------------------

    /// Install an exception handler (`None` restores the default).
    pub fn set_exception_handler(&self, handler: Option<ExceptionHandler>) {
        *self.inner.exception_handler.borrow_mut() = handler;
    }

    /// The installed exception handler.
    pub fn get_exception_handler(&self) -> Option<ExceptionHandler> {
        self.inner.exception_handler.borrow().clone()
    }

    /// The default handler: with `std`, prints the context to stderr (asyncio logs it);
    /// without `std` there is nowhere to print, so install a handler.
    pub fn default_exception_handler(&self, ctx: &ExceptionContext) {
        #[cfg(feature = "std")]
        std::eprintln!("tulip: {ctx}");
        #[cfg(not(feature = "std"))]
        let _ = ctx;
    }

    /// Pass `ctx` to the installed handler, or the default one. A panic in the handler is
    /// caught (with `std`) and reported through the default handler.
    pub fn call_exception_handler(&self, ctx: &ExceptionContext) {
        let handler = self.inner.exception_handler.borrow().clone();
        match handler {
            None => self.default_exception_handler(ctx),
            Some(h) => {
                if let Err(e) = crate::panic::catch(|| h(self, ctx)) {
                    let report =
                        ExceptionContext::new("unhandled error in exception handler").with_error(e);
                    self.default_exception_handler(&report);
                    self.default_exception_handler(ctx);
                }
            }
        }
    }

    /// Turn debug mode on or off. In debug mode callbacks and task steps that run for at
    /// least [`slow_callback_duration`](Self::slow_callback_duration) are reported to the
    /// exception handler with their duration.
    pub fn set_debug(&self, enabled: bool) {
        self.inner.debug.set(enabled);
    }

    /// Whether debug mode is on.
    pub fn get_debug(&self) -> bool {
        self.inner.debug.get()
    }

    /// The slow-callback threshold of debug mode (default 100 ms).
    pub fn slow_callback_duration(&self) -> Duration {
        self.inner.slow_callback_duration.get()
    }

    /// Set the slow-callback threshold of debug mode.
    pub fn set_slow_callback_duration(&self, threshold: Duration) {
        self.inner.slow_callback_duration.set(threshold);
    }

    /// Number of timers in the heap, cancelled ones not yet dropped included (for tests
    /// and diagnostics).
    pub fn scheduled_timer_count(&self) -> usize {
        self.inner.timers.borrow().len()
    }

    /// Number of callbacks and task steps waiting in the ready queue.
    pub fn ready_count(&self) -> usize {
        self.drain_injected();
        self.inner.ready.borrow().len()
    }
}

/// A `Send + Sync` handle to a loop, for scheduling callbacks from other threads.
#[derive(Clone)]
pub struct Remote {
    shared: Arc<Shared>,
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote").finish_non_exhaustive()
    }
}

impl Remote {
    /// Schedule `f` on the loop and wake it if it is blocked in `poll`.
    pub fn call_soon_threadsafe(&self, f: impl FnOnce() + Send + 'static) -> RemoteHandle {
        let cancelled = Arc::new(AtomicBool::new(false));
        self.shared
            .inject(Injected::Call(Box::new(f), cancelled.clone()));
        RemoteHandle { cancelled }
    }

    /// Wake the loop's `poll` without scheduling anything.
    pub fn wake(&self) {
        self.shared.notifier.notify();
    }
}

/// The handle of a [`call_soon_threadsafe`](Remote::call_soon_threadsafe) callback,
/// cancellable from any thread.
#[derive(Clone, Debug)]
pub struct RemoteHandle {
    cancelled: Arc<AtomicBool>,
}

impl RemoteHandle {
    /// Cancel the callback if it has not run yet.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    /// Whether the callback was cancelled.
    pub fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }
}
