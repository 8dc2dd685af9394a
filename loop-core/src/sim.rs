//! The deterministic simulation host: virtual time and a seeded random source.
//!
//! Virtual time only moves in [`Host::poll`]: when nothing is ready, the clock jumps
//! straight to the next thing that can happen (the loop's next timer, or the next event
//! scheduled on the host with [`SimHost::schedule`]), so a program that sleeps an hour of
//! virtual time finishes in microseconds. Everything is single-threaded and ordered by
//! `(time, sequence)`; together with the seeded [`SimHost::rng`], a seed reproduces a run
//! exactly.
//!
//! Simulated devices (the in-memory network) schedule their deliveries with
//! [`SimHost::schedule`]; a delivery reports readiness for the loop's tokens through the
//! [`Events`] it is given.

use alloc::boxed::Box;
use alloc::collections::BinaryHeap;
use alloc::rc::Rc;
use alloc::sync::Arc;
use core::cell::{Cell, RefCell};
use core::cmp::{Ordering as CmpOrdering, Reverse};
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;

use crate::error::{Error, ErrorKind, Result};
use crate::host::{Events, Host, Notify};
use crate::time::Instant;

/// Something that happens at a virtual instant: it may report readiness into `Events`.
pub type SimAction = Box<dyn FnOnce(&mut Events)>;

struct Scheduled {
    at: Instant,
    seq: u64,
    action: SimAction,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

struct SimInner {
    now: Cell<Instant>,
    seed: u64,
    rng: RefCell<fastrand::Rng>,
    queue: RefCell<BinaryHeap<Reverse<Scheduled>>>,
    next_seq: Cell<u64>,
    notify: Arc<SimNotify>,
    polls: Cell<u64>,
}

/// The notifier of a [`SimHost`]: a flag that makes the next poll return at once.
#[derive(Debug, Default)]
pub struct SimNotify {
    notified: AtomicBool,
}

impl Notify for SimNotify {
    fn notify(&self) {
        self.notified.store(true, Ordering::Release);
    }
}

/// The simulation host. Cloning gives another handle to the same simulated world (keep
/// one to control it while the loop owns another).
#[derive(Clone)]
pub struct SimHost {
    inner: Rc<SimInner>,
}

impl fmt::Debug for SimHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimHost")
            .field("seed", &self.inner.seed)
            .field("now", &self.inner.now.get())
            .field("pending", &self.inner.queue.borrow().len())
            .finish()
    }
}

impl SimHost {
    /// A simulated world at virtual time zero, with its randomness seeded by `seed`.
    pub fn new(seed: u64) -> Self {
        SimHost {
            inner: Rc::new(SimInner {
                now: Cell::new(Instant::ZERO),
                seed,
                rng: RefCell::new(fastrand::Rng::with_seed(seed)),
                queue: RefCell::new(BinaryHeap::new()),
                next_seq: Cell::new(0),
                notify: Arc::new(SimNotify::default()),
                polls: Cell::new(0),
            }),
        }
    }

    /// The seed this world was created with.
    pub fn seed(&self) -> u64 {
        self.inner.seed
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.inner.now.get()
    }

    /// Move virtual time forward by `d` now, as if the running code took that long (to
    /// simulate slow callbacks).
    pub fn advance(&self, d: Duration) {
        self.inner.now.set(self.inner.now.get() + d);
    }

    /// Run `f` with the world's seeded random source.
    pub fn with_rng<R>(&self, f: impl FnOnce(&mut fastrand::Rng) -> R) -> R {
        f(&mut self.inner.rng.borrow_mut())
    }

    /// A uniformly random duration in `[0, max]`, from the seeded source.
    pub fn random_delay(&self, max: Duration) -> Duration {
        let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(self.with_rng(|r| r.u64(0..=nanos)))
    }

    /// Schedule `action` at virtual time `at` (at the current time if `at` is past).
    /// Actions due at the same instant run in the order they were scheduled.
    pub fn schedule(&self, at: Instant, action: impl FnOnce(&mut Events) + 'static) {
        let seq = self.inner.next_seq.get();
        self.inner.next_seq.set(seq + 1);
        let at = at.max(self.inner.now.get());
        self.inner.queue.borrow_mut().push(Reverse(Scheduled {
            at,
            seq,
            action: Box::new(action),
        }));
    }

    /// Number of polls so far (each loop iteration polls once).
    pub fn polls(&self) -> u64 {
        self.inner.polls.get()
    }

    fn next_action_time(&self) -> Option<Instant> {
        self.inner.queue.borrow().peek().map(|Reverse(s)| s.at)
    }

    /// Run every action due at or before the current time.
    fn run_due(&self, events: &mut Events) {
        loop {
            let action = {
                let mut q = self.inner.queue.borrow_mut();
                match q.peek() {
                    Some(Reverse(s)) if s.at <= self.inner.now.get() => {
                        q.pop().map(|Reverse(s)| s.action)
                    }
                    _ => None,
                }
            };
            match action {
                Some(a) => a(events),
                None => break,
            }
        }
    }
}

impl Host for SimHost {
    fn now(&self) -> Instant {
        self.inner.now.get()
    }

    /// Never blocks. Runs the actions due now; if there are none and the poll may block,
    /// jumps the clock to the earlier of the timeout and the next action.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Stalled`] when asked to wait without a timeout while nothing is
    /// scheduled and no notification is pending: the program would hang forever.
    fn poll(&mut self, events: &mut Events, timeout: Option<Duration>) -> Result<()> {
        self.inner.polls.set(self.inner.polls.get() + 1);
        // Load before swapping: the swap is a locked instruction, and a notification is
        // rare compared with polls.
        let notify = &self.inner.notify.notified;
        if notify.load(Ordering::Acquire) && notify.swap(false, Ordering::AcqRel) {
            self.run_due(events);
            return Ok(());
        }
        let now = self.inner.now.get();
        if timeout == Some(Duration::ZERO) {
            // A non-blocking poll: the clock stays; only actions due now run.
            if self.next_action_time().is_some_and(|at| at <= now) {
                self.run_due(events);
            }
            return Ok(());
        }
        let deadline = timeout.map(|t| now + t);
        match (self.next_action_time(), deadline) {
            (Some(at), Some(d)) if at > d => self.inner.now.set(d),
            (Some(at), _) => self.inner.now.set(at.max(now)),
            (None, Some(d)) => self.inner.now.set(d),
            (None, None) => {
                return Err(Error::new(
                    ErrorKind::Stalled,
                    "the loop waits for I/O without a timeout, and nothing is scheduled",
                ));
            }
        }
        self.run_due(events);
        Ok(())
    }

    fn notifier(&self) -> Arc<dyn Notify> {
        self.inner.notify.clone()
    }
}
