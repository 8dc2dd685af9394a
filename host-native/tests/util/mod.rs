//! Helpers shared by the integration tests: a watchdog that bounds every test, and a
//! loop-side fail-safe timer.

#![allow(dead_code, reason = "each test file uses a subset of the helpers")]

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use host_native::NativeLoop;

/// Ends the whole test process if the test that created it runs longer than `limit`: a
/// hung wait (a lost wake-up, a missed event) fails loudly instead of blocking CI.
#[derive(Debug)]
pub(crate) struct Watchdog {
    _done: mpsc::Sender<()>,
}

pub(crate) fn watchdog(limit: Duration) -> Watchdog {
    let (tx, rx) = mpsc::channel::<()>();
    let name = thread::current().name().unwrap_or("test").to_owned();
    thread::spawn(move || {
        if let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
            eprintln!("watchdog: {name} still running after {limit:?}; aborting");
            std::process::exit(3);
        }
    });
    Watchdog { _done: tx }
}

/// The default bound of a test.
pub(crate) const LIMIT: Duration = Duration::from_secs(30);

/// Stop `lp` after `after` in case the behaviour under test never stops it; returns a
/// flag telling whether the fail-safe fired.
pub(crate) fn fail_safe(lp: &NativeLoop, after: Duration) -> std::rc::Rc<std::cell::Cell<bool>> {
    let fired = std::rc::Rc::new(std::cell::Cell::new(false));
    let (f, stopper) = (fired.clone(), lp.clone());
    lp.call_later(after, move || {
        f.set(true);
        stopper.stop();
    })
    .unwrap();
    fired
}

pub(crate) mod proto;
