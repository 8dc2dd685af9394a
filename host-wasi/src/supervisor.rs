//! Many guests at once, a thread each. Whatever one guest does (trap, spin, exhaust its
//! memory, get killed), the others and the host keep running, and its end is reported.

use std::collections::HashMap;
use std::fmt;
use std::sync::mpsc;
use std::time::Duration;

use crate::error::Error;
use crate::guest::{GuestBuilder, RunningGuest};
use crate::report::Report;

/// Identifies a guest started by a [`Supervisor`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GuestId(u64);

impl fmt::Display for GuestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Starts guests, each on its own thread, and collects their [`Report`]s as they stop.
///
/// Dropping the supervisor kills the guests still running and waits for them.
///
/// # Examples
///
/// ```no_run
/// use host_wasi::{Grants, Limits, Runtime, Supervisor};
///
/// let runtime = Runtime::new()?;
/// let echo = runtime.load("echo.wasm")?;
/// let mut supervisor = Supervisor::new();
/// for port in [7000, 7001] {
///     let grants = Grants::new().allow_listen(format!("127.0.0.1:{port}").parse()?);
///     supervisor.spawn(echo.builder().grants(grants).limits(Limits::new()))?;
/// }
/// while let Some((id, report)) = supervisor.wait() {
///     println!("{id}: {report}");
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Supervisor {
    next: u64,
    running: HashMap<GuestId, RunningGuest>,
    finished_tx: mpsc::Sender<GuestId>,
    finished_rx: mpsc::Receiver<GuestId>,
}

impl Supervisor {
    /// A supervisor with no guests.
    pub fn new() -> Self {
        let (finished_tx, finished_rx) = mpsc::channel();
        Self {
            next: 0,
            running: HashMap::new(),
            finished_tx,
            finished_rx,
        }
    }

    /// Starts a guest on its own thread.
    ///
    /// # Errors
    ///
    /// [`Error::Spawn`] if the thread cannot be started.
    pub fn spawn(&mut self, guest: GuestBuilder) -> Result<GuestId, Error> {
        let id = GuestId(self.next);
        self.next += 1;
        let finished = self.finished_tx.clone();
        let running = guest.spawn_then(move || {
            // The receiver lives as long as `self`; once it is gone nobody is waiting.
            let _ = finished.send(id);
        })?;
        self.running.insert(id, running);
        Ok(id)
    }

    /// The running (or finished but not yet collected) guest `id`.
    pub fn guest(&self, id: GuestId) -> Option<&RunningGuest> {
        self.running.get(&id)
    }

    /// Kills guest `id`; returns false if it is not known (already collected).
    pub fn kill(&self, id: GuestId) -> bool {
        self.running
            .get(&id)
            .inspect(|guest| guest.kill())
            .is_some()
    }

    /// Kills every guest.
    pub fn kill_all(&self) {
        self.running.values().for_each(RunningGuest::kill);
    }

    /// How many guests have not been collected by a `wait` yet.
    pub fn len(&self) -> usize {
        self.running.len()
    }

    /// Whether every guest has been collected.
    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    /// Waits for the next guest to stop and returns its report; `None` once every guest
    /// has been collected.
    pub fn wait(&mut self) -> Option<(GuestId, Report)> {
        if self.running.is_empty() {
            return None;
        }
        // Every running guest sends its id exactly once, and `self` holds a sender.
        let id = self.finished_rx.recv().ok()?;
        self.collect(id)
    }

    /// Like [`wait`](Self::wait), but gives up after `timeout` and returns `None`.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<(GuestId, Report)> {
        if self.running.is_empty() {
            return None;
        }
        let id = self.finished_rx.recv_timeout(timeout).ok()?;
        self.collect(id)
    }

    /// Waits for every guest to stop, returning their reports in the order they stopped.
    pub fn wait_all(&mut self) -> Vec<(GuestId, Report)> {
        std::iter::from_fn(|| self.wait()).collect()
    }

    fn collect(&mut self, id: GuestId) -> Option<(GuestId, Report)> {
        let guest = self.running.remove(&id)?;
        Some((id, guest.join()))
    }
}

impl Default for Supervisor {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.kill_all();
        for (_, guest) in self.running.drain() {
            drop(guest.join());
        }
    }
}

impl fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<_> = self.running.keys().collect();
        ids.sort();
        f.debug_struct("Supervisor")
            .field("running", &ids)
            .finish_non_exhaustive()
    }
}
