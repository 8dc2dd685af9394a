//! The deterministic simulation host: virtual time and a seeded random source.
//!
//! Virtual time only moves in [`Host::poll`]: when nothing is ready, the clock jumps
//! straight to the next thing that can happen (the loop's next timer, or the next event
//! scheduled on the host with [`SimHost::schedule`]), so a program that sleeps an hour of
//! virtual time finishes in microseconds. Everything is single-threaded and ordered by
//! `(time, sequence)`; together with the seeded [`SimHost::with_rng`], a seed reproduces a run
//! exactly.
//!
//! Simulated devices (the in-memory network, [`SimNet`]) schedule their deliveries with
//! [`SimHost::schedule`] and expose their current state through a [`SimSource`] attached
//! to each of their loop tokens: every poll reports, **level-triggered**, the tokens whose
//! source is ready in a direction the loop waits for, and a poll never moves the clock
//! while some token is ready.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BinaryHeap};
use alloc::rc::Rc;
use alloc::sync::Arc;
use core::cell::{Cell, RefCell};
use core::cmp::{Ordering as CmpOrdering, Reverse};
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;

use crate::error::{Error, ErrorKind, Result};
use crate::host::{Event, Events, Host, Interest, Notify, Token};
use crate::time::Instant;

mod net;

pub use net::{
    FaultPlan, NetConfig, NetEvent, NetEventKind, SimConnection, SimDatagram, SimListener, SimNet,
    SimStream,
};

/// The current readiness of a simulated I/O object, polled by [`SimHost`] at every poll
/// for each token the loop waits on (level-triggered).
pub trait SimSource {
    /// The directions in which an operation would not block right now (an error counts
    /// as both).
    fn readiness(&self) -> Interest;
}

#[derive(Default)]
struct IoSlot {
    /// What the loop waits for ([`Host::set_interest`]).
    interest: Interest,
    source: Option<Rc<dyn SimSource>>,
}

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
    io: RefCell<BTreeMap<Token, IoSlot>>,
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
                io: RefCell::new(BTreeMap::new()),
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
    ///
    /// Actions run inside [`Host::poll`], while the loop holds its host: they change the
    /// simulated world (and may push [`Event`]s) but MUST NOT call into the loop.
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

    /// Report the readiness of `token` from `source` (replacing any previous source). The
    /// token is reported ready, at every poll, in the directions that both `source` and
    /// the loop's interest include.
    pub fn attach(&self, token: Token, source: Rc<dyn SimSource>) {
        self.inner.io.borrow_mut().entry(token).or_default().source = Some(source);
    }

    /// Stop reporting `token` (its object is closed).
    pub fn detach(&self, token: Token) {
        let mut io = self.inner.io.borrow_mut();
        if let Some(slot) = io.get_mut(&token) {
            slot.source = None;
            if slot.interest.is_none() {
                io.remove(&token);
            }
        }
    }

    /// Append an event for every token whose source is ready in a direction the loop
    /// waits for. Tokens an action already reported in this poll get the union.
    fn collect_ready(&self, events: &mut Events) {
        let pushed = events.len();
        let io = self.inner.io.borrow();
        for (&token, slot) in io.iter() {
            if slot.interest.is_none() {
                continue;
            }
            let Some(source) = &slot.source else { continue };
            let level = source.readiness();
            let mut ready = Interest::NONE;
            if level.is_readable() && slot.interest.is_readable() {
                ready = ready.add(Interest::READABLE);
            }
            if level.is_writable() && slot.interest.is_writable() {
                ready = ready.add(Interest::WRITABLE);
            }
            if ready.is_none() {
                continue;
            }
            match events[..pushed].iter_mut().find(|e| e.token == token) {
                Some(e) => e.ready = e.ready.add(ready),
                None => events.push(Event { token, ready }),
            }
        }
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

    /// Consume a pending notification; returns whether there was one.
    fn take_notification(&self) -> bool {
        // Load before swapping: the swap is a locked instruction, and a notification is
        // rare compared with polls.
        let notify = &self.inner.notify.notified;
        notify.load(Ordering::Acquire) && notify.swap(false, Ordering::AcqRel)
    }

    /// [`Host::poll`] when actions are pending or I/O objects are watched, or when the
    /// poll may wait.
    #[inline(never)]
    fn poll_world(&self, events: &mut Events, timeout: Option<Duration>) -> Result<()> {
        self.run_due(events);
        self.collect_ready(events);
        let notified = self.take_notification();
        if notified || !events.is_empty() || timeout == Some(Duration::ZERO) {
            return Ok(());
        }
        let now = self.inner.now.get();
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
        self.collect_ready(events);
        Ok(())
    }
}

impl Host for SimHost {
    fn now(&self) -> Instant {
        self.inner.now.get()
    }

    /// Never blocks. Runs the actions due now and reports the ready tokens; if nothing
    /// is ready and the poll may block, jumps the clock to the earlier of the timeout and
    /// the next action, runs the actions due then and reports again.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Stalled`] when asked to wait without a timeout while nothing is
    /// ready, scheduled or notified: the program would hang forever.
    fn poll(&mut self, events: &mut Events, timeout: Option<Duration>) -> Result<()> {
        let inner = &*self.inner;
        inner.polls.set(inner.polls.get() + 1);
        // The common case of a busy loop: a poll that must not wait, in a world with no
        // pending action and no watched I/O object, has nothing to report.
        if timeout == Some(Duration::ZERO)
            && inner.queue.borrow().is_empty()
            && inner.io.borrow().is_empty()
        {
            self.take_notification();
            return Ok(());
        }
        self.poll_world(events, timeout)
    }

    fn set_interest(&mut self, token: Token, interest: Interest) -> Result<()> {
        let mut io = self.inner.io.borrow_mut();
        if interest.is_none() {
            if let Some(slot) = io.get_mut(&token) {
                slot.interest = interest;
                if slot.source.is_none() {
                    io.remove(&token);
                }
            }
        } else {
            io.entry(token).or_default().interest = interest;
        }
        Ok(())
    }

    fn notifier(&self) -> Arc<dyn Notify> {
        self.inner.notify.clone()
    }
}
