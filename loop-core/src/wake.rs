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
    /// Set after every push: the loop checks this one flag, far more often than anything
    /// is injected, instead of the queue's two indices.
    injected: AtomicBool,
    /// The loop is (about to be) blocked in `poll`: pushers must notify the host.
    pub(crate) polling: AtomicBool,
    pub(crate) notifier: Arc<dyn Notify>,
}

impl Shared {
    /// Whether something may have been injected since the last
    /// [`take_injected`](Self::take_injected) (a cheap check for the loop's hot path).
    #[inline]
    pub(crate) fn may_have_injected(&self) -> bool {
        self.injected.load(Ordering::Acquire)
    }

    /// Clear the flag before draining the queue: a push that races with the drain
    /// either lands in it or sets the flag again for the next one.
    pub(crate) fn take_injected(&self) -> bool {
        self.injected.swap(false, Ordering::Acquire)
    }

    pub(crate) fn new(notifier: Arc<dyn Notify>) -> Self {
        Shared {
            queue: SegQueue::new(),
            injected: AtomicBool::new(false),
            polling: AtomicBool::new(false),
            notifier,
        }
    }

    pub(crate) fn inject(&self, item: Injected) {
        self.queue.push(item);
        // After the push: a loop that sees the flag sees the item.
        self.injected.store(true, Ordering::Release);
        // Pairs with the SeqCst store of `polling` before the loop re-checks the queue:
        // either the loop sees our item, or we see `polling` and wake it.
        if self.polling.load(Ordering::SeqCst) {
            self.notifier.notify();
        }
    }
}
