//! The selector: mio's [`Poll`](mio::Poll) and the table of watched descriptors, shared by
//! the [`NativeHost`](crate::NativeHost), which polls it and applies the loop's interest,
//! and the [`NativeLoop`](crate::NativeLoop), which attaches descriptors to loop tokens.
//!
//! # Readiness bookkeeping
//!
//! mio registers every descriptor edge-triggered (`EPOLLET`, `EV_CLEAR`): a readiness
//! change is reported once. asyncio's `add_reader` is level-triggered: a reader that
//! leaves data in the socket is called again in the next iteration. Each descriptor is
//! attached with a [`Trigger`] that says which of the two its owner needs:
//!
//! - [`Trigger::Level`] (descriptors watched by user callbacks, the `sock_*` operations):
//!   after a poll reports the descriptor, it is queued for *re-arming*; at the start of
//!   the next poll it is re-registered (`EPOLL_CTL_MOD`), which makes the kernel check
//!   its readiness again and report it once more if it is still readable or writable.
//!   One `epoll_ctl` per reported event buys exact level-triggered behaviour for
//!   callbacks whose reads we cannot see; an idle descriptor costs nothing.
//! - [`Trigger::Edge`] (transports): reported once per readiness change; the owner must
//!   read or write until `WouldBlock`, or call [`NativeLoop::rearm`](crate::NativeLoop::rearm)
//!   when it stops early (a read budget, a paused protocol) to be reported again. The
//!   crate's own transports queue a re-arm whenever an operation leaves the descriptor
//!   possibly ready and withdraw it (`cancel_rearm`, no system call) as soon as one
//!   proves it drained, which gives the shared transport machinery the level-triggered
//!   readiness it expects for at most one `epoll_ctl` when it stops early. A report of
//!   a hang-up (end of stream, reset) or an error is re-armed like a level-triggered
//!   one: those states persist, and the last short read before them must not hide
//!   them.
//!
//! Every change of interest re-registers the descriptor, which also re-reports current
//! readiness, so a reader added (or resumed) on a descriptor that already has data is
//! called without waiting for new data to arrive. Interest [`Interest::NONE`] removes the
//! descriptor from the OS selector (`EPOLL_CTL_DEL`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::os::fd::RawFd;

use loop_core::{Event, Events, Interest, Token};
use mio::unix::SourceFd;

/// The mio token of the host's [`Notify`](loop_core::Notify) waker. Loop tokens are slab
/// keys and never get this large.
pub(crate) const WAKE_TOKEN: mio::Token = mio::Token(usize::MAX);

/// How readiness of an attached descriptor is reported; see the
/// [module docs](crate#readiness-and-registration).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// Reported in every iteration while the descriptor is ready and somebody waits,
    /// as asyncio's `add_reader` / `add_writer` behave. Costs one `epoll_ctl` per report.
    Level,
    /// Reported once per readiness change: the owner reads or writes until
    /// `WouldBlock`, or calls [`NativeLoop::rearm`](crate::NativeLoop::rearm).
    Edge,
}

/// Who attached a descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    /// `add_reader` / `add_writer` (and the `sock_*` operations built on them).
    Watcher,
    /// [`NativeLoop::register_fd`](crate::NativeLoop::register_fd): a transport or other
    /// I/O object that owns the descriptor.
    Source,
}

#[derive(Clone, Copy, Debug)]
struct Record {
    fd: RawFd,
    trigger: Trigger,
    owner: Owner,
    /// What the loop last asked for through `set_interest`.
    wanted: Interest,
    /// The descriptor is in the OS selector (with interest `wanted`).
    registered: bool,
    /// In `Table::rearm`, waiting to be re-registered before the next poll.
    rearm_queued: bool,
    /// An edge-triggered descriptor was reported closed for reading (end of stream, a
    /// reset): that readiness never goes away, so it is re-armed after every report
    /// until its owner stops reading, and no read can prove it drained.
    hung_up: bool,
}

#[derive(Debug, Default)]
struct Table {
    /// Indexed by loop token (dense slab keys).
    records: Vec<Option<Record>>,
    by_fd: HashMap<RawFd, Token>,
    rearm: Vec<Token>,
}

impl Table {
    fn get_mut(&mut self, token: Token) -> Option<&mut Record> {
        self.records.get_mut(token.0).and_then(Option::as_mut)
    }
}

/// mio's poll plus the descriptor table (see the [module docs](self)).
#[derive(Debug)]
pub(crate) struct Selector {
    poll: RefCell<mio::Poll>,
    table: RefCell<Table>,
}

fn to_mio(interest: Interest) -> Option<mio::Interest> {
    match (interest.is_readable(), interest.is_writable()) {
        (true, true) => Some(mio::Interest::READABLE | mio::Interest::WRITABLE),
        (true, false) => Some(mio::Interest::READABLE),
        (false, true) => Some(mio::Interest::WRITABLE),
        (false, false) => None,
    }
}

/// What a mio event means for the loop: errors and hang-ups are both directions, so
/// whichever callback waits finds them when it tries its operation.
fn readiness(ev: &mio::event::Event) -> Interest {
    if ev.is_error() || (ev.is_read_closed() && ev.is_write_closed()) {
        return Interest::BOTH;
    }
    let mut ready = Interest::NONE;
    if ev.is_readable() || ev.is_read_closed() {
        ready = ready.add(Interest::READABLE);
    }
    if ev.is_writable() || ev.is_write_closed() {
        ready = ready.add(Interest::WRITABLE);
    }
    ready
}

fn is_errno(e: &io::Error, errno: i32) -> bool {
    e.raw_os_error() == Some(errno)
}

impl Selector {
    pub(crate) fn new() -> io::Result<Self> {
        Ok(Selector {
            poll: RefCell::new(mio::Poll::new()?),
            table: RefCell::new(Table::default()),
        })
    }

    /// A waker for [`WAKE_TOKEN`] on this selector.
    pub(crate) fn waker(&self) -> io::Result<mio::Waker> {
        mio::Waker::new(self.poll.borrow().registry(), WAKE_TOKEN)
    }

    /// Attach `fd` to the loop token `token`. Nothing is registered with the OS until
    /// the loop sets an interest.
    ///
    /// Fails with `AlreadyExists` if `fd` is already attached.
    pub(crate) fn attach(
        &self,
        token: Token,
        fd: RawFd,
        trigger: Trigger,
        owner: Owner,
    ) -> io::Result<()> {
        let mut table = self.table.borrow_mut();
        if let Some(&other) = table.by_fd.get(&fd)
            && table.get_mut(other).is_some_and(|r| r.fd == fd)
        {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("file descriptor {fd} is already registered with the loop"),
            ));
        }
        if table.records.len() <= token.0 {
            table.records.resize(token.0 + 1, None);
        }
        // A record left under this token (its owner freed the token through the loop
        // alone) is stale: forget its descriptor too.
        if let Some(stale) = table.records[token.0].take() {
            if table.by_fd.get(&stale.fd) == Some(&token) {
                table.by_fd.remove(&stale.fd);
            }
            if stale.registered {
                let _ = self
                    .poll
                    .borrow()
                    .registry()
                    .deregister(&mut SourceFd(&stale.fd));
            }
        }
        table.records[token.0] = Some(Record {
            fd,
            trigger,
            owner,
            wanted: Interest::NONE,
            registered: false,
            rearm_queued: false,
            hung_up: false,
        });
        table.by_fd.insert(fd, token);
        Ok(())
    }

    /// The token and owner `fd` is attached under.
    pub(crate) fn lookup(&self, fd: RawFd) -> Option<(Token, Owner)> {
        let table = self.table.borrow();
        let token = *table.by_fd.get(&fd)?;
        let rec = table.records.get(token.0)?.as_ref()?;
        (rec.fd == fd).then_some((token, rec.owner))
    }

    /// The interest the loop last set for `token` (`NONE` if unknown).
    pub(crate) fn wanted(&self, token: Token) -> Interest {
        let table = self.table.borrow();
        match table.records.get(token.0) {
            Some(Some(rec)) => rec.wanted,
            _ => Interest::NONE,
        }
    }

    /// Forget `token`, removing its descriptor from the OS selector if still there.
    pub(crate) fn detach(&self, token: Token) {
        let rec = {
            let mut table = self.table.borrow_mut();
            let Some(slot) = table.records.get_mut(token.0) else {
                return;
            };
            let Some(rec) = slot.take() else { return };
            if table.by_fd.get(&rec.fd) == Some(&token) {
                table.by_fd.remove(&rec.fd);
            }
            rec
        };
        if rec.registered {
            // The descriptor may already be closed (the kernel then dropped it itself).
            let _ = self
                .poll
                .borrow()
                .registry()
                .deregister(&mut SourceFd(&rec.fd));
        }
    }

    /// Forget every descriptor (the loop is closing).
    pub(crate) fn detach_all(&self) {
        let records = {
            let mut table = self.table.borrow_mut();
            table.by_fd.clear();
            table.rearm.clear();
            core::mem::take(&mut table.records)
        };
        let poll = self.poll.borrow();
        for rec in records.into_iter().flatten().filter(|r| r.registered) {
            let _ = poll.registry().deregister(&mut SourceFd(&rec.fd));
        }
    }

    /// Apply the loop's interest for `token` to the OS selector.
    ///
    /// A token with no descriptor accepts `NONE` only. Removing a descriptor never fails
    /// (one closed behind the loop's back is already gone from the kernel's set).
    pub(crate) fn set_interest(&self, token: Token, interest: Interest) -> io::Result<()> {
        let mut table = self.table.borrow_mut();
        let Some(rec) = table.get_mut(token) else {
            if interest.is_none() {
                return Ok(());
            }
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "no file descriptor is attached to this I/O token",
            ));
        };
        rec.wanted = interest;
        let registry_owner = self.poll.borrow();
        let registry = registry_owner.registry();
        let mio_token = mio::Token(token.0);
        let Some(mio_interest) = to_mio(interest) else {
            if rec.registered {
                rec.registered = false;
                let _ = registry.deregister(&mut SourceFd(&rec.fd));
            }
            return Ok(());
        };
        let fd = rec.fd;
        let result = if rec.registered {
            match registry.reregister(&mut SourceFd(&fd), mio_token, mio_interest) {
                // Closed and reopened under the same number: the kernel forgot it.
                Err(e) if is_errno(&e, libc::ENOENT) => {
                    registry.register(&mut SourceFd(&fd), mio_token, mio_interest)
                }
                other => other,
            }
        } else {
            match registry.register(&mut SourceFd(&fd), mio_token, mio_interest) {
                Err(e) if is_errno(&e, libc::EEXIST) => {
                    registry.reregister(&mut SourceFd(&fd), mio_token, mio_interest)
                }
                other => other,
            }
        };
        match result {
            Ok(()) => {
                rec.registered = true;
                // The registration just re-checked readiness; a queued re-arm is moot.
                rec.rearm_queued = false;
                Ok(())
            }
            Err(e) => {
                rec.registered = false;
                Err(e)
            }
        }
    }

    /// Queue `token` to be re-registered before the next poll, so its current readiness
    /// is reported again.
    pub(crate) fn queue_rearm(&self, token: Token) {
        let mut table = self.table.borrow_mut();
        let Some(rec) = table.get_mut(token) else {
            return;
        };
        if rec.registered && !rec.rearm_queued {
            rec.rearm_queued = true;
            table.rearm.push(token);
        }
    }

    /// Withdraw a re-arm queued with [`queue_rearm`](Self::queue_rearm): the owner of an
    /// edge-triggered descriptor found it drained (a read or receive would block, or a
    /// stream read came back short), so the kernel reports the next readiness change by
    /// itself. Kept for a descriptor that hung up (see [`Record::hung_up`]).
    pub(crate) fn cancel_rearm(&self, token: Token) {
        let mut table = self.table.borrow_mut();
        let Some(rec) = table.get_mut(token) else {
            return;
        };
        if !rec.rearm_queued || rec.hung_up {
            return;
        }
        rec.rearm_queued = false;
        if table.rearm.last() == Some(&token) {
            table.rearm.pop();
        }
    }

    /// Re-register the queued tokens. A descriptor that can no longer be re-registered
    /// (closed behind the loop's back) stops being watched, as the kernel already
    /// stopped watching it.
    fn rearm(&self, table: &mut Table) {
        if table.rearm.is_empty() {
            return;
        }
        let poll = self.poll.borrow();
        let registry = poll.registry();
        let mut queue = core::mem::take(&mut table.rearm);
        for token in queue.drain(..) {
            let Some(rec) = table.get_mut(token) else {
                continue;
            };
            if !rec.rearm_queued {
                continue;
            }
            rec.rearm_queued = false;
            let Some(interest) = to_mio(rec.wanted).filter(|_| rec.registered) else {
                continue;
            };
            if registry
                .reregister(&mut SourceFd(&rec.fd), mio::Token(token.0), interest)
                .is_err()
            {
                rec.registered = false;
            }
        }
        // Keep the allocation for the next round.
        table.rearm = queue;
    }

    /// Re-arm the queued descriptors, then wait for events (`timeout` already rounded by
    /// the caller). One call of the OS poll: `EINTR` is the caller's to retry.
    pub(crate) fn poll(
        &self,
        mio_events: &mut mio::Events,
        timeout: Option<core::time::Duration>,
    ) -> io::Result<()> {
        self.rearm(&mut self.table.borrow_mut());
        self.poll.borrow_mut().poll(mio_events, timeout)
    }

    /// Translate `mio_events` into loop events for the descriptors somebody waits on,
    /// and queue the level-triggered ones for re-arming.
    pub(crate) fn translate(&self, mio_events: &mio::Events, events: &mut Events) {
        let mut table = self.table.borrow_mut();
        let table = &mut *table;
        for ev in mio_events.iter() {
            let token = Token(ev.token().0);
            if ev.token() == WAKE_TOKEN {
                continue;
            }
            let Some(Some(rec)) = table.records.get_mut(token.0) else {
                continue;
            };
            if !rec.registered {
                continue;
            }
            let ready = readiness(ev);
            if ready.is_none() {
                continue;
            }
            events.push(Event { token, ready });
            // Level descriptors are re-armed after every report. Edge ones only when the
            // report carries a state that a read cannot clear and the owner may not see
            // in full (mio's closed and error bits are sticky, as in tokio): a short read
            // of the last data before the peer's FIN must not hide the end of stream.
            let rearm = match rec.trigger {
                Trigger::Level => true,
                Trigger::Edge => {
                    if ev.is_read_closed() {
                        rec.hung_up = true;
                    }
                    rec.hung_up || ev.is_error()
                }
            };
            if rearm && !rec.rearm_queued {
                rec.rearm_queued = true;
                table.rearm.push(token);
            }
        }
    }
}
