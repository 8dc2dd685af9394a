//! How a guest run ended, and what it used.

use std::fmt;
use std::time::Duration;

use wasmtime::Trap;
use wasmtime::component::ResourceTableError;
use wasmtime_wasi::I32Exit;

use crate::grants::Denial;

/// How a guest run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The guest finished: `wasi:cli/run` returned (status 0 for `ok`, 1 for `err`) or it
    /// called `exit`.
    Exited(i32),
    /// The guest used up its CPU budget (out of fuel).
    CpuLimit {
        /// The budget it had, in fuel.
        fuel: u64,
    },
    /// The guest needed more memory than its limit; the growth was refused and the guest
    /// then trapped (a Rust guest aborts when an allocation fails).
    MemoryLimit {
        /// The limit, in bytes.
        limit: usize,
        /// The total it asked for, in bytes.
        requested: usize,
    },
    /// The guest held as many WASI resources as its handle limit and asked for more.
    HandleLimit {
        /// The limit.
        limit: usize,
    },
    /// The wall-clock deadline passed while the guest ran or waited.
    Deadline(Duration),
    /// The guest was stopped on request.
    Killed,
    /// The guest panicked or aborted (an `unreachable` trap; its message, if any, is on
    /// its stderr).
    Panicked,
    /// Any other trap: out-of-bounds access, stack overflow, division by zero, a WASI
    /// misuse such as dropping a socket before its streams.
    Trapped {
        /// The trap code, when wasmtime gave one.
        trap: Option<Trap>,
        /// The description, with causes.
        message: String,
    },
    /// The guest could not be started (instantiation failed) or the host failed while
    /// running it.
    Failed(String),
}

impl Outcome {
    /// Whether the guest exited with status 0.
    pub fn success(&self) -> bool {
        *self == Outcome::Exited(0)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exited(code) => write!(f, "exited with status {code}"),
            Self::CpuLimit { fuel } => write!(f, "stopped: CPU limit of {fuel} fuel used up"),
            Self::MemoryLimit { limit, requested } => write!(
                f,
                "stopped: memory limit of {} exceeded (asked for {})",
                Bytes(*limit),
                Bytes(*requested)
            ),
            Self::HandleLimit { limit } => write!(f, "stopped: handle limit of {limit} reached"),
            Self::Deadline(after) => write!(f, "stopped: deadline of {after:?} passed"),
            Self::Killed => f.write_str("stopped: killed"),
            Self::Panicked => f.write_str("stopped: the guest panicked (see its stderr)"),
            Self::Trapped { message, .. } => write!(f, "stopped: trap: {message}"),
            Self::Failed(message) => write!(f, "failed: {message}"),
        }
    }
}

/// A byte count in the largest binary unit that keeps it readable.
pub(crate) struct Bytes(pub(crate) usize);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
        let mut value = self.0 as f64;
        let mut unit = 0;
        while value >= 1024.0 && unit < UNITS.len() - 1 {
            value /= 1024.0;
            unit += 1;
        }
        if unit == 0 {
            write!(f, "{} B", self.0)
        } else {
            write!(f, "{value:.1} {}", UNITS[unit])
        }
    }
}

/// What one guest run did: its [`Outcome`], what it used, what it printed (when
/// captured) and what it was denied.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Report {
    /// The guest's name.
    pub name: String,
    /// How the run ended.
    pub outcome: Outcome,
    /// CPU used, in fuel (about one unit per WebAssembly instruction executed; time
    /// blocked in the host costs none).
    pub fuel_consumed: u64,
    /// The most linear memory the guest held, in bytes.
    pub peak_memory: usize,
    /// Time to start the guest: store set-up and instantiation from the precompiled
    /// component (zero if instantiation failed).
    pub start_time: Duration,
    /// Wall-clock time from start to stop.
    pub run_time: Duration,
    /// Captured stdout (empty unless captured).
    pub stdout: Vec<u8>,
    /// Captured stderr (empty unless captured).
    pub stderr: Vec<u8>,
    /// Captured bytes dropped past the output limit, stdout and stderr together.
    pub output_dropped: u64,
    /// The first denied operations (at most 64).
    pub denials: Vec<Denial>,
    /// How many operations were denied in all.
    pub denied: u64,
}

impl Report {
    pub(crate) fn failed(name: String, message: String) -> Self {
        Self {
            name,
            outcome: Outcome::Failed(message),
            fuel_consumed: 0,
            peak_memory: 0,
            start_time: Duration::ZERO,
            run_time: Duration::ZERO,
            stdout: Vec::new(),
            stderr: Vec::new(),
            output_dropped: 0,
            denials: Vec::new(),
            denied: 0,
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "guest `{}` {} after {:.3?} (fuel {}, peak memory {}, {} denied)",
            self.name,
            self.outcome,
            self.run_time,
            self.fuel_consumed,
            Bytes(self.peak_memory),
            self.denied
        )
    }
}

/// Why the host abandoned a guest's run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    Deadline,
    Killed,
}

/// What the limits were, for naming them in an [`Outcome`].
pub(crate) struct Budget {
    pub(crate) fuel: u64,
    pub(crate) memory: usize,
    pub(crate) handles: usize,
    pub(crate) deadline: Option<Duration>,
}

/// Classifies the error a guest run ended with. `memory_refused` is the total the
/// guest asked for when the limiter refused a growth, if it did.
pub(crate) fn classify(
    error: &wasmtime::Error,
    memory_refused: Option<usize>,
    budget: &Budget,
) -> Outcome {
    if let Some(exit) = error.downcast_ref::<I32Exit>() {
        return Outcome::Exited(exit.0);
    }
    if let Some(ResourceTableError::Full) = error.downcast_ref::<ResourceTableError>() {
        return Outcome::HandleLimit {
            limit: budget.handles,
        };
    }
    let trap = error.downcast_ref::<Trap>().copied();
    if trap == Some(Trap::OutOfFuel) {
        return Outcome::CpuLimit { fuel: budget.fuel };
    }
    if let Some(requested) = memory_refused {
        return Outcome::MemoryLimit {
            limit: budget.memory,
            requested,
        };
    }
    match trap {
        Some(Trap::UnreachableCodeReached) => Outcome::Panicked,
        Some(trap) => Outcome::Trapped {
            trap: Some(trap),
            message: trap.to_string(),
        },
        None => Outcome::Trapped {
            trap: None,
            message: crate::error::describe(error),
        },
    }
}

pub(crate) fn stop_outcome(stop: Stop, budget: &Budget) -> Outcome {
    match stop {
        Stop::Killed => Outcome::Killed,
        Stop::Deadline => Outcome::Deadline(budget.deadline.unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUDGET: Budget = Budget {
        fuel: 10,
        memory: 1 << 20,
        handles: 5,
        deadline: Some(Duration::from_secs(2)),
    };

    #[test]
    fn classifies_each_cause() {
        let exit = wasmtime::Error::new(I32Exit(3));
        assert_eq!(classify(&exit, Some(9), &BUDGET), Outcome::Exited(3));
        let fuel = wasmtime::Error::new(Trap::OutOfFuel);
        assert_eq!(
            classify(&fuel, Some(9), &BUDGET),
            Outcome::CpuLimit { fuel: 10 }
        );
        let unreachable = wasmtime::Error::new(Trap::UnreachableCodeReached);
        assert_eq!(classify(&unreachable, None, &BUDGET), Outcome::Panicked);
        assert_eq!(
            classify(&unreachable, Some(2 << 20), &BUDGET),
            Outcome::MemoryLimit {
                limit: 1 << 20,
                requested: 2 << 20
            }
        );
        let exit_in_context = wasmtime::Error::new(I32Exit(0)).context("while running");
        assert_eq!(
            classify(&exit_in_context, None, &BUDGET),
            Outcome::Exited(0)
        );
        let deadline = stop_outcome(Stop::Deadline, &BUDGET);
        assert_eq!(deadline, Outcome::Deadline(Duration::from_secs(2)));
        assert_eq!(stop_outcome(Stop::Killed, &BUDGET), Outcome::Killed);
        let full = wasmtime::Error::new(ResourceTableError::Full);
        assert_eq!(
            classify(&full, None, &BUDGET),
            Outcome::HandleLimit { limit: 5 }
        );
        let oob = wasmtime::Error::new(Trap::MemoryOutOfBounds);
        assert!(matches!(
            classify(&oob, None, &BUDGET),
            Outcome::Trapped {
                trap: Some(Trap::MemoryOutOfBounds),
                ..
            }
        ));
        let other = wasmtime::Error::msg("resource has children");
        assert!(matches!(
            classify(&other, None, &BUDGET),
            Outcome::Trapped { trap: None, message } if message.contains("children")
        ));
    }

    #[test]
    fn outcome_text_names_the_cause() {
        assert_eq!(Outcome::Exited(0).to_string(), "exited with status 0");
        assert!(Outcome::Exited(0).success() && !Outcome::Exited(2).success());
        assert_eq!(
            Outcome::MemoryLimit {
                limit: 64 << 20,
                requested: 65 << 20
            }
            .to_string(),
            "stopped: memory limit of 64.0 MiB exceeded (asked for 65.0 MiB)"
        );
        assert_eq!(Bytes(512).to_string(), "512 B");
    }
}
