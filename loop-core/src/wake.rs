//! Cross-thread plumbing: the injector queue that task wakers and
//! `call_soon_threadsafe` push into, and the task waker itself.
//!
//! A waker must be `Send + Sync`, but the loop's state is single-threaded, so a waker
//! only holds the task's [`TaskHeader`] (an `Arc`) and pushes it into the injector. The
//! loop moves injected entries to the ready queue before each `call_soon` and after each
//! callback, which keeps the order of same-thread wake-ups identical to asyncio's (a
//! task woken by a callback runs before anything that callback schedules afterwards).

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::task::Wake;
use core::sync::atomic::{AtomicBool, Ordering};

use crossbeam_queue::SegQueue;

use crate::host::Notify;

/// Something pushed into the loop from a waker or another thread.
pub(crate) enum Injected {
    /// A task to step.
    Wake(Arc<TaskHeader>),
    /// A `call_soon_threadsafe` callback and its cancellation flag.
    Call(Box<dyn FnOnce() + Send>, Arc<AtomicBool>),
}

/// State shared between the loop thread and wakers on any thread.
pub(crate) struct Shared {
    pub(crate) queue: SegQueue<Injected>,
    /// The loop is (about to be) blocked in `poll`: pushers must notify the host.
    pub(crate) polling: AtomicBool,
    pub(crate) notifier: Arc<dyn Notify>,
}

impl Shared {
    pub(crate) fn new(notifier: Arc<dyn Notify>) -> Self {
        Shared {
            queue: SegQueue::new(),
            polling: AtomicBool::new(false),
            notifier,
        }
    }

    pub(crate) fn inject(&self, item: Injected) {
        self.queue.push(item);
        // Pairs with the SeqCst store of `polling` before the loop re-checks the queue:
        // either the loop sees our item, or we see `polling` and wake it.
        if self.polling.load(Ordering::SeqCst) {
            self.notifier.notify();
        }
    }
}

/// The part of a task that wakers hold.
pub(crate) struct TaskHeader {
    /// Key of the task in the loop's task table.
    pub(crate) key: usize,
    /// Already in the injector or the ready queue; further wakes coalesce.
    pub(crate) scheduled: AtomicBool,
    /// The task finished; stale wakes are ignored.
    pub(crate) done: AtomicBool,
    pub(crate) shared: Arc<Shared>,
}

impl TaskHeader {
    pub(crate) fn schedule(self: &Arc<Self>) {
        if self.done.load(Ordering::Acquire) {
            return;
        }
        if !self.scheduled.swap(true, Ordering::AcqRel) {
            self.shared.inject(Injected::Wake(self.clone()));
        }
    }
}

impl Wake for TaskHeader {
    fn wake(self: Arc<Self>) {
        self.schedule();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.schedule();
    }
}
