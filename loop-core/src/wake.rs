//! Cross-thread plumbing: the injector queue that task wakers and
//! `call_soon_threadsafe` push into.
//!
//! A waker must be `Send + Sync`, but the loop's state is single-threaded, so a waker
//! (see `task/raw.rs`) only touches its task's atomic header and pushes the task into the
//! injector. The loop moves injected entries to the ready queue before each `call_soon`
//! and after each callback, which keeps the order of same-thread wake-ups identical to
//! asyncio's (a task woken by a callback runs before anything that callback schedules
//! afterwards). The loop's own futures wake tasks of their loop directly (see
//! `EventLoop::wake`), which gives the same order without the cross-thread queue.

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, Ordering};

use crossbeam_queue::SegQueue;

use crate::host::Notify;
use crate::task::raw::RemoteTask;

/// Something pushed into the loop from a waker or another thread.
pub(crate) enum Injected {
    /// A task to step.
    Wake(RemoteTask),
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
