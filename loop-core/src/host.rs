//! The host boundary: the four things a host supplies to the loop.
//!
//! 1. [`Host::now`], its monotonic clock;
//! 2. [`Host::poll`], which blocks until I/O is ready, a wake-up arrives or the timeout
//!    passes, and reports which registrations became readable or writable;
//! 3. [`Host::notifier`], a thread-safe wake-up that interrupts a blocked `poll`, used by
//!    [`EventLoop::call_soon_threadsafe`](crate::EventLoop::call_soon_threadsafe) and by
//!    task wakers fired from other threads;
//! 4. its own I/O objects (sockets, pipes, …), built on the loop's reader/writer
//!    registrations: the host's object asks the loop for a [`Token`]
//!    ([`EventLoop::register_io`](crate::EventLoop::register_io)), tells its OS selector
//!    about the object under that token, and reports readiness for it from `poll`. The loop
//!    keeps the token → callback table ([`EventLoop::add_reader`](crate::EventLoop::add_reader))
//!    and tells the host through [`Host::set_interest`] which directions anybody waits for.
//!
//! The core never names a socket, a file descriptor or a syscall.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use crate::error::Result;
use crate::time::Instant;

/// Identifies one I/O registration. Allocated by the loop; hosts pass it back in
/// [`Event`]s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token(pub usize);

/// Which directions a registration waits for.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Interest(u8);

impl Interest {
    /// Nothing: the host may stop watching the object.
    pub const NONE: Interest = Interest(0);
    /// Readable.
    pub const READABLE: Interest = Interest(1);
    /// Writable.
    pub const WRITABLE: Interest = Interest(2);
    /// Both directions.
    pub const BOTH: Interest = Interest(3);

    /// Whether read readiness is wanted.
    pub const fn is_readable(self) -> bool {
        self.0 & 1 != 0
    }

    /// Whether write readiness is wanted.
    pub const fn is_writable(self) -> bool {
        self.0 & 2 != 0
    }

    /// Whether neither direction is wanted.
    pub const fn is_none(self) -> bool {
        self.0 == 0
    }

    /// The union of two interests.
    #[must_use]
    pub const fn add(self, other: Interest) -> Interest {
        Interest(self.0 | other.0)
    }

    /// `self` without `other`.
    #[must_use]
    pub const fn remove(self, other: Interest) -> Interest {
        Interest(self.0 & !other.0)
    }
}

impl fmt::Debug for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.is_readable(), self.is_writable()) {
            (false, false) => f.write_str("NONE"),
            (true, false) => f.write_str("READABLE"),
            (false, true) => f.write_str("WRITABLE"),
            (true, true) => f.write_str("READABLE | WRITABLE"),
        }
    }
}

/// One readiness report from [`Host::poll`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// The registration that became ready.
    pub token: Token,
    /// The directions that became ready. Errors and hang-ups are reported as both
    /// readable and writable, so the callbacks find them when they try the operation.
    pub ready: Interest,
}

/// The buffer [`Host::poll`] fills. Cleared by the loop before each poll.
pub type Events = Vec<Event>;

/// A thread-safe wake-up for a blocked [`Host::poll`].
pub trait Notify: Send + Sync + 'static {
    /// Make the current `poll` return as soon as possible, or, if none is running, the
    /// next one return at once.
    ///
    /// MUST NOT block, MUST be callable from any thread, and SHOULD coalesce: several
    /// notifications before a poll may cause a single early return.
    fn notify(&self);
}

/// What a host supplies to the loop. See the [module docs](self) for the whole boundary.
///
/// A host is owned by one [`EventLoop`](crate::EventLoop) and only called from the loop's
/// thread.
pub trait Host {
    /// The host's monotonic clock.
    ///
    /// MUST be monotonic (never goes backwards), MUST NOT fail or panic.
    fn now(&self) -> Instant;

    /// Block until a registration with interest is ready, a [`Notify::notify`] arrives,
    /// or `timeout` passes (`None`: no timeout; `Some(ZERO)`: don't block), then append
    /// the readiness of the registrations to `events`.
    ///
    /// MAY return early with no events (spurious wake-ups are allowed). MUST return when
    /// a notification arrives, including one sent before the call. Readiness reported for
    /// a token the loop no longer knows is ignored.
    ///
    /// # Errors
    ///
    /// A failure of the host's selector; the loop stops and returns the error from
    /// `run_forever` / `run_until_complete`.
    fn poll(&mut self, events: &mut Events, timeout: Option<Duration>) -> Result<()>;

    /// A handle that wakes this host's `poll` from any thread.
    fn notifier(&self) -> Arc<dyn Notify>;

    /// The loop's reader/writer callbacks for `token` changed; `interest` is what is
    /// wanted now ([`Interest::NONE`] when nothing is). Hosts that re-arm readiness on
    /// demand (oneshot selectors, WASI pollables) use it to watch only what somebody
    /// waits for; edge-triggered hosts MAY ignore it.
    ///
    /// # Errors
    ///
    /// The host could not change what it watches; the error is returned from the
    /// `add_reader` / `add_writer` / `remove_*` call that caused it.
    fn set_interest(&mut self, token: Token, interest: Interest) -> Result<()> {
        let _ = (token, interest);
        Ok(())
    }

    /// The smallest interval the clock can tell apart (asyncio's
    /// `loop._clock_resolution`): timers due within it are run in the same iteration.
    fn clock_resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }
}
