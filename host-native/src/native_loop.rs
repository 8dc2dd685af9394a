//! [`NativeLoop`]: an [`EventLoop`] on a [`NativeHost`], plus what only a native loop
//! has (descriptors, sockets, the executor, name resolution).

use std::fmt;
use std::io;
use std::ops::Deref;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::rc::Rc;

use loop_core::{Error, ErrorKind, EventLoop, Result, Token};

use crate::executor::DefaultExecutor;
use crate::host::NativeHost;
use crate::selector::{Owner, Selector, Trigger};

/// asyncio's event loop on the native OS selector: the entry point of this crate.
///
/// `NativeLoop` dereferences to its [`EventLoop`], so every loop method (`call_soon`,
/// `call_later`, `create_task`, `run_until_complete`, …) is available on it; the methods
/// defined here add what needs the OS: watching descriptors
/// ([`add_reader`](Self::add_reader)), low-level socket operations
/// ([`sock_recv`](Self::sock_recv), …), the executor
/// ([`run_in_executor`](Self::run_in_executor)) and name resolution
/// ([`getaddrinfo`](Self::getaddrinfo)).
///
/// Like `EventLoop`, it is a cheap, clonable handle that stays on its thread (`!Send`).
///
/// ```
/// let lp = host_native::NativeLoop::new()?;
/// let stopper = lp.clone();
/// lp.call_soon(move || stopper.stop())?;
/// lp.run_forever()?;
/// lp.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct NativeLoop {
    pub(crate) inner: Rc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) lp: EventLoop,
    pub(crate) selector: Rc<Selector>,
    pub(crate) executor: DefaultExecutor,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.executor.shutdown_nowait();
    }
}

impl fmt::Debug for NativeLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NativeLoop")
            .field("event_loop", &self.inner.lp)
            .finish_non_exhaustive()
    }
}

impl Deref for NativeLoop {
    type Target = EventLoop;

    fn deref(&self) -> &EventLoop {
        &self.inner.lp
    }
}

impl NativeLoop {
    /// A new loop on a new [`NativeHost`].
    ///
    /// # Errors
    ///
    /// The OS refused to create the selector or its waker.
    pub fn new() -> io::Result<Self> {
        let host = NativeHost::new()?;
        let selector = host.selector();
        Ok(NativeLoop {
            inner: Rc::new(Inner {
                lp: EventLoop::new(host),
                selector,
                executor: DefaultExecutor::default(),
            }),
        })
    }

    /// The loop itself (also reachable through `Deref`).
    pub fn event_loop(&self) -> &EventLoop {
        &self.inner.lp
    }

    /// Close the loop ([`EventLoop::close`]), stop watching every descriptor, and shut
    /// the default executor down without waiting for its jobs (as asyncio's `close`
    /// does; await [`shutdown_default_executor`](Self::shutdown_default_executor) first
    /// to wait for them). Closing twice does nothing.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if the loop is running.
    pub fn close(&self) -> Result<()> {
        self.inner.lp.close()?;
        self.inner.selector.detach_all();
        self.inner.executor.shutdown_nowait();
        Ok(())
    }

    /// Watch `fd` under a new loop [`Token`]: the building block of transports and other
    /// I/O objects that own a descriptor.
    ///
    /// Nothing is asked of the OS yet: attach callbacks with
    /// [`EventLoop::add_reader`] / [`EventLoop::add_writer`] on the returned token, and
    /// they are called as `trigger` says (see the
    /// [crate docs](crate#readiness-and-registration)). The descriptor MUST stay open
    /// until [`deregister_fd`](Self::deregister_fd) is called.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] if `fd` is already watched (by `add_reader`,
    /// `add_writer` or another registration); [`ErrorKind::Runtime`] if the loop is
    /// closed.
    pub fn register_fd(&self, fd: BorrowedFd<'_>, trigger: Trigger) -> Result<Token> {
        if self.is_closed() {
            return Err(Error::new(ErrorKind::Runtime, "event loop is closed"));
        }
        let token = self.inner.lp.register_io();
        if let Err(e) = self
            .inner
            .selector
            .attach(token, fd.as_raw_fd(), trigger, Owner::Source)
        {
            let _ = self.inner.lp.deregister_io(token);
            return Err(Error::with_source(ErrorKind::InvalidInput, e));
        }
        Ok(token)
    }

    /// Stop watching a descriptor registered with [`register_fd`](Self::register_fd):
    /// its callbacks are dropped and the OS selector forgets it. Unknown tokens are
    /// ignored.
    ///
    /// # Errors
    ///
    /// None in practice: removing a descriptor from the OS selector cannot fail (one
    /// closed early is already gone); the `Result` is the loop's
    /// [`deregister_io`](EventLoop::deregister_io).
    pub fn deregister_fd(&self, token: Token) -> Result<()> {
        let result = self.inner.lp.deregister_io(token);
        self.inner.selector.detach(token);
        result
    }

    /// Report `token`'s current readiness again in the next iteration: for
    /// [`Trigger::Edge`] owners that stop reading or writing before `WouldBlock` (a read
    /// budget, a paused protocol). Costs one `epoll_ctl` before the next poll.
    pub fn rearm(&self, token: Token) {
        self.inner.selector.queue_rearm(token);
    }

    pub(crate) fn selector(&self) -> &Selector {
        &self.inner.selector
    }
}
