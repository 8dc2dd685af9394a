//! [`NativeHost`]: the [`Host`] boundary on mio.

use std::fmt;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use loop_core::{Error, ErrorKind, Events, Host, Instant, Interest, Notify, Token};

use crate::clock::{Clock, round_up_to_millis};
use crate::selector::Selector;

/// Capacity of the mio event buffer: events beyond it are returned by the next poll.
const EVENT_CAPACITY: usize = 1024;

/// The loop's host on the native OS selector (epoll on Linux, kqueue on the BSDs and
/// macOS), through mio.
///
/// Most programs never name it: [`NativeLoop::new`](crate::NativeLoop::new) builds one
/// together with its loop. Use it directly to run an [`EventLoop`](loop_core::EventLoop)
/// that needs no descriptors of its own (`EventLoop::new(NativeHost::new()?)`).
///
/// # Implementation notes
///
/// - **Clock**: [`std::time::Instant`] (`CLOCK_MONOTONIC`), in nanoseconds since the
///   host was created.
/// - **Timeouts** are rounded *up* to whole milliseconds, the resolution of
///   `epoll_wait`, so a timer is never run early and a sub-millisecond timeout never
///   turns into a busy poll. `EINTR` is retried with the time that is left.
/// - **Notify** is a [`mio::Waker`] (an `eventfd` on Linux) under a reserved token.
///   Notifications coalesce: between two polls only the first one writes to the
///   `eventfd`.
/// - **Readiness**: see the [crate docs](crate#readiness-and-registration).
pub struct NativeHost {
    selector: Rc<Selector>,
    mio_events: mio::Events,
    notify: Arc<NativeNotify>,
    clock: Clock,
}

impl fmt::Debug for NativeHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NativeHost")
            .field("now", &self.clock.now())
            .finish_non_exhaustive()
    }
}

/// Wraps an OS error as the loop's [`ErrorKind::Host`] error (the `io::Error` stays
/// reachable through [`Error::downcast_ref`]).
pub(crate) fn host_error(e: io::Error) -> Error {
    Error::with_source(ErrorKind::Host, e)
}

impl NativeHost {
    /// A host with a new OS selector and waker; its clock starts at zero.
    ///
    /// # Errors
    ///
    /// The OS refused to create the selector or the waker (out of descriptors, …).
    pub fn new() -> io::Result<Self> {
        let selector = Rc::new(Selector::new()?);
        let notify = Arc::new(NativeNotify {
            waker: selector.waker()?,
            pending: AtomicBool::new(false),
        });
        Ok(NativeHost {
            selector,
            mio_events: mio::Events::with_capacity(EVENT_CAPACITY),
            notify,
            clock: Clock::new(),
        })
    }

    pub(crate) fn selector(&self) -> Rc<Selector> {
        self.selector.clone()
    }

    /// Poll once, retrying `EINTR` with the time left.
    fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let deadline = timeout.map(|t| self.clock.now() + t);
        let mut timeout = timeout;
        loop {
            match self
                .selector
                .poll(&mut self.mio_events, timeout.map(round_up_to_millis))
            {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    if let Some(deadline) = deadline {
                        let left = deadline.saturating_duration_since(self.clock.now());
                        if left.is_zero() {
                            self.mio_events.clear();
                            return Ok(());
                        }
                        timeout = Some(left);
                    }
                }
                other => return other,
            }
        }
    }
}

impl Host for NativeHost {
    fn now(&self) -> Instant {
        self.clock.now()
    }

    fn poll(&mut self, events: &mut Events, timeout: Option<Duration>) -> loop_core::Result<()> {
        self.wait(timeout).map_err(host_error)?;
        // After the wait: a notify from now on must write to the eventfd again.
        self.notify.pending.store(false, Ordering::SeqCst);
        self.selector.translate(&self.mio_events, events);
        Ok(())
    }

    fn notifier(&self) -> Arc<dyn Notify> {
        self.notify.clone()
    }

    fn set_interest(&mut self, token: Token, interest: Interest) -> loop_core::Result<()> {
        self.selector
            .set_interest(token, interest)
            .map_err(host_error)
    }
}

/// The host's [`Notify`]: a mio waker behind a "wake-up pending" flag.
///
/// The flag makes notifications coalesce: it is set by the first `notify` after a poll
/// (which then writes to the waker) and cleared by the host when its poll returns. A
/// notify that finds it set skips the write: the one that set it has written, or is
/// about to, and the poll it wakes is not over yet, because the host clears the flag
/// only after its wait returned.
struct NativeNotify {
    waker: mio::Waker,
    pending: AtomicBool,
}

impl Notify for NativeNotify {
    fn notify(&self) {
        if !self.pending.swap(true, Ordering::SeqCst) {
            // The waker owns its eventfd, so a write can fail only on a kernel error;
            // there is no caller to report it to (`notify` MUST NOT fail).
            let _ = self.waker.wake();
        }
    }
}
