//! Shared helpers: a loop on the simulation host, an event log, and futures that sleep
//! or fail after a virtual delay.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use loop_core::{Error, ErrorKind, EventLoop, Task, sim::SimHost};

pub(crate) fn new_loop() -> EventLoop {
    EventLoop::new(SimHost::new(7))
}

/// Seconds of virtual time since the start.
pub(crate) fn now(lp: &EventLoop) -> f64 {
    lp.time().as_secs_f64()
}

pub(crate) fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// An ordered record of what happened.
#[derive(Clone, Default)]
pub(crate) struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    pub(crate) fn push(&self, entry: impl Into<String>) {
        self.0.borrow_mut().push(entry.into());
    }

    pub(crate) fn entries(&self) -> Vec<String> {
        self.0.borrow().clone()
    }
}

/// Logs `"<name> dropped"` when dropped: shows that a cancelled task's future was
/// dropped, and when.
pub(crate) struct DropGuard {
    pub(crate) log: Log,
    pub(crate) name: &'static str,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.log.push(format!("{} dropped", self.name));
    }
}

/// A task that sleeps `s` virtual seconds, then returns `value`.
pub(crate) fn after<T: Clone + 'static>(lp: &EventLoop, s: f64, value: T) -> Task<T> {
    let lp2 = lp.clone();
    lp.create_task(async move {
        lp2.sleep(secs(s)).await.unwrap();
        value
    })
}

/// A task that sleeps `s` virtual seconds, then fails with an `Other` error carrying
/// `message`.
pub(crate) fn fail_after(lp: &EventLoop, s: f64, message: &'static str) -> Task<i32> {
    let lp2 = lp.clone();
    lp.create_try_task(async move {
        lp2.sleep(secs(s)).await?;
        Err::<i32, _>(Error::new(ErrorKind::Other, message))
    })
}

/// A task that logs `"<name> done"` after `s` seconds, and `"<name> dropped"` when its
/// future is dropped (cancelled or finished).
pub(crate) fn guarded(lp: &EventLoop, log: &Log, name: &'static str, s: f64) -> Task<&'static str> {
    let lp2 = lp.clone();
    let guard = DropGuard {
        log: log.clone(),
        name,
    };
    let log = log.clone();
    lp.create_task(async move {
        let _guard = guard;
        lp2.sleep(secs(s)).await.unwrap();
        log.push(format!("{name} done"));
        name
    })
}

/// Run the loop for `s` more virtual seconds.
pub(crate) fn run_for(lp: &EventLoop, s: f64) {
    lp.run_until_complete(lp.sleep(secs(s))).unwrap().unwrap();
}

/// Run the loop until nothing is left to do; the simulation host reports that as
/// `Stalled`. Returns the virtual time then.
pub(crate) fn run_until_idle(lp: &EventLoop) -> f64 {
    loop {
        match lp.run_once() {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Stalled => return now(lp),
            Err(e) => panic!("unexpected loop error: {e}"),
        }
    }
}
