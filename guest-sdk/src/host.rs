//! [`GuestHost`]: the loop's host boundary over WASI 0.2 — the monotonic clock, one
//! `wasi:io/poll` call per iteration, and an in-thread wake-up.

use alloc::rc::Rc;
use alloc::sync::Arc;
use core::cell::RefCell;
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;

use loop_core::{Events, Host, Instant, Interest, Notify, Result, Token};
use wasip2::clocks::monotonic_clock;

use crate::reactor::Reactor;

/// The host of a loop running inside a `wasm32-wasip2` guest.
///
/// - [`now`](Host::now) reads `wasi:clocks/monotonic-clock`;
/// - [`poll`](Host::poll) waits with `wasi:io/poll.poll` over the pollables of the sockets
///   the loop waits on (created once per socket and reused; only those with interest are
///   passed) and a monotonic-clock pollable for the timeout; a zero timeout polls with an
///   already-expired clock pollable, so readiness is still reported without blocking.
///   The cost of a WASI poll grows with the pollables passed, so while a few connections
///   keep the guest busy, a poll first passes only those (without blocking); only when
///   none of them is ready — and at least every few milliseconds, so idle connections are
///   never starved — does it pass every socket (see the `schedule` module). With nothing
///   to watch and no timeout it fails with
///   [`ErrorKind::Stalled`](loop_core::ErrorKind::Stalled) instead of blocking forever;
/// - the [notifier](Host::notifier) is an in-thread flag: a WASI 0.2 guest has a single
///   thread, so the only notifications come from the loop's own thread (a task woken by a
///   callback, `call_soon_threadsafe` called in a callback) and they arrive between
///   polls; the flag makes the next poll return without blocking.
///
/// Cloning gives another handle to the same host: keep one to build a
/// [`GuestNet`](crate::GuestNet) after handing the host to the loop.
///
/// ```no_run
/// use guest_sdk::{GuestHost, GuestNet};
/// use loop_core::EventLoop;
///
/// let host = GuestHost::new();
/// let lp = EventLoop::new(host.clone());
/// let net = GuestNet::new(&lp, &host);
/// # let _ = net;
/// ```
#[derive(Clone)]
pub struct GuestHost {
    pub(crate) reactor: Rc<RefCell<Reactor>>,
    notify: Arc<GuestNotify>,
}

impl fmt::Debug for GuestHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reactor = self.reactor.try_borrow();
        f.debug_struct("GuestHost")
            .field("lingering", &reactor.map(|r| r.lingering()).ok())
            .finish_non_exhaustive()
    }
}

impl Default for GuestHost {
    fn default() -> Self {
        GuestHost::new()
    }
}

impl GuestHost {
    /// A host with no sockets yet.
    pub fn new() -> Self {
        GuestHost {
            reactor: Rc::new(RefCell::new(Reactor::new())),
            notify: Arc::new(GuestNotify {
                pending: AtomicBool::new(false),
            }),
        }
    }

    /// Closed sockets whose last bytes the runtime is still sending (they are released
    /// once sent; see [`run`](crate::run)).
    pub fn lingering_closes(&self) -> usize {
        self.reactor.borrow().lingering()
    }

    /// Wait, at most `limit`, until the runtime has sent the last bytes of the sockets
    /// closed so far; sockets still sending after that are abandoned to the runtime.
    /// [`run`](crate::run) calls it when `main` returns.
    pub fn finish_lingering_closes(&self, limit: Duration) {
        self.reactor.borrow_mut().finish_lingering(limit);
    }
}

impl Host for GuestHost {
    fn now(&self) -> Instant {
        Instant::from_nanos(monotonic_clock::now())
    }

    fn poll(&mut self, events: &mut Events, timeout: Option<Duration>) -> Result<()> {
        let timeout = if self.notify.pending.swap(false, Ordering::AcqRel) {
            Some(Duration::ZERO)
        } else {
            timeout
        };
        self.reactor.borrow_mut().poll(events, timeout)
    }

    fn notifier(&self) -> Arc<dyn Notify> {
        self.notify.clone()
    }

    fn set_interest(&mut self, token: Token, interest: Interest) -> Result<()> {
        self.reactor.borrow_mut().set_interest(token, interest);
        Ok(())
    }

    fn clock_resolution(&self) -> Duration {
        Duration::from_nanos(monotonic_clock::resolution().max(1))
    }
}

/// The guest's wake-up: a flag the next poll consumes (see [`GuestHost`]).
struct GuestNotify {
    pending: AtomicBool,
}

impl Notify for GuestNotify {
    fn notify(&self) {
        self.pending.store(true, Ordering::Release);
    }
}
