//! The allocation behind every loop [`Future`](crate::Future) and task, its reference
//! counts, and the task waker. This module is the only unsafe code of futures and tasks.
//!
//! # One allocation per task
//!
//! A plain future is one node: a [`Header`] followed by its [`FutureCore`]. A task is
//! one node too: the same two parts (its result future) followed by its [`TaskCore`] (the
//! Rust future it drives and its bookkeeping). Both are `#[repr(C)]`, so a pointer to a
//! task node is also a pointer to its result future ([`FutureNode`]); `Future<T>` does
//! not know whether it is a task's.
//!
//! # Two reference counts
//!
//! Handles on the loop's thread ([`Local`]: futures, tasks, the loop's task table and
//! current task) count in `local`, a plain cell. Wakers may live on any thread, so they
//! count in `remote`, an atomic, which also holds one unit for all local handles while
//! there are any; so do queued steps ([`RemoteTask`], in the injector or the ready
//! queue), which must not keep the contents (and through them the loop) alive. When `local` drops to zero (on the loop's thread), the node's
//! contents are dropped there (they are `!Send`), and its unit of `remote` is released;
//! when `remote` drops to zero, on whichever thread, the memory is freed. A waker only
//! touches the header's atomics and the loop's injector, which are `Send + Sync`.
//!
//! # Pointers
//!
//! Every handle and waker uses the pointer returned by the allocation (kept in the
//! header as `base`), never one made from a reference: it may write (drop the
//! contents) and it covers the whole node, so a handle typed as the result-future prefix
//! still reaches the task part through the header's table.

use alloc::alloc::{Layout, dealloc};
use alloc::boxed::Box;
use alloc::sync::Arc;
use core::cell::Cell;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ops::Deref;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
use core::task::{RawWaker, RawWakerVTable, Waker};

use super::{TaskControl, TaskCore};
use crate::event_loop::EventLoop;
use crate::future::{AnyFuture, FutureCore};
use crate::wake::{Injected, Shared};

/// Above this many wakers, cloning one panics rather than risk overflowing the count
/// (as `Arc` guards against `mem::forget` loops).
const MAX_REMOTE: usize = isize::MAX as usize;

/// The start of every node.
pub(crate) struct Header {
    /// Handles on the loop's thread.
    local: Cell<usize>,
    /// Wakers, plus one while `local` is not zero.
    remote: AtomicUsize,
    /// A step is queued (in the injector or the ready queue): further wakes coalesce.
    scheduled: AtomicBool,
    /// The task finished, or its contents were dropped: wakes are ignored.
    done: AtomicBool,
    vtable: &'static NodeVTable,
    /// The loop's injector, for tasks (wakers push into it); `None` for plain futures.
    shared: Option<Arc<Shared>>,
    /// The node's own address, as the allocation returned it; set once, by `place`.
    base: NonNull<Header>,
}

/// Views a task node, given its header, as the task.
type AsTask = unsafe fn(NonNull<Header>) -> NonNull<dyn TaskControl>;

/// What depends on a node's concrete type.
struct NodeVTable {
    /// Drop the contents (everything but the header) in place.
    drop_contents: unsafe fn(NonNull<Header>),
    /// Drop the header's injector reference and free the memory.
    dealloc: unsafe fn(NonNull<Header>),
    /// The node as a task, for task nodes.
    task: Option<AsTask>,
    /// The node as a type-erased future.
    any: unsafe fn(NonNull<Header>) -> NonNull<dyn AnyFuture>,
}

impl Header {
    fn new(vtable: &'static NodeVTable, shared: Option<Arc<Shared>>) -> Header {
        Header {
            local: Cell::new(1),
            remote: AtomicUsize::new(1),
            scheduled: AtomicBool::new(false),
            done: AtomicBool::new(false),
            vtable,
            shared,
            base: NonNull::dangling(),
        }
    }

    /// Move `node` to the heap and record its address in its header.
    fn place<N>(node: Box<N>) -> NonNull<Header> {
        // SAFETY: `Box::into_raw` gives a valid, unique pointer to the node, whose header
        // is its first field (`repr(C)` nodes, checked by the callers' types); no
        // reference to the node exists yet, so writing through the pointer is fine.
        unsafe {
            let base = NonNull::new_unchecked(Box::into_raw(node)).cast::<Header>();
            (&raw mut (*base.as_ptr()).base).write(base);
            base
        }
    }

    /// Mark the task scheduled unless it is done or already scheduled; returns whether
    /// the caller must queue a step.
    pub(crate) fn try_schedule(&self) -> bool {
        !self.done.load(Ordering::Acquire) && !self.scheduled.swap(true, Ordering::AcqRel)
    }

    /// A step starts: wakes from now on queue another one.
    pub(crate) fn clear_scheduled(&self) {
        self.scheduled.store(false, Ordering::Release);
    }

    /// The task finished: wakes from now on are ignored.
    pub(crate) fn mark_done(&self) {
        self.done.store(true, Ordering::Release);
    }

    /// Whether the task finished (or the node is being dropped).
    pub(crate) fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Mark the task of `h` (this header) scheduled, unless it is done or already
    /// scheduled, and return the ready-queue entry for its step.
    fn schedule_entry(&self, h: NonNull<Header>) -> Option<RemoteTask> {
        if !self.try_schedule() {
            return None;
        }
        // One scheduled step at a time, so this cannot overflow.
        self.remote.fetch_add(1, Ordering::Relaxed);
        Some(RemoteTask(h))
    }

    fn inc_local(&self) {
        let n = self.local.get();
        assert!(n < usize::MAX, "future reference count overflow");
        self.local.set(n + 1);
    }
}

/// The result future of a node: a plain future's whole node, a task node's prefix.
#[repr(C)]
pub(crate) struct FutureNode<T> {
    header: Header,
    pub(crate) core: FutureCore<T>,
}

/// The node of a plain future (one that is not a task's).
#[repr(transparent)]
pub(crate) struct Plain<T>(pub(crate) FutureNode<T>);

/// The node of a task: its result future, then the task.
#[repr(C)]
pub(crate) struct TaskNode<T, B> {
    pub(crate) future: FutureNode<T>,
    pub(crate) task: TaskCore<B>,
}

/// # Safety
///
/// `h` is the header of a node of type `N`, given by its base pointer.
unsafe fn dealloc_node<N>(h: NonNull<Header>) {
    // SAFETY: per the contract the header is live; nothing else uses it any more (the
    // last reference is gone), so its injector reference is dropped exactly once.
    unsafe { core::ptr::drop_in_place(&raw mut (*h.as_ptr()).shared) };
    // SAFETY: the node was allocated by `Box::new::<N>`, so with `Layout::new::<N>()`.
    unsafe { dealloc(h.as_ptr().cast::<u8>(), Layout::new::<N>()) };
}

/// # Safety
///
/// `h` is the header of a live `Plain<T>` whose contents were not dropped yet.
unsafe fn drop_plain<T>(h: NonNull<Header>) {
    let node = h.cast::<FutureNode<T>>().as_ptr();
    // SAFETY: per the contract; the contents are dropped once, as `local` reached zero.
    unsafe { core::ptr::drop_in_place(&raw mut (*node).core) };
}

/// # Safety
///
/// `h` is the header of a live `TaskNode<T, B>` whose contents were not dropped yet.
unsafe fn drop_task<T, B>(h: NonNull<Header>) {
    let node = h.cast::<TaskNode<T, B>>().as_ptr();
    // SAFETY: per the contract; the contents are dropped once, as `local` reached zero.
    unsafe {
        core::ptr::drop_in_place(&raw mut (*node).future.core);
        core::ptr::drop_in_place(&raw mut (*node).task);
    }
}

/// # Safety
///
/// `h` is the header of a `TaskNode<T, B>`, given by its base pointer.
unsafe fn as_task<T: 'static, B: 'static>(h: NonNull<Header>) -> NonNull<dyn TaskControl>
where
    TaskNode<T, B>: TaskControl,
{
    h.cast::<TaskNode<T, B>>()
}

/// # Safety
///
/// `h` is the header of a `TaskNode<T, B>`, given by its base pointer.
unsafe fn task_as_any<T: 'static, B: 'static>(h: NonNull<Header>) -> NonNull<dyn AnyFuture>
where
    TaskNode<T, B>: AnyFuture,
{
    h.cast::<TaskNode<T, B>>()
}

/// # Safety
///
/// `h` is the header of a `Plain<T>`, given by its base pointer.
unsafe fn plain_as_any<T: 'static>(h: NonNull<Header>) -> NonNull<dyn AnyFuture>
where
    Plain<T>: AnyFuture,
{
    h.cast::<Plain<T>>()
}

impl<T: 'static> Plain<T>
where
    Plain<T>: AnyFuture,
{
    const VTABLE: NodeVTable = NodeVTable {
        drop_contents: drop_plain::<T>,
        dealloc: dealloc_node::<Plain<T>>,
        task: None,
        any: plain_as_any::<T>,
    };

    /// Another handle to this future.
    pub(crate) fn to_local(&self) -> Local<FutureNode<T>> {
        self.0.header.inc_local();
        Local::from_ptr(self.0.header.base.cast())
    }
}

impl<T: 'static, B: 'static> TaskNode<T, B>
where
    TaskNode<T, B>: TaskControl + AnyFuture,
{
    const VTABLE: NodeVTable = NodeVTable {
        drop_contents: drop_task::<T, B>,
        dealloc: dealloc_node::<TaskNode<T, B>>,
        task: Some(as_task::<T, B>),
        any: task_as_any::<T, B>,
    };

    /// Allocate a task node (the caller fills in the body) and return the first handle.
    pub(crate) fn allocate(
        core: FutureCore<T>,
        task: TaskCore<B>,
        shared: Arc<Shared>,
    ) -> Local<TaskNode<T, B>> {
        let node = Box::new(TaskNode {
            future: FutureNode {
                header: Header::new(&Self::VTABLE, Some(shared)),
                core,
            },
            task,
        });
        Local::from_ptr(Header::place(node).cast())
    }

    fn header(&self) -> &Header {
        &self.future.header
    }

    /// Another handle to this task.
    pub(crate) fn task_ref(&self) -> Local<dyn TaskControl> {
        self.header().inc_local();
        Local::from_ptr(self.header().base.cast::<Self>() as NonNull<dyn TaskControl>)
    }

    /// A handle to the task's result future.
    pub(crate) fn future_ref(&self) -> Local<FutureNode<T>> {
        self.header().inc_local();
        Local::from_ptr(self.header().base.cast())
    }

    /// The task's waker, borrowed: it owns no reference (the caller's handle keeps the
    /// node alive while it is used); its clones own one each.
    pub(crate) fn borrowed_waker(&self) -> ManuallyDrop<Waker> {
        let data = self.header().base.cast::<()>().as_ptr().cast_const();
        // SAFETY: `data` is the node's base pointer, as the vtable's functions require. The waker is not
        // dropped (`ManuallyDrop`), matching the reference it does not own.
        ManuallyDrop::new(unsafe { Waker::from_raw(RawWaker::new(data, &WAKER_VTABLE)) })
    }

    /// A step starts: see [`Header::clear_scheduled`].
    pub(crate) fn clear_scheduled(&self) {
        self.header().clear_scheduled();
    }

    /// The task finished: see [`Header::mark_done`].
    pub(crate) fn mark_done(&self) {
        self.header().mark_done();
    }
}

/// A handle on the loop's thread to a node, seen as `U`: the node's own type, its
/// result-future prefix ([`FutureNode`]) or a trait object of the node. Like an `Rc`,
/// cloning counts a reference and the last drop frees the node's contents.
pub(crate) struct Local<U: ?Sized> {
    /// Invariant: is the node's base pointer (its header at this address), typed as a `U`
    /// the node is valid as, and owns one count of the node's `local`.
    ptr: NonNull<U>,
    owns: PhantomData<U>,
}

impl<U: ?Sized> Local<U> {
    /// The caller passes a pointer that satisfies the field's invariant, its `local`
    /// count already counted for this handle.
    fn from_ptr(ptr: NonNull<U>) -> Local<U> {
        Local {
            ptr,
            owns: PhantomData,
        }
    }

    fn raw_header(&self) -> NonNull<Header> {
        self.ptr.cast::<Header>()
    }

    /// The node's header.
    pub(crate) fn header(&self) -> &Header {
        // SAFETY: per the invariant the node is live and starts with its header.
        unsafe { self.raw_header().as_ref() }
    }

    /// Mark the task scheduled, unless it is done or already scheduled, and return the
    /// ready-queue entry for its step.
    pub(crate) fn schedule(&self) -> Option<RemoteTask> {
        self.header().schedule_entry(self.raw_header())
    }

    /// Whether two handles refer to the same node.
    pub(crate) fn ptr_eq<V: ?Sized>(&self, other: &Local<V>) -> bool {
        self.raw_header() == other.raw_header()
    }
}

impl<T: 'static> Local<FutureNode<T>> {
    /// A new plain future.
    pub(crate) fn new_plain(core: FutureCore<T>) -> Local<FutureNode<T>>
    where
        Plain<T>: AnyFuture,
    {
        let node = Box::new(Plain(FutureNode {
            header: Header::new(&Plain::<T>::VTABLE, None),
            core,
        }));
        Local::from_ptr(Header::place(node).cast())
    }

    /// The task whose result this future is, if it is a task's.
    pub(crate) fn as_task(&self) -> Option<&dyn TaskControl> {
        let task = self.header().vtable.task?;
        // SAFETY: the table is the node's own, so `task` is made for its type; the
        // pointer is the base pointer (invariant), and the reference lives no
        // longer than this handle.
        Some(unsafe { task(self.raw_header()).as_ref() })
    }

    /// Whether this future is a task's result.
    pub(crate) fn is_task(&self) -> bool {
        self.header().vtable.task.is_some()
    }

    /// A type-erased handle to this future.
    pub(crate) fn erase(&self) -> Local<dyn AnyFuture> {
        let any = self.header().vtable.any;
        self.header().inc_local();
        // SAFETY: the table is the node's own, and the pointer covers the node.
        Local::from_ptr(unsafe { any(self.raw_header()) })
    }
}

impl<T: 'static, B: 'static> Local<TaskNode<T, B>>
where
    TaskNode<T, B>: TaskControl + AnyFuture,
{
    /// This handle, type-erased to the task.
    pub(crate) fn into_task(self) -> Local<dyn TaskControl> {
        let this = ManuallyDrop::new(self);
        Local::from_ptr(this.ptr as NonNull<dyn TaskControl>)
    }
}

// A handle is a pointer: pinning it does not pin the node (nodes never move anyway).
impl<U: ?Sized> Unpin for Local<U> {}

impl<U: ?Sized> Clone for Local<U> {
    fn clone(&self) -> Self {
        self.header().inc_local();
        Local::from_ptr(self.ptr)
    }
}

impl<U: ?Sized> Deref for Local<U> {
    type Target = U;
    fn deref(&self) -> &U {
        // SAFETY: per the invariant the node is live and valid as a `U`; the reference
        // lives no longer than this handle, which keeps the node alive.
        unsafe { self.ptr.as_ref() }
    }
}

impl<U: ?Sized> Drop for Local<U> {
    fn drop(&mut self) {
        let header = self.header();
        let n = header.local.get() - 1;
        header.local.set(n);
        if n == 0 {
            // SAFETY: this was the last local handle, so nothing on this thread uses the
            // contents any more and no other thread ever does.
            unsafe { release_local(self.raw_header()) };
        }
    }
}

/// The last local handle is gone: drop the contents and release the local unit of
/// `remote`.
///
/// # Safety
///
/// `h` is the header of a live node whose `local` count just reached zero, on the
/// loop's thread, given by its base pointer.
unsafe fn release_local(h: NonNull<Header>) {
    // SAFETY: the node is live (its memory is held by the local unit of `remote`).
    let header = unsafe { h.as_ref() };
    let vtable = header.vtable;
    // Wakes from now on are ignored: nothing may step or re-reference the task.
    header.mark_done();
    // SAFETY: the contents are live and no handle can reach them any more; a destructor
    // that wakes this task sees `done` and does not touch them.
    unsafe { (vtable.drop_contents)(h) };
    // SAFETY: as above, the memory is still held by the local unit.
    let remote = unsafe { &(*h.as_ptr()).remote };
    if remote.fetch_sub(1, Ordering::Release) == 1 {
        fence(Ordering::Acquire);
        // SAFETY: no reference of any kind is left; the contents were dropped above.
        unsafe { (vtable.dealloc)(h) };
    }
}

/// Release one unit of `remote`, freeing the node if it was the last.
///
/// # Safety
///
/// The caller owns one unit of the node's `remote` count and gives it up.
unsafe fn release_remote(h: NonNull<Header>) {
    // SAFETY: the caller's unit keeps the memory alive until the decrement; only atomics
    // and the immutable vtable pointer are read.
    let (remote, vtable) = unsafe { (&(*h.as_ptr()).remote, (*h.as_ptr()).vtable) };
    if remote.fetch_sub(1, Ordering::Release) == 1 {
        fence(Ordering::Acquire);
        // SAFETY: the count reached zero, so the local unit was released too, which
        // happens after the contents were dropped; nothing references the node.
        unsafe { (vtable.dealloc)(h) };
    }
}

/// A scheduled step, in the loop's injector or ready queue: a task pointer owning one
/// unit of `remote`. It keeps the node's memory, not its contents, alive: the contents
/// hold the loop, and the loop holds its ready queue, so a local handle here would make
/// a cycle that outlives a loop dropped with steps still queued.
pub(crate) struct RemoteTask(NonNull<Header>);

// SAFETY: a `RemoteTask` only touches the header's atomics and immutable fields from
// whatever thread holds it; `into_local`, which touches the loop-thread state, proves it
// runs on the task's loop thread.
unsafe impl Send for RemoteTask {}

impl RemoteTask {
    /// A local handle to the task, unless it is done. `lp` must be the task's loop
    /// (checked), which proves this runs on the loop's thread.
    pub(crate) fn into_local(self, lp: &EventLoop) -> Option<Local<dyn TaskControl>> {
        let this = ManuallyDrop::new(self);
        let h = this.0;
        // SAFETY: the unit of `remote` owned by `this` keeps the header alive.
        let header = unsafe { h.as_ref() };
        let ours = header
            .shared
            .as_ref()
            .is_some_and(|s| Arc::ptr_eq(s, lp.shared()));
        assert!(ours, "a task woken into another loop's queue");
        let local = if header.is_done() {
            None
        } else {
            // Not done, so `local` is not zero (it is marked done before reaching zero),
            // and we are on the loop's thread: take a local reference.
            header.inc_local();
            let task = header.vtable.task.expect("only tasks are woken");
            // SAFETY: the table is the node's own; the pointer covers the node (wakers
            // are made from whole-node pointers).
            Some(Local::from_ptr(unsafe { task(h) }))
        };
        // SAFETY: we own one unit (taken from `this`, which is not dropped).
        unsafe { release_remote(h) };
        local
    }
}

impl Drop for RemoteTask {
    fn drop(&mut self) {
        // SAFETY: a `RemoteTask` owns one unit of `remote`.
        unsafe { release_remote(self.0) };
    }
}

/// Schedule the task of `h` from a waker, on any thread.
///
/// # Safety
///
/// `h` is the header of a task node and the caller holds a unit of its `remote` count.
unsafe fn wake_by_ref(h: NonNull<Header>) {
    // SAFETY: per the contract the header is alive; only its atomics and immutable
    // fields are used.
    let (scheduled, done, remote, shared) = unsafe {
        let p = h.as_ptr();
        (&(*p).scheduled, &(*p).done, &(*p).remote, &(*p).shared)
    };
    if done.load(Ordering::Acquire) || scheduled.swap(true, Ordering::AcqRel) {
        return;
    }
    let Some(shared) = shared else { return };
    // One scheduled step at a time, so this cannot overflow.
    remote.fetch_add(1, Ordering::Relaxed);
    shared.inject(Injected::Wake(RemoteTask(h)));
}

static WAKER_VTABLE: RawWakerVTable =
    RawWakerVTable::new(waker_clone, waker_wake, waker_wake_by_ref, waker_drop);

fn header_of(data: *const ()) -> NonNull<Header> {
    // Wakers are only made by `borrowed_waker`, from a non-null node pointer.
    NonNull::new(data.cast::<Header>().cast_mut()).expect("task waker without a task")
}

unsafe fn waker_clone(data: *const ()) -> RawWaker {
    let h = header_of(data);
    // SAFETY: the waker being cloned keeps the node alive; `remote` is an atomic.
    let remote = unsafe { &(*h.as_ptr()).remote };
    if remote.fetch_add(1, Ordering::Relaxed) > MAX_REMOTE {
        remote.fetch_sub(1, Ordering::Relaxed);
        panic!("task waker reference count overflow");
    }
    RawWaker::new(data, &WAKER_VTABLE)
}

unsafe fn waker_wake(data: *const ()) {
    let h = header_of(data);
    // SAFETY: the waker owns a unit of `remote`, given up by `release_remote` after the
    // wake.
    unsafe {
        wake_by_ref(h);
        release_remote(h);
    }
}

unsafe fn waker_wake_by_ref(data: *const ()) {
    // SAFETY: the waker owns a unit of `remote` (or borrows the caller's local handle).
    unsafe { wake_by_ref(header_of(data)) }
}

unsafe fn waker_drop(data: *const ()) {
    // SAFETY: the waker owns a unit of `remote`, given up here.
    unsafe { release_remote(header_of(data)) }
}

/// What [`schedule_waker`] did.
pub(crate) enum LocalWake {
    /// `waker` is not a task waker of this loop: wake it the usual way.
    Foreign,
    /// The task is done or already scheduled: nothing to queue.
    Coalesced,
    /// Queue this step.
    Queue(RemoteTask),
}

/// Schedule the task of `waker` if it is a task of `lp` (then, since `lp` is `!Send`,
/// this runs on the task's loop thread). Lets the loop schedule its own tasks without
/// going through the cross-thread injector.
pub(crate) fn schedule_waker(waker: &Waker, lp: &EventLoop) -> LocalWake {
    if !core::ptr::eq(waker.vtable(), &WAKER_VTABLE) {
        return LocalWake::Foreign;
    }
    let h = header_of(waker.data());
    // SAFETY: a waker with our vtable points to a task header, kept alive by the waker;
    // only atomics and immutable fields are read.
    let header = unsafe { h.as_ref() };
    let ours = header
        .shared
        .as_ref()
        .is_some_and(|s| Arc::ptr_eq(s, lp.shared()));
    if !ours {
        return LocalWake::Foreign;
    }
    match header.schedule_entry(h) {
        Some(entry) => LocalWake::Queue(entry),
        None => LocalWake::Coalesced,
    }
}
