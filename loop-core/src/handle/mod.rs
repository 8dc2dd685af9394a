//! [`Handle`] and [`TimerHandle`]: cancellable references to scheduled callbacks.

use alloc::rc::Weak;
use alloc::vec::Vec;
use core::fmt;

use crate::event_loop::LoopInner;
use crate::time::Instant;

mod node;

use node::NodeRef;

const CANCELLED: u8 = 1;
/// A timer's entry is still in the loop's timer heap.
const IN_HEAP: u8 = 2;

/// A callback scheduled with [`call_soon`](crate::EventLoop::call_soon) or registered
/// with [`add_reader`](crate::EventLoop::add_reader): cancel it before it runs.
///
/// Cloning gives another reference to the same callback.
#[derive(Clone)]
pub struct Handle(NodeRef);

impl Handle {
    pub(crate) fn once<F: FnOnce() + 'static>(f: F) -> Handle {
        Handle(NodeRef::once(f))
    }

    pub(crate) fn repeat<F: Fn() + 'static>(f: F) -> Handle {
        Handle(NodeRef::repeat(f))
    }

    /// Cancel the callback: it will not run. Cancelling twice, or after it ran, does
    /// nothing.
    pub fn cancel(&self) {
        self.cancel_inner();
    }

    /// Returns whether this call cancelled it (it was not cancelled before).
    fn cancel_inner(&self) -> bool {
        let flags = self.0.flags();
        if flags & CANCELLED != 0 {
            return false;
        }
        self.0.set_flags(flags | CANCELLED);
        self.0.release();
        true
    }

    /// Whether the callback was cancelled.
    pub fn cancelled(&self) -> bool {
        self.0.flags() & CANCELLED != 0
    }

    /// The callback's type name (a closure's is its defining function plus `{{closure}}`),
    /// used in debug-mode reports.
    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// Run the callback unless it was cancelled.
    pub(crate) fn run(&self) {
        if !self.cancelled() {
            self.0.call();
        }
    }

    pub(crate) fn set_in_heap(&self, in_heap: bool) {
        let flags = self.0.flags();
        if in_heap {
            self.0.set_flags(flags | IN_HEAP);
        } else {
            self.0.set_flags(flags & !IN_HEAP);
        }
    }

    fn in_heap(&self) -> bool {
        self.0.flags() & IN_HEAP != 0
    }

    /// Whether two handles refer to the same callback.
    pub fn ptr_eq(&self, other: &Handle) -> bool {
        self.0.ptr_eq(&other.0)
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("callback", &self.name())
            .field("cancelled", &self.cancelled())
            .finish()
    }
}

/// Spent nodes kept for reuse, at most.
const POOL_SIZE: usize = 256;

/// Spent one-shot callback nodes, for reuse: most callbacks are scheduled, run once and
/// dropped, so reusing their nodes spares an allocation and a free for each. A node is
/// only taken back when the loop holds its last reference (no [`Handle`] to it is
/// left), so reuse is never observable.
#[derive(Default)]
pub(crate) struct HandlePool {
    free: Vec<NodeRef>,
}

impl HandlePool {
    /// A handle for `f`, on a spent node if one is free.
    pub(crate) fn once<F: FnOnce() + 'static>(&mut self, f: F) -> Handle {
        let f = match self.free.pop() {
            Some(mut node) => match node.refill_once(f) {
                Ok(()) => return Handle(node),
                Err(f) => f,
            },
            None => f,
        };
        Handle::once(f)
    }

    /// Keep `h`'s node for reuse if nobody else holds it and its closure is spent (ran,
    /// or dropped by a cancel); otherwise give it back, for the caller to drop once the
    /// pool is released (the drop may run a closure's destructor, which may schedule
    /// callbacks).
    pub(crate) fn recycle(&mut self, h: Handle) -> Option<Handle> {
        let node = h.0;
        if node.is_unique() && !node.is_live() && self.free.len() < POOL_SIZE {
            self.free.push(node);
            None
        } else {
            Some(Handle(node))
        }
    }
}

/// A callback scheduled with [`call_later`](crate::EventLoop::call_later) or
/// [`call_at`](crate::EventLoop::call_at).
///
/// Cancelling is O(1): the entry stays in the timer heap until it reaches the top or the
/// loop compacts the heap, which it does when cancelled entries are more than half of it.
#[derive(Clone)]
pub struct TimerHandle {
    handle: Handle,
    when: Instant,
    lp: Weak<LoopInner>,
}

impl TimerHandle {
    pub(crate) fn new(handle: Handle, when: Instant, lp: Weak<LoopInner>) -> Self {
        TimerHandle { handle, when, lp }
    }

    /// Cancel the timer. Cancelling twice, or after it fired, does nothing.
    pub fn cancel(&self) {
        if self.handle.cancel_inner()
            && self.handle.in_heap()
            && let Some(lp) = self.lp.upgrade()
        {
            lp.timer_cancelled();
        }
    }

    /// Whether the timer was cancelled.
    pub fn cancelled(&self) -> bool {
        self.handle.cancelled()
    }

    /// When the timer is due, on the loop's clock.
    pub fn when(&self) -> Instant {
        self.when
    }
}

impl fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerHandle")
            .field("callback", &self.handle.name())
            .field("when", &self.when)
            .field("cancelled", &self.cancelled())
            .finish()
    }
}
