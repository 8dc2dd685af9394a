//! The simulation backend's runner: a scenario on [`SimNet`], fault-free (compared with
//! its golden trace) and under [`SEEDS`] seeds with injected faults (each run twice to
//! check that the seed reproduces it, and compared with the fault-free run to check that
//! no bytes were lost or reordered).

use std::fmt;
use std::ops::Range;
use std::time::Duration;

use loop_core::sim::{FaultPlan, NetConfig, NetEvent, SimHost, SimNet};
use loop_core::{EventLoop, Instant};

use crate::context::{Cx, Env};
use crate::diff::{self, ResetOutcome};
use crate::golden;
use crate::runner::finish;
use crate::trace::TraceLog;
use crate::{Faults, Scenario, run_scenario};

/// Seeds each scenario runs under on the simulation.
pub const SEEDS: u64 = 100;

/// The seed of the fault-free run.
pub const IDEAL_SEED: u64 = 0;

/// Everything a simulated run produced, to compare two runs of one seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimRun {
    /// The scenario's trace.
    pub trace: TraceLog,
    /// What happened on the simulated wire, with virtual times.
    pub wire: Vec<NetEvent>,
    /// The virtual time when the run ended.
    pub end: Instant,
    /// How many times the loop polled.
    pub polls: u64,
}

/// The fault-free network: no latency, no splitting, immediate accept.
pub fn ideal_config() -> NetConfig {
    NetConfig::default()
}

/// The faults seed `seed` injects: random latency (up to 5.5 ms, so segments arrive
/// split and late), random segment sizes (reads see any split of the stream; larger
/// ones for [`Faults::Bulk`]), a random accept delay, a random window (small windows
/// make writers block and buffer), and, for [`Faults::Resets`], resets on segment
/// arrival.
pub fn fault_config(seed: u64, faults: Faults) -> NetConfig {
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x5eed_c0de_fa17_0000);
    let min = Duration::from_micros(rng.u64(0..=500));
    let max = min + Duration::from_micros(rng.u64(0..=5_000));
    let segment = match faults {
        Faults::Bulk => [1024, 1460, 8192, 65_536][rng.usize(0..4)],
        Faults::Standard | Faults::Resets => [1, 3, 16, 100, 1460, 8192, 65_536][rng.usize(0..7)],
    };
    let window = [1024, 4096, 16_384, 65_536][rng.usize(0..4)];
    let accept = Duration::from_micros(rng.u64(0..=10_000));
    let plan = match faults {
        Faults::Standard | Faults::Bulk => FaultPlan::none(),
        Faults::Resets => FaultPlan::none().with_reset_probability(0.01 + rng.f64() * 0.09),
    };
    NetConfig::default()
        .with_latency(min, max)
        .with_max_segment(segment)
        .with_stream_window(window)
        .with_accept_delay(accept)
        .with_faults(plan)
}

/// A short description of a network configuration, for failure messages.
pub fn describe(config: &NetConfig) -> String {
    format!(
        "latency {:?}..{:?}, segments <= {:?}, window {}, accept delay <= {:?}, reset probability {:.3}",
        config.min_latency,
        config.max_latency,
        config.max_segment,
        config.stream_window,
        config.accept_delay,
        config.faults.reset_probability
    )
}

/// Run scenario `name` on a simulated world seeded with `seed`.
///
/// # Errors
///
/// A description naming the scenario, the seed and the network when the scenario
/// fails, or leaves tasks or connections behind.
pub fn run(name: &str, seed: u64, config: NetConfig) -> Result<SimRun, String> {
    let backend = format!("sim seed {seed} ({})", describe(&config));
    let host = SimHost::new(seed);
    let lp = EventLoop::new(host.clone());
    let net = SimNet::with_config(&lp, &host, config);
    net.set_tracing(true);
    let cx = Cx::new(net.clone(), Env::loopback_v4("sim"));
    let outcome = run_scenario(name, &cx).ok_or_else(|| format!("no scenario named `{name}`"))?;
    if let Err(e) = outcome {
        return Err(format!(
            "scenario `{name}` failed on {backend}: {e}\ntrace so far:\n{}",
            cx.trace().log()
        ));
    }
    finish(&cx).map_err(|e| format!("scenario `{name}` on {backend}: {e}"))?;
    if net.open_streams() != 0 {
        return Err(format!(
            "scenario `{name}` on {backend} left {} stream end(s) open: close every connection",
            net.open_streams()
        ));
    }
    let trace = cx.trace().log();
    lp.close()
        .map_err(|e| format!("scenario `{name}` on {backend}: closing the loop: {e}"))?;
    Ok(SimRun {
        trace,
        wire: net.trace(),
        end: host.now(),
        polls: host.polls(),
    })
}

/// Run `name` fault-free and compare with its golden trace (writing it when blessing).
/// Returns the trace.
///
/// # Errors
///
/// The scenario failed, has no golden trace, or differs from it.
pub fn check_golden(name: &str) -> Result<TraceLog, String> {
    let run = run(name, IDEAL_SEED, ideal_config())?;
    let golden = golden::load(name)?;
    if golden::blessing() {
        if golden.as_ref() != Some(&run.trace) {
            golden::write(name, &run.trace)?;
        }
        return Ok(run.trace);
    }
    let Some(golden) = golden else {
        return Err(format!(
            "scenario `{name}` has no golden trace ({}); review this trace and write it with \
             {}=1:\n{}",
            golden::path(name).display(),
            golden::BLESS_VAR,
            run.trace
        ));
    };
    diff::compare(name, ("golden", &golden), ("sim", &run.trace)).map_err(|d| d.to_string())?;
    Ok(run.trace)
}

/// What a seed sweep found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepSummary {
    /// Seeds run (each twice).
    pub seeds: u64,
    /// Seeds whose trace a reset cut short ([`Faults::Resets`] only).
    pub truncated: u64,
}

impl fmt::Display for SweepSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} seeds, {} cut short by a reset",
            self.seeds, self.truncated
        )
    }
}

/// Run `scenario` under each seed of `seeds` with injected faults, twice per seed.
/// Checks that a seed reproduces its run exactly (trace, wire events, virtual time,
/// polls) and that the trace equals `reference` (the fault-free trace) — or, for
/// [`Faults::Resets`], is `reference` cut short by a reset with nothing lost or
/// reordered before it, at least one seed being cut short.
///
/// # Errors
///
/// The first failing seed: the scenario, the seed, its network and the difference.
pub fn sweep(
    scenario: &Scenario,
    reference: &TraceLog,
    seeds: Range<u64>,
) -> Result<SweepSummary, String> {
    let name = scenario.name;
    let mut summary = SweepSummary::default();
    for seed in seeds {
        let config = fault_config(seed, scenario.faults);
        let backend = format!("sim seed {seed}");
        let first = run(name, seed, config.clone())?;
        let again = run(name, seed, config.clone())?;
        if first != again {
            let what = if first.trace != again.trace {
                diff::compare(
                    name,
                    (&format!("{backend} (first run)"), &first.trace),
                    (&format!("{backend} (second run)"), &again.trace),
                )
                .err()
                .map(|d| d.to_string())
                .unwrap_or_default()
            } else if first.wire != again.wire {
                let i = first
                    .wire
                    .iter()
                    .zip(&again.wire)
                    .position(|(a, b)| a != b)
                    .unwrap_or(first.wire.len().min(again.wire.len()));
                format!(
                    "wire event {i} differs: {:?} then {:?}",
                    first.wire.get(i),
                    again.wire.get(i)
                )
            } else {
                format!(
                    "ended at {:?} after {} polls, then at {:?} after {} polls",
                    first.end, first.polls, again.end, again.polls
                )
            };
            return Err(format!(
                "scenario `{name}`: {backend} does not reproduce its run ({}):\n{what}",
                describe(&config)
            ));
        }
        match scenario.faults {
            Faults::Standard | Faults::Bulk => {
                diff::compare(
                    name,
                    ("sim fault-free", reference),
                    (&backend, &first.trace),
                )
                .map_err(|d| format!("{d}  network of {backend}: {}", describe(&config)))?;
            }
            Faults::Resets => match diff::compare_reset_tolerant(reference, &first.trace) {
                Ok(ResetOutcome::Identical) => {}
                Ok(ResetOutcome::Truncated) => summary.truncated += 1,
                Err(mismatch) => {
                    let d = diff::TraceDiff {
                        scenario: name.to_owned(),
                        expected_backend: "sim fault-free".to_owned(),
                        actual_backend: backend.clone(),
                        mismatch: *mismatch,
                        actual: first.trace.clone(),
                    };
                    return Err(format!(
                        "{d}  (not explained by a reset) network of {backend}: {}",
                        describe(&config)
                    ));
                }
            },
        }
        summary.seeds += 1;
    }
    if scenario.faults == Faults::Resets && summary.seeds > 0 && summary.truncated == 0 {
        return Err(format!(
            "scenario `{name}` runs with injected resets, but no seed was cut short by one: \
             it does not exercise resets"
        ));
    }
    Ok(summary)
}
