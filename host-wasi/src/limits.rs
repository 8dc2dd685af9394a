//! What a guest may consume: memory, CPU, wall-clock time, handles and captured output.
//!
//! - **Memory** is the guest's linear memories added together. A `memory.grow` past the
//!   limit fails (the guest sees the allocation fail); a Rust guest then aborts, and the
//!   report says the memory limit was the cause.
//! - **CPU** is counted in wasmtime *fuel*: roughly one unit per WebAssembly instruction
//!   the guest executes. Fuel is only consumed while guest code runs, so time blocked in
//!   `wasi:io/poll` or any other host call is never charged. Out of fuel, the guest
//!   traps. [`FUEL_PER_CPU_SECOND`] converts a CPU time into fuel.
//! - **Deadline** is wall-clock time from the start of the run; when it passes, the
//!   guest is stopped whether it is computing or blocked in the host.
//! - **Handles** bounds the entries in the guest's WASI resource table (sockets,
//!   streams, pollables, timers; a timer pollable takes two), and so the host file
//!   descriptors it can hold. Past it, the call that needed one more traps.
//! - **Output** bounds how much captured stdout/stderr is kept; the rest is dropped (the
//!   guest is not told, so logging never kills it).

use std::time::Duration;

use wasmtime::ResourceLimiter;

/// Fuel that stands for one second of guest CPU time: one billion WebAssembly
/// instructions.
///
/// Fuel counts work, not time, so the same budget stops a guest at the same point on
/// every machine. The conversion is conservative: a tight arithmetic loop runs about four
/// billion instructions a second on a current core, code heavy in memory access and host
/// calls fewer, so a guest given a CPU time is stopped at or before it. Give fuel for an
/// exact budget.
pub const FUEL_PER_CPU_SECOND: u64 = 1_000_000_000;

/// A guest's resource limits.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use host_wasi::Limits;
///
/// let limits = Limits::new()
///     .max_memory(64 << 20)
///     .max_cpu_time(Duration::from_secs(2))
///     .with_deadline(Some(Duration::from_secs(60)));
/// assert_eq!(limits.fuel(), Some(2_000_000_000));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    memory: usize,
    fuel: Option<u64>,
    deadline: Option<Duration>,
    handles: usize,
    output: usize,
}

impl Limits {
    /// Default memory limit: 256 MiB.
    pub const DEFAULT_MEMORY: usize = 256 << 20;
    /// Default handle limit: 65,536 live WASI resources.
    pub const DEFAULT_HANDLES: usize = 65_536;
    /// Default captured output kept per stream: 1 MiB.
    pub const DEFAULT_OUTPUT: usize = 1 << 20;

    /// The defaults: memory [`DEFAULT_MEMORY`](Self::DEFAULT_MEMORY), no CPU limit, no
    /// deadline, handles [`DEFAULT_HANDLES`](Self::DEFAULT_HANDLES), captured output
    /// [`DEFAULT_OUTPUT`](Self::DEFAULT_OUTPUT) per stream.
    ///
    /// A guest server runs until it is stopped, so CPU and time are unlimited unless set.
    pub fn new() -> Self {
        Self {
            memory: Self::DEFAULT_MEMORY,
            fuel: None,
            deadline: None,
            handles: Self::DEFAULT_HANDLES,
            output: Self::DEFAULT_OUTPUT,
        }
    }

    /// Caps the guest's linear memories, added together, at `bytes`.
    pub fn max_memory(mut self, bytes: usize) -> Self {
        self.memory = bytes;
        self
    }

    /// Caps the guest's CPU at `fuel` units (`None`: unlimited).
    pub fn max_fuel(mut self, fuel: Option<u64>) -> Self {
        self.fuel = fuel;
        self
    }

    /// Caps the guest's CPU at `time`, converted with [`FUEL_PER_CPU_SECOND`].
    pub fn max_cpu_time(self, time: Duration) -> Self {
        self.max_fuel(Some(fuel_for(time)))
    }

    /// Stops the guest `deadline` after it starts (`None`: never).
    pub fn with_deadline(mut self, deadline: Option<Duration>) -> Self {
        self.deadline = deadline;
        self
    }

    /// Caps the number of live WASI resources (sockets, streams, pollables, …).
    pub fn max_handles(mut self, handles: usize) -> Self {
        self.handles = handles;
        self
    }

    /// Keeps at most `bytes` of each captured output stream.
    pub fn max_output(mut self, bytes: usize) -> Self {
        self.output = bytes;
        self
    }

    /// The memory limit in bytes.
    pub fn memory(&self) -> usize {
        self.memory
    }

    /// The CPU limit in fuel, if any.
    pub fn fuel(&self) -> Option<u64> {
        self.fuel
    }

    /// The wall-clock deadline, if any.
    pub fn deadline(&self) -> Option<Duration> {
        self.deadline
    }

    /// The handle limit.
    pub fn handles(&self) -> usize {
        self.handles
    }

    /// The captured output kept per stream, in bytes.
    pub fn output(&self) -> usize {
        self.output
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::new()
    }
}

/// Fuel for `time` of CPU at [`FUEL_PER_CPU_SECOND`], saturating.
pub fn fuel_for(time: Duration) -> u64 {
    let fuel = time.as_nanos() * u128::from(FUEL_PER_CPU_SECOND) / 1_000_000_000;
    u64::try_from(fuel).unwrap_or(u64::MAX)
}

/// The limiter wasmtime consults before every memory or table growth: enforces the
/// memory limit across all of the guest's memories and remembers a refusal, so a trap
/// that follows can be blamed on the limit.
#[derive(Debug)]
pub(crate) struct GuestLimiter {
    limit: usize,
    used: usize,
    peak: usize,
    refused: Option<usize>,
}

/// Table elements one guest may have (funcref tables of Rust guests hold a few
/// thousand entries).
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl GuestLimiter {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            used: 0,
            peak: 0,
            refused: None,
        }
    }

    /// The total size the guest asked for when a growth was refused, if one was.
    pub(crate) fn refused(&self) -> Option<usize> {
        self.refused
    }

    /// The most linear memory the guest held at once.
    pub(crate) fn peak(&self) -> usize {
        self.peak
    }
}

impl ResourceLimiter for GuestLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let growth = desired.saturating_sub(current);
        let total = self.used.saturating_add(growth);
        if total > self.limit || maximum.is_some_and(|max| desired > max) {
            if total > self.limit {
                self.refused = Some(total);
            }
            return Ok(false);
        }
        self.used = total;
        self.peak = self.peak.max(total);
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        // The grow was allowed but the OS refused the pages: the guest sees the failure,
        // as it would its own limit.
        Ok(())
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS && maximum.is_none_or(|max| desired <= max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_lists_its_documented_defaults() {
        let limits = Limits::new();
        assert_eq!(limits.memory(), 256 << 20);
        assert_eq!(limits.fuel(), None);
        assert_eq!(limits.deadline(), None);
        assert_eq!(limits.handles(), 65_536);
        assert_eq!(limits.output(), 1 << 20);
        assert_eq!(Limits::default(), limits);
    }

    #[test]
    fn cpu_time_converts_to_fuel() {
        assert_eq!(fuel_for(Duration::from_secs(1)), FUEL_PER_CPU_SECOND);
        assert_eq!(
            fuel_for(Duration::from_millis(250)),
            FUEL_PER_CPU_SECOND / 4
        );
        assert_eq!(fuel_for(Duration::MAX), u64::MAX);
        assert_eq!(
            Limits::new().max_cpu_time(Duration::from_secs(3)).fuel(),
            Some(3_000_000_000)
        );
    }

    #[test]
    fn limiter_counts_all_memories_together() {
        let mut l = GuestLimiter::new(100);
        assert!(l.memory_growing(0, 60, None).unwrap());
        assert!(l.memory_growing(0, 30, None).unwrap(), "a second memory");
        assert_eq!(l.refused(), None);
        assert!(
            !l.memory_growing(60, 80, None).unwrap(),
            "60 + 30 + 20 > 100"
        );
        assert_eq!(l.refused(), Some(110));
        assert!(l.memory_growing(30, 40, None).unwrap(), "still room for 10");
        assert_eq!(l.peak(), 100);
    }

    #[test]
    fn limiter_respects_the_memory_maximum_without_blaming_the_limit() {
        let mut l = GuestLimiter::new(1000);
        assert!(!l.memory_growing(10, 20, Some(15)).unwrap());
        assert_eq!(l.refused(), None);
    }
}
