//! Watching descriptors: asyncio's `add_reader` / `remove_reader` / `add_writer` /
//! `remove_writer` on raw descriptors, level-triggered, and the readiness waits the
//! `sock_*` operations are built on.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use loop_core::{Error, ErrorKind, Handle, Result, Token};

use crate::NativeLoop;
use crate::selector::{Owner, Trigger};

/// Which callback of a descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

impl NativeLoop {
    /// Call `callback` whenever `fd` is readable (asyncio's `add_reader`), replacing the
    /// descriptor's previous reader if any.
    ///
    /// Level-triggered, as in asyncio: while `fd` stays readable, `callback` is called
    /// once in every iteration, so a callback that reads only part of the data is called
    /// again for the rest. `fd` MUST stay open until the reader is removed.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] for a negative `fd`; [`ErrorKind::Runtime`] if the
    /// loop is closed or `fd` belongs to a transport ([`register_fd`](Self::register_fd));
    /// [`ErrorKind::Host`] if the OS refuses to watch it (a regular file under epoll:
    /// `EPERM`), with the `io::Error` as source. Nothing stays registered after an error.
    pub fn add_reader(&self, fd: RawFd, callback: impl Fn() + 'static) -> Result<Handle> {
        self.watch(fd, Direction::Read, callback)
    }

    /// Stop watching `fd` for reading (asyncio's `remove_reader`); returns whether a
    /// reader was registered.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if `fd` belongs to a transport; [`ErrorKind::Host`] if the
    /// OS failed to stop watching it for reading while a writer remains.
    pub fn remove_reader(&self, fd: RawFd) -> Result<bool> {
        self.unwatch(fd, Direction::Read)
    }

    /// Call `callback` whenever `fd` is writable (asyncio's `add_writer`), replacing the
    /// descriptor's previous writer if any. Level-triggered like
    /// [`add_reader`](Self::add_reader).
    ///
    /// # Errors
    ///
    /// As [`add_reader`](Self::add_reader).
    pub fn add_writer(&self, fd: RawFd, callback: impl Fn() + 'static) -> Result<Handle> {
        self.watch(fd, Direction::Write, callback)
    }

    /// Stop watching `fd` for writing (asyncio's `remove_writer`); returns whether a
    /// writer was registered.
    ///
    /// # Errors
    ///
    /// As [`remove_reader`](Self::remove_reader).
    pub fn remove_writer(&self, fd: RawFd) -> Result<bool> {
        self.unwatch(fd, Direction::Write)
    }

    /// The token `fd` is watched under, attaching it (level-triggered) if needed.
    fn watcher_token(&self, fd: RawFd) -> Result<Token> {
        if fd < 0 {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("invalid file descriptor: {fd}"),
            ));
        }
        match self.selector().lookup(fd) {
            Some((token, Owner::Watcher)) => Ok(token),
            Some((_, Owner::Source)) => Err(used_by_transport(fd)),
            None => {
                let token = self.event_loop().register_io();
                if let Err(e) = self
                    .selector()
                    .attach(token, fd, Trigger::Level, Owner::Watcher)
                {
                    let _ = self.event_loop().deregister_io(token);
                    return Err(Error::with_source(ErrorKind::InvalidInput, e));
                }
                Ok(token)
            }
        }
    }

    fn watch(&self, fd: RawFd, dir: Direction, callback: impl Fn() + 'static) -> Result<Handle> {
        if self.is_closed() {
            return Err(Error::new(ErrorKind::Runtime, "event loop is closed"));
        }
        let token = self.watcher_token(fd)?;
        let lp = self.event_loop();
        let added = match dir {
            Direction::Read => lp.add_reader(token, callback),
            Direction::Write => lp.add_writer(token, callback),
        };
        if added.is_err() {
            // The loop keeps a callback whose interest the host refused: take it back, so
            // that the descriptor is watched exactly as before the call.
            let _ = match dir {
                Direction::Read => lp.remove_reader(token),
                Direction::Write => lp.remove_writer(token),
            };
            self.release_if_unwatched(token);
        }
        added
    }

    fn unwatch(&self, fd: RawFd, dir: Direction) -> Result<bool> {
        let token = match self.selector().lookup(fd) {
            None => return Ok(false),
            Some((_, Owner::Source)) => return Err(used_by_transport(fd)),
            Some((token, Owner::Watcher)) => token,
        };
        let lp = self.event_loop();
        let removed = match dir {
            Direction::Read => lp.remove_reader(token),
            Direction::Write => lp.remove_writer(token),
        };
        self.release_if_unwatched(token);
        removed
    }

    /// Free the token of a descriptor that has neither reader nor writer left.
    fn release_if_unwatched(&self, token: Token) {
        if self.selector().wanted(token).is_none() {
            let _ = self.event_loop().deregister_io(token);
            self.selector().detach(token);
        }
    }

    /// Wait until `fd` is readable or writable: the wait of the `sock_*` operations.
    pub(crate) fn wait_fd(&self, fd: RawFd, dir: Direction) -> FdReady<'_> {
        FdReady {
            lp: self,
            fd,
            dir,
            state: Rc::new(WaitState::default()),
            handle: None,
        }
    }
}

fn used_by_transport(fd: RawFd) -> Error {
    Error::new(
        ErrorKind::Runtime,
        format!("file descriptor {fd} is used by a transport"),
    )
}

/// The loop's error as an `io::Error`, keeping the OS error code when there is one.
pub(crate) fn to_io_error(e: Error) -> io::Error {
    match e
        .downcast_ref::<io::Error>()
        .and_then(io::Error::raw_os_error)
    {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::other(e),
    }
}

#[derive(Default)]
struct WaitState {
    ready: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

/// Resolves when a descriptor is ready in one direction; registers a reader or writer
/// on first poll and removes it when dropped.
pub(crate) struct FdReady<'a> {
    lp: &'a NativeLoop,
    fd: RawFd,
    dir: Direction,
    state: Rc<WaitState>,
    handle: Option<Handle>,
}

impl Future for FdReady<'_> {
    type Output = io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.state.ready.get() {
            return Poll::Ready(Ok(()));
        }
        {
            let mut waker = self.state.waker.borrow_mut();
            match &mut *waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                slot => *slot = Some(cx.waker().clone()),
            }
        }
        if self.handle.is_none() {
            let state = self.state.clone();
            let callback = move || {
                state.ready.set(true);
                if let Some(w) = state.waker.borrow_mut().take() {
                    w.wake();
                }
            };
            match self.lp.watch(self.fd, self.dir, callback) {
                Ok(h) => self.handle = Some(h),
                Err(e) => return Poll::Ready(Err(to_io_error(e))),
            }
        }
        Poll::Pending
    }
}

impl Drop for FdReady<'_> {
    fn drop(&mut self) {
        // Remove our callback unless somebody replaced it (which cancelled it).
        if let Some(h) = &self.handle
            && !h.cancelled()
        {
            let _ = self.lp.unwatch(self.fd, self.dir);
        }
    }
}
