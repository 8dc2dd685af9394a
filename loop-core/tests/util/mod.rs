//! Helpers shared by the integration tests: an event log, a drop guard that logs, a host
//! wrapper that records every poll, and a future that yields once.
#![allow(
    dead_code,
    reason = "each test crate uses a different subset of the helpers"
)]

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use loop_core::sim::SimHost;
use loop_core::{Events, Host, Instant, Interest, Notify, Result, Token};

/// An ordered log of what happened, shared by the closures of a test.
#[derive(Clone, Default, Debug)]
pub(crate) struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    pub(crate) fn new() -> Self {
        Log::default()
    }

    pub(crate) fn push(&self, entry: impl Into<String>) {
        self.0.borrow_mut().push(entry.into());
    }

    /// A closure that logs `entry` when called (a `call_soon` callback).
    pub(crate) fn cb(&self, entry: impl Into<String>) -> impl FnOnce() + 'static {
        let log = self.clone();
        let entry = entry.into();
        move || log.push(entry)
    }

    /// Everything logged so far, leaving the log empty.
    pub(crate) fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.borrow_mut())
    }

    /// Everything logged so far.
    pub(crate) fn entries(&self) -> Vec<String> {
        self.0.borrow().clone()
    }
}

/// Logs `drop <name>` when dropped: proves a closure or a task's future was dropped.
#[derive(Debug)]
pub(crate) struct DropGuard {
    log: Log,
    name: &'static str,
}

impl DropGuard {
    pub(crate) fn new(log: &Log, name: &'static str) -> Self {
        DropGuard {
            log: log.clone(),
            name,
        }
    }
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.log.push(format!("drop {}", self.name));
    }
}

/// What the loop asked of its host in one poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PollRecord {
    /// The timeout the loop passed.
    pub(crate) timeout: Option<Duration>,
    /// The virtual time when the poll started.
    pub(crate) at: Instant,
}

/// A [`SimHost`] that records every poll and every interest change, so tests can check
/// the iteration rules (one poll per iteration, its timeout) directly.
#[derive(Clone, Debug)]
pub(crate) struct TraceHost {
    pub(crate) sim: SimHost,
    polls: Rc<RefCell<Vec<PollRecord>>>,
    interests: Rc<RefCell<Vec<(Token, Interest)>>>,
}

impl TraceHost {
    pub(crate) fn new(seed: u64) -> Self {
        TraceHost {
            sim: SimHost::new(seed),
            polls: Rc::default(),
            interests: Rc::default(),
        }
    }

    /// The polls so far, leaving the record empty.
    pub(crate) fn take_polls(&self) -> Vec<PollRecord> {
        std::mem::take(&mut *self.polls.borrow_mut())
    }

    /// The timeouts of the polls so far, leaving the record empty.
    pub(crate) fn take_timeouts(&self) -> Vec<Option<Duration>> {
        self.take_polls().into_iter().map(|p| p.timeout).collect()
    }

    /// The `set_interest` calls so far, leaving the record empty.
    pub(crate) fn take_interests(&self) -> Vec<(Token, Interest)> {
        std::mem::take(&mut *self.interests.borrow_mut())
    }
}

impl Host for TraceHost {
    fn now(&self) -> Instant {
        self.sim.now()
    }

    fn poll(&mut self, events: &mut Events, timeout: Option<Duration>) -> Result<()> {
        self.polls.borrow_mut().push(PollRecord {
            timeout,
            at: self.sim.now(),
        });
        self.sim.poll(events, timeout)
    }

    fn notifier(&self) -> Arc<dyn Notify> {
        self.sim.notifier()
    }

    fn set_interest(&mut self, token: Token, interest: Interest) -> Result<()> {
        self.interests.borrow_mut().push((token, interest));
        self.sim.set_interest(token, interest)
    }
}

/// A future that returns `Pending` once (after waking its task), then `Ready`: one trip
/// through the ready queue.
#[derive(Debug, Default)]
pub(crate) struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// Yield to the loop once.
pub(crate) fn yield_once() -> YieldOnce {
    YieldOnce(false)
}

/// `d` seconds after the epoch.
pub(crate) fn secs(d: u64) -> Instant {
    Instant::from_nanos(d * 1_000_000_000)
}

/// `d` milliseconds after the epoch.
pub(crate) fn millis(d: u64) -> Instant {
    Instant::from_nanos(d * 1_000_000)
}
