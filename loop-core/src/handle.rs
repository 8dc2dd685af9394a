//! [`Handle`] and [`TimerHandle`]: cancellable references to scheduled callbacks.

use alloc::rc::{Rc, Weak};
use core::cell::Cell;
use core::fmt;

use crate::event_loop::LoopInner;
use crate::time::Instant;

const CANCELLED: u8 = 1;
/// A timer's entry is still in the loop's timer heap.
const IN_HEAP: u8 = 2;

/// The type-erased callback behind a [`Handle`].
pub(crate) trait Callback {
    fn call(&self);
    /// Drop the closure early (after a cancel), when the callback kind allows it.
    fn release(&self);
    fn name(&self) -> &'static str;
}

/// A callback with its state flags. The flags sit outside the trait object, so checking
/// for cancellation (done for every callback the loop runs) is a plain load, not a
/// virtual call.
pub(crate) struct Node<C: ?Sized> {
    flags: Cell<u8>,
    callback: C,
}

struct Once<F> {
    f: Cell<Option<F>>,
}

impl<F: FnOnce()> Callback for Once<F> {
    fn call(&self) {
        if let Some(f) = self.f.take() {
            f();
        }
    }
    fn release(&self) {
        drop(self.f.take());
    }
    fn name(&self) -> &'static str {
        core::any::type_name::<F>()
    }
}

struct Repeat<F> {
    f: F,
}

impl<F: Fn()> Callback for Repeat<F> {
    fn call(&self) {
        (self.f)();
    }
    fn release(&self) {}
    fn name(&self) -> &'static str {
        core::any::type_name::<F>()
    }
}

/// A callback scheduled with [`call_soon`](crate::EventLoop::call_soon) or registered
/// with [`add_reader`](crate::EventLoop::add_reader): cancel it before it runs.
///
/// Cloning gives another reference to the same callback.
#[derive(Clone)]
pub struct Handle(pub(crate) Rc<Node<dyn Callback>>);

impl Handle {
    pub(crate) fn once<F: FnOnce() + 'static>(f: F) -> Handle {
        Handle(Rc::new(Node {
            flags: Cell::new(0),
            callback: Once {
                f: Cell::new(Some(f)),
            },
        }))
    }

    pub(crate) fn repeat<F: Fn() + 'static>(f: F) -> Handle {
        Handle(Rc::new(Node {
            flags: Cell::new(0),
            callback: Repeat { f },
        }))
    }

    /// Cancel the callback: it will not run. Cancelling twice, or after it ran, does
    /// nothing.
    pub fn cancel(&self) {
        self.cancel_inner();
    }

    /// Returns whether this call cancelled it (it was not cancelled before).
    fn cancel_inner(&self) -> bool {
        let flags = &self.0.flags;
        if flags.get() & CANCELLED != 0 {
            return false;
        }
        flags.set(flags.get() | CANCELLED);
        self.0.callback.release();
        true
    }

    /// Whether the callback was cancelled.
    pub fn cancelled(&self) -> bool {
        self.0.flags.get() & CANCELLED != 0
    }

    /// The callback's type name (a closure's is its defining function plus `{{closure}}`),
    /// used in debug-mode reports.
    pub fn name(&self) -> &'static str {
        self.0.callback.name()
    }

    /// Run the callback unless it was cancelled.
    pub(crate) fn run(&self) {
        if !self.cancelled() {
            self.0.callback.call();
        }
    }

    pub(crate) fn set_in_heap(&self, in_heap: bool) {
        let flags = &self.0.flags;
        if in_heap {
            flags.set(flags.get() | IN_HEAP);
        } else {
            flags.set(flags.get() & !IN_HEAP);
        }
    }

    fn in_heap(&self) -> bool {
        self.0.flags.get() & IN_HEAP != 0
    }

    /// Whether two handles refer to the same callback.
    pub fn ptr_eq(&self, other: &Handle) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
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
