//! Tasks: any `'static` Rust future (`!Send` ones included) driven by the loop, with an
//! asyncio [`Future`] for its result.
//!
//! A task is stepped from the ready queue. Its waker only holds the task's header (see
//! `wake.rs`), so waking from another thread is safe; the future itself never leaves the
//! loop's thread.
//!
//! Cancelling a task marks it and cancels the loop future it is awaiting, if any (as
//! asyncio does); at its next step the task's future is dropped (its destructors run)
//! and the task completes as cancelled. Unlike a Python coroutine, a Rust future cannot
//! catch the cancellation and go on.

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use core::cell::{Cell, RefCell};
use core::fmt;
use core::future::IntoFuture;
use core::marker::PhantomData;
use core::ops::Deref;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::error::Error;
use crate::event_loop::EventLoop;
use crate::exception::ExceptionContext;
use crate::future::{AnyFuture, Future, FutureCore, FutureRef, Wait};

pub(crate) mod raw;

use raw::{Local, TaskNode};

/// A type-erased task body, as a [task factory](EventLoop::set_task_factory) sees it.
pub type TaskBody = Pin<Box<dyn core::future::Future<Output = ()>>>;

/// A task factory: receives every new task's body and returns the body to run (for
/// instrumentation, accounting, …).
pub type TaskFactory = Rc<dyn Fn(&EventLoop, TaskBody) -> TaskBody>;

/// The loop's type-erased view of a task.
pub(crate) trait TaskControl {
    /// Run one step: poll the future, or finish a pending cancellation.
    fn step(&self);
    fn cancel(&self, message: Option<Cow<'static, str>>) -> bool;
    /// Take a pending cancellation request (its message), if any.
    fn take_cancel_request(&self) -> Option<Option<Cow<'static, str>>>;
    fn done(&self) -> bool;
    fn id(&self) -> u64;
    fn name(&self) -> String;
    fn set_name(&self, name: String);
    /// Remember the loop future this task awaits, to cancel it with the task.
    fn set_fut_waiter(&self, fut: FutureRef);
    /// Record the task's key in the loop's task table.
    fn set_key(&self, key: usize);
    /// Drop the future without completing the task (loop close).
    fn discard(&self);
    fn result_ref(&self) -> FutureRef;
}

/// How the output of a task's Rust future settles the task's result future.
pub(crate) trait Settle<T, O>: 'static {
    fn settle(output: O, result: &Future<T>);
}

/// The output is the task's result ([`EventLoop::create_task`]).
pub(crate) enum Value {}

impl<T: 'static> Settle<T, T> for Value {
    fn settle(output: T, result: &Future<T>) {
        result.complete_task(Ok(output));
    }
}

/// An `Err` output is the task's exception, and a cancellation error cancels the task
/// ([`EventLoop::create_try_task`]).
pub(crate) enum Fallible {}

impl<T: 'static, E: Into<Error>> Settle<T, core::result::Result<T, E>> for Fallible {
    fn settle(output: core::result::Result<T, E>, result: &Future<T>) {
        match output.map_err(Into::into) {
            Err(e) if e.is_cancelled() => {
                let message = e.message().map(|m| Cow::Owned(String::from(m)));
                result.cancel_direct(message);
            }
            outcome => result.complete_task(outcome),
        }
    }
}

/// The body settles the result itself (a body from a task factory); one that returns
/// without having done so leaves the task to be cancelled.
pub(crate) enum SelfSettled {}

impl<T: 'static> Settle<T, ()> for SelfSettled {
    fn settle((): (), _: &Future<T>) {}
}

/// What a task drives: its Rust future, stored as it is (no wrapper future, whose state
/// would hold the future twice: as a capture and as the awaited value), and how its
/// output settles the task (`S`).
pub(crate) struct Driver<F, S> {
    fut: F,
    settle: PhantomData<S>,
}

/// A task's own state: the part of its node after its result future (see `raw.rs`).
/// Kept small: every task carries it, and a program may have many.
pub(crate) struct TaskCore<B> {
    /// `None` before the task is set up and once its future was dropped.
    body: RefCell<Option<B>>,
    /// Cancellation was requested (and not yet acted upon); its message, if any, is in
    /// `extra`.
    must_cancel: Cell<bool>,
    polling: Cell<bool>,
    fut_waiter: Cell<Option<FutureRef>>,
    id: Cell<u64>,
    key: Cell<usize>,
    /// State few tasks need, allocated on first use.
    extra: RefCell<Option<Box<Extra>>>,
}

/// The rarely used part of a task.
#[derive(Default)]
struct Extra {
    name: Option<String>,
    /// The message of the pending cancellation request.
    cancel_message: Option<Cow<'static, str>>,
}

impl<B> TaskCore<B> {
    /// Record a cancellation request unless one is pending (the first message wins).
    fn request_cancel(&self, message: Option<Cow<'static, str>>) {
        if self.must_cancel.replace(true) {
            return;
        }
        if message.is_some() {
            let mut extra = self.extra.borrow_mut();
            extra.get_or_insert_with(Box::default).cancel_message = message;
        }
    }

    /// Take the pending cancellation request (its message), if any.
    fn take_cancel_request(&self) -> Option<Option<Cow<'static, str>>> {
        if !self.must_cancel.replace(false) {
            return None;
        }
        let mut extra = self.extra.borrow_mut();
        Some(extra.as_mut().and_then(|e| e.cancel_message.take()))
    }
}

impl<T: 'static, F, S> TaskNode<T, Driver<F, S>>
where
    F: core::future::Future + 'static,
    S: Settle<T, F::Output>,
{
    fn lp(&self) -> &EventLoop {
        self.result().get_loop()
    }

    fn result(&self) -> &FutureCore<T> {
        &self.future.core
    }

    /// A handle to the result future.
    fn result_future(&self) -> Future<T> {
        Future::from_node(self.future_ref())
    }

    /// Drop the body where it lies. It was pinned by `step`, so it must not be moved
    /// before its destructor runs: `Option::take` would move a self-referential async
    /// block out of the cell and drop it elsewhere, leaving its inner borrows dangling.
    fn drop_body(&self) {
        *self.task.body.borrow_mut() = None;
    }

    fn finish(&self) {
        self.mark_done();
        self.lp().forget_task(self.task.key.get());
    }

    fn report_panic(&self, error: Error) {
        let ctx = ExceptionContext::new(format!("panic in task {}", self.name()))
            .with_error(error)
            .with_task(TaskRef(self.task_ref()));
        self.lp().call_exception_handler(&ctx);
    }
}

impl<T: 'static, F, S> TaskControl for TaskNode<T, Driver<F, S>>
where
    F: core::future::Future + 'static,
    S: Settle<T, F::Output>,
{
    fn step(&self) {
        self.clear_scheduled();
        if self.result().done() {
            return;
        }
        // The body's destructors may call back into this task (cancel it, …): release
        // the borrow of `must_cancel` (and below, of `fut_waiter`) before dropping it.
        let cancel_request = self.task.take_cancel_request();
        if let Some(message) = cancel_request {
            self.drop_body();
            self.result_future().cancel_direct(message);
            self.finish();
            return;
        }
        drop(self.task.fut_waiter.take());
        let waker = self.borrowed_waker();
        let mut cx = Context::from_waker(&waker);
        let lp = self.lp();
        let prev = lp.enter_task(TaskRef(self.task_ref()));
        self.task.polling.set(true);
        let outcome = {
            let mut body = self.task.body.borrow_mut();
            let Some(b) = body.as_mut() else {
                self.task.polling.set(false);
                lp.leave_task(prev);
                return;
            };
            // SAFETY: the body lives inside the task's node, which never moves, and is
            // never moved out of it: it is only polled here through this reference and
            // dropped in place (`drop_body` assigns `None`, which runs the destructor
            // where it is).
            let pinned = unsafe { Pin::new_unchecked(&mut b.fut) };
            crate::panic::catch(|| pinned.poll(&mut cx))
        };
        self.task.polling.set(false);
        lp.leave_task(prev);
        match outcome {
            Ok(Poll::Pending) => {}
            Ok(Poll::Ready(output)) => {
                // The future is dropped before its output settles the task, as an
                // awaited future is dropped when its `.await` completes.
                self.drop_body();
                S::settle(output, &self.result_future());
                // A body from a task factory may return without running the task's
                // future to completion: the task then completes as cancelled.
                if !self.result().done() {
                    let message = self.task.take_cancel_request().flatten();
                    self.result_future().cancel_direct(message);
                }
                self.finish();
            }
            Err(error) => {
                self.drop_body();
                if !self.result().done() {
                    self.result_future().complete(Err(error.clone()));
                }
                self.report_panic(error);
                self.finish();
            }
        }
    }

    fn cancel(&self, message: Option<Cow<'static, str>>) -> bool {
        if self.result().done() {
            return false;
        }
        self.task.request_cancel(message.clone());
        if let Some(w) = self.task.fut_waiter.take() {
            w.cancel_with_message(message);
        }
        self.lp().schedule_task(&self.task_ref());
        true
    }

    fn take_cancel_request(&self) -> Option<Option<Cow<'static, str>>> {
        self.task.take_cancel_request()
    }

    fn done(&self) -> bool {
        self.result().done()
    }

    fn id(&self) -> u64 {
        self.task.id.get()
    }

    fn name(&self) -> String {
        match self
            .task
            .extra
            .borrow()
            .as_ref()
            .and_then(|e| e.name.as_ref())
        {
            Some(n) => n.clone(),
            None => format!("Task-{}", self.task.id.get()),
        }
    }

    fn set_name(&self, name: String) {
        let old = {
            let mut extra = self.task.extra.borrow_mut();
            extra.get_or_insert_with(Box::default).name.replace(name)
        };
        drop(old);
    }

    fn set_fut_waiter(&self, fut: FutureRef) {
        drop(self.task.fut_waiter.replace(Some(fut)));
    }

    fn set_key(&self, key: usize) {
        self.task.key.set(key);
    }

    fn discard(&self) {
        self.mark_done();
        if !self.task.polling.get() {
            self.drop_body();
        }
        drop(self.task.fut_waiter.take());
    }

    fn result_ref(&self) -> FutureRef {
        self.result_future().as_ref()
    }
}

impl<T: 'static, F, S> AnyFuture for TaskNode<T, Driver<F, S>>
where
    F: core::future::Future + 'static,
    S: Settle<T, F::Output>,
{
    fn done(&self) -> bool {
        self.result().done()
    }
    fn cancelled(&self) -> bool {
        self.result().cancelled()
    }
    fn cancel(&self, message: Option<Cow<'static, str>>) -> bool {
        TaskControl::cancel(self, message)
    }
}

fn task_core<B>(body: Option<B>) -> TaskCore<B> {
    TaskCore {
        body: RefCell::new(body),
        must_cancel: Cell::new(false),
        polling: Cell::new(false),
        fut_waiter: Cell::new(None),
        id: Cell::new(0),
        key: Cell::new(0),
        extra: RefCell::new(None),
    }
}

/// Give a new task node its id and its place in the loop's task table.
fn adopt<T: 'static, F, S>(lp: &EventLoop, node: Local<TaskNode<T, Driver<F, S>>>) -> Task<T>
where
    F: core::future::Future + 'static,
    S: Settle<T, F::Output>,
{
    node.task.id.set(lp.next_task_id());
    let future = Future::from_node(node.future_ref());
    let task = TaskRef(node.into_task());
    lp.adopt_task(&task);
    Task::new(future, task)
}

/// Create a task on `lp` driving `fut`, whose output settles the task as `S` says: one
/// allocation, made with the future in place. The caller schedules the first step.
pub(crate) fn spawn<T: 'static, F, S>(lp: &EventLoop, fut: F) -> Task<T>
where
    F: core::future::Future + 'static,
    S: Settle<T, F::Output>,
{
    let driver = Driver::<F, S> {
        fut,
        settle: PhantomData,
    };
    let node = TaskNode::allocate(
        FutureCore::new(lp),
        task_core(Some(driver)),
        lp.shared().clone(),
    );
    adopt(lp, node)
}

/// Create a task on `lp` whose body, which settles the task's result itself, `make`
/// builds from a handle to that result (for task factories). The caller schedules the
/// first step.
pub(crate) fn spawn_with<T: 'static, B>(
    lp: &EventLoop,
    make: impl FnOnce(Future<T>) -> B,
) -> Task<T>
where
    B: core::future::Future<Output = ()> + 'static,
{
    let node = TaskNode::allocate(FutureCore::new(lp), task_core(None), lp.shared().clone());
    // The body is made (and a task factory called) before the task gets its id and key,
    // so tasks the factory creates come first.
    let body = make(Future::from_node(node.future_ref()));
    *node.task.body.borrow_mut() = Some(Driver::<B, SelfSettled> {
        fut: body,
        settle: PhantomData,
    });
    adopt(lp, node)
}

/// A type-erased reference to a task: what [`EventLoop::all_tasks`] and
/// [`EventLoop::current_task`] return.
#[derive(Clone)]
pub struct TaskRef(pub(crate) Local<dyn TaskControl>);

impl TaskRef {
    /// The task's unique (per loop) id.
    pub fn id(&self) -> u64 {
        self.0.id()
    }

    /// The task's name (`Task-<id>` unless set).
    pub fn name(&self) -> String {
        self.0.name()
    }

    /// Rename the task.
    pub fn set_name(&self, name: impl Into<String>) {
        self.0.set_name(name.into());
    }

    /// Whether the task is done.
    pub fn done(&self) -> bool {
        self.0.done()
    }

    /// Request cancellation (see [`Task::cancel`]).
    pub fn cancel(&self) -> bool {
        self.0.cancel(None)
    }

    /// The task's result future, type-erased.
    pub fn future(&self) -> FutureRef {
        self.0.result_ref()
    }

    /// Whether two references name the same task.
    pub fn ptr_eq(&self, other: &TaskRef) -> bool {
        self.0.ptr_eq(&other.0)
    }
}

impl fmt::Debug for TaskRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("name", &self.name())
            .field("done", &self.done())
            .finish()
    }
}

/// A task: a Rust future scheduled on the loop, with its result in an asyncio
/// [`Future`] (reached through `Deref`: `done`, `result`, `add_done_callback`, …).
///
/// Awaiting a `Task<T>` (for `T: Clone`) waits for its result; use
/// [`Future::take_result`] after completion for other `T`.
pub struct Task<T: 'static> {
    future: Future<T>,
    task: TaskRef,
}

impl<T: 'static> Clone for Task<T> {
    fn clone(&self) -> Self {
        Task {
            future: self.future.clone(),
            task: self.task.clone(),
        }
    }
}

impl<T: 'static> Task<T> {
    pub(crate) fn new(future: Future<T>, task: TaskRef) -> Self {
        Task { future, task }
    }

    /// Request cancellation: returns `false` if the task is already done. The loop
    /// future the task awaits (if any) is cancelled too; at the task's next step its
    /// Rust future is dropped and the task completes as cancelled.
    pub fn cancel(&self) -> bool {
        self.task.0.cancel(None)
    }

    /// [`cancel`](Self::cancel) with a message carried by the cancellation error.
    pub fn cancel_with_message(&self, message: impl Into<Cow<'static, str>>) -> bool {
        self.task.0.cancel(Some(message.into()))
    }

    /// The task's result future.
    pub fn future(&self) -> &Future<T> {
        &self.future
    }

    /// The type-erased task.
    pub fn task_ref(&self) -> &TaskRef {
        &self.task
    }

    /// The task's name.
    pub fn name(&self) -> String {
        self.task.name()
    }

    /// Rename the task.
    pub fn set_name(&self, name: impl Into<String>) {
        self.task.set_name(name);
    }
}

impl<T: 'static> Deref for Task<T> {
    type Target = Future<T>;
    fn deref(&self) -> &Future<T> {
        &self.future
    }
}

impl<T: 'static> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.task.fmt(f)
    }
}

impl<T: Clone + 'static> IntoFuture for Task<T> {
    type Output = crate::error::Result<T>;
    type IntoFuture = Wait<T>;
    fn into_future(self) -> Wait<T> {
        self.future.into_future()
    }
}

impl<T: Clone + 'static> IntoFuture for &Task<T> {
    type Output = crate::error::Result<T>;
    type IntoFuture = Wait<T>;
    fn into_future(self) -> Wait<T> {
        self.future.clone().into_future()
    }
}
