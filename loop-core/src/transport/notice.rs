//! Protocol notifications that may have to wait: a transport call made from inside a
//! protocol callback (a `write` from `data_received` that crosses the high-water mark)
//! cannot call the protocol again while it is borrowed, so the notification is queued and
//! delivered right after the running callback returns — never dropped, never reordered.

use alloc::collections::VecDeque;
use core::cell::{Cell, RefCell};

use crate::error::Error;

/// A notification for the protocol that is not the direct result of I/O.
#[derive(Debug)]
pub(crate) enum Notice {
    PauseWriting,
    ResumeWriting,
    /// Datagram endpoints only.
    ErrorReceived(Error),
}

/// The queue plus the re-entrancy state of one transport.
#[derive(Debug, Default)]
pub(crate) struct Notices {
    queue: RefCell<VecDeque<Notice>>,
    /// A protocol callback of this transport is running.
    dispatching: Cell<bool>,
    /// A `call_soon` that flushes the queue is pending.
    flush_scheduled: Cell<bool>,
}

impl Notices {
    #[inline]
    pub(crate) fn dispatching(&self) -> bool {
        self.dispatching.get()
    }

    /// Mark the start of a protocol callback; returns the previous state, to restore.
    #[inline]
    pub(crate) fn enter(&self) -> bool {
        self.dispatching.replace(true)
    }

    #[inline]
    pub(crate) fn leave(&self, previous: bool) {
        self.dispatching.set(previous);
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.queue.borrow().is_empty()
    }

    pub(crate) fn push(&self, n: Notice) {
        self.queue.borrow_mut().push_back(n);
    }

    pub(crate) fn pop(&self) -> Option<Notice> {
        self.queue.borrow_mut().pop_front()
    }

    /// Put back a notice that could not be delivered, keeping the order.
    pub(crate) fn unpop(&self, n: Notice) {
        self.queue.borrow_mut().push_front(n);
    }

    pub(crate) fn clear(&self) {
        self.queue.borrow_mut().clear();
    }

    /// Returns `true` if the caller must schedule a flush (none is pending).
    pub(crate) fn claim_flush(&self) -> bool {
        !self.flush_scheduled.replace(true)
    }

    pub(crate) fn flush_ran(&self) {
        self.flush_scheduled.set(false);
    }
}
