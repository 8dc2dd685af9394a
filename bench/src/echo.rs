//! The echo benchmark: every server under the same closed-loop load, side by side.
//!
//! All servers are started once and stay up. Each round measures every message size on
//! every server, the server order rotated by one per round, so that a burst of noise on
//! this machine lands on different servers in different rounds; the table shows each
//! figure's median over the rounds. One measurement opens fresh connections, runs the
//! warm-up, reads the server's CPU time, runs the measured window and reads it again.

use std::time::Duration;

use crate::client::{Load, LoadConfig, Measurement};
use crate::error::Result;
use crate::process::ServerProcess;
use crate::procfs;
use crate::slot::{Outcome, Slot};
use crate::spec::{Availability, BASELINE};
use crate::table::{Table, median, thousands};
use crate::units::format_size;

/// What the echo benchmark runs.
#[derive(Debug, Clone)]
pub struct EchoOptions {
    /// Message sizes in bytes.
    pub sizes: Vec<usize>,
    /// Concurrent connections per measurement.
    pub connections: usize,
    /// Load before the measured window (not measured).
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
    /// How many times each server and size is measured.
    pub rounds: usize,
    /// Client threads.
    pub client_threads: usize,
}

impl Default for EchoOptions {
    /// 1 KiB and 64 KiB, 10 connections, 1 s warm-up, 3 s measured, 3 rounds, one client
    /// thread.
    fn default() -> Self {
        EchoOptions {
            sizes: vec![1024, 64 * 1024],
            connections: 10,
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(3),
            rounds: 3,
            client_threads: 1,
        }
    }
}

/// One measurement of one server at one size.
#[derive(Debug, Clone, PartialEq)]
pub struct EchoSample {
    /// Round trips completed and verified in the window.
    pub round_trips: u64,
    /// Round trips per second.
    pub round_trips_per_sec: f64,
    /// Median latency.
    pub p50: Duration,
    /// 99th-percentile latency.
    pub p99: Duration,
    /// Server CPU time (user + system) per round trip, in microseconds.
    pub server_cpu_us: f64,
    /// The user-mode part of `server_cpu_us`: the server's own code, without the
    /// kernel's socket work, which is much the same for every server.
    pub server_user_us: f64,
    /// The client's (this process's) CPU time per round trip, in microseconds.
    pub client_cpu_us: f64,
}

/// The rounds of one server at one size and their medians.
#[derive(Debug, Clone, PartialEq)]
pub struct EchoSummary {
    /// Every round's sample, in the order measured.
    pub rounds: Vec<EchoSample>,
    /// Each field's median over the rounds (`round_trips` is the total).
    pub median: EchoSample,
}

impl EchoSummary {
    fn from_rounds(rounds: Vec<EchoSample>) -> EchoSummary {
        let field = |f: fn(&EchoSample) -> f64| median(&rounds.iter().map(f).collect::<Vec<_>>());
        let median = EchoSample {
            round_trips: rounds.iter().map(|s| s.round_trips).sum(),
            round_trips_per_sec: field(|s| s.round_trips_per_sec),
            p50: Duration::from_secs_f64(field(|s| s.p50.as_secs_f64())),
            p99: Duration::from_secs_f64(field(|s| s.p99.as_secs_f64())),
            server_cpu_us: field(|s| s.server_cpu_us),
            server_user_us: field(|s| s.server_user_us),
            client_cpu_us: field(|s| s.client_cpu_us),
        };
        EchoSummary { rounds, median }
    }

    /// The spread of round trips/s over the rounds: (max − min) / 2 / median.
    pub fn spread(&self) -> f64 {
        let values = self.rounds.iter().map(|s| s.round_trips_per_sec);
        let max = values.clone().fold(f64::MIN, f64::max);
        let min = values.fold(f64::MAX, f64::min);
        (max - min) / 2.0 / self.median.round_trips_per_sec
    }
}

/// One row of the echo table.
#[derive(Debug, Clone, PartialEq)]
pub struct EchoRow {
    /// The server's name.
    pub server: String,
    /// The message size in bytes.
    pub size: usize,
    /// The medians, or why there are none.
    pub outcome: Outcome<EchoSummary>,
}

/// The echo benchmark's result.
#[derive(Debug, Clone)]
pub struct EchoReport {
    /// The options it ran with.
    pub options: EchoOptions,
    /// One row per server and size, sizes outermost.
    pub rows: Vec<EchoRow>,
}

impl EchoReport {
    /// The row of `server` at `size`.
    pub fn row(&self, server: &str, size: usize) -> Option<&EchoRow> {
        self.rows
            .iter()
            .find(|r| r.server == server && r.size == size)
    }

    /// Whether any server failed.
    pub fn any_failed(&self) -> bool {
        self.rows
            .iter()
            .any(|r| matches!(r.outcome, Outcome::Failed(_)))
    }

    /// The table: medians, and ratios against the baseline ([`BASELINE`]) at the same
    /// size.
    pub fn table(&self) -> Table {
        let mut table = Table::new(&[
            "server",
            "size",
            "round trips/s",
            "± (rounds)",
            "p50 µs",
            "p99 µs",
            "server CPU µs/rt",
            "of which user",
            "client CPU µs/rt",
            "rt/s vs tokio",
            "CPU vs tokio",
        ]);
        let mut skipped: Vec<&str> = Vec::new();
        for row in &self.rows {
            let mut cells = vec![row.server.clone(), format_size(row.size)];
            match &row.outcome {
                Outcome::Measured(summary) => {
                    let m = &summary.median;
                    let base = self
                        .row(BASELINE, row.size)
                        .and_then(|b| b.outcome.measured())
                        .map(|b| &b.median);
                    let ratio = |value: f64, base: Option<f64>| match base {
                        Some(b) if b > 0.0 => format!("{:.2}×", value / b),
                        _ => "—".into(),
                    };
                    cells.extend([
                        thousands(m.round_trips_per_sec),
                        format!("{:.0}%", summary.spread() * 100.0),
                        format!("{:.0}", m.p50.as_secs_f64() * 1e6),
                        format!("{:.0}", m.p99.as_secs_f64() * 1e6),
                        format!("{:.1}", m.server_cpu_us),
                        format!("{:.1}", m.server_user_us),
                        format!("{:.1}", m.client_cpu_us),
                        ratio(m.round_trips_per_sec, base.map(|b| b.round_trips_per_sec)),
                        ratio(m.server_cpu_us, base.map(|b| b.server_cpu_us)),
                    ]);
                }
                Outcome::Unavailable(reason) => {
                    cells.push("skipped".into());
                    if !skipped.contains(&row.server.as_str()) {
                        skipped.push(&row.server);
                        table.note(format!("{} skipped: {reason}", row.server));
                    }
                }
                Outcome::Failed(message) => {
                    cells.push("failed".into());
                    table.note(format!(
                        "{} failed at {}: {message}",
                        row.server,
                        format_size(row.size)
                    ));
                }
            }
            table.row(cells);
        }
        let o = &self.options;
        table.note(format!(
            "{} connections, closed loop, {} client thread(s); {} s warm-up, {} s measured, \
             median of {} round(s); CPU = utime + stime from /proc per round trip, \
             user = utime alone",
            o.connections,
            o.client_threads,
            o.warmup.as_secs_f64(),
            o.duration.as_secs_f64(),
            o.rounds
        ));
        table
    }
}

/// Runs the echo benchmark against `servers`; `log` hears about each measurement.
pub fn run_echo(
    servers: &[Availability],
    options: &EchoOptions,
    log: &mut dyn FnMut(&str),
) -> EchoReport {
    let mut slots: Vec<Slot> = servers.iter().map(|a| Slot::start(a, log)).collect();
    let n = slots.len();
    // samples[size][server]; a cell that failed keeps its error and is not measured again.
    let mut samples: Vec<Vec<Result<Vec<EchoSample>, String>>> = options
        .sizes
        .iter()
        .map(|_| (0..n).map(|_| Ok(Vec::new())).collect())
        .collect();
    for round in 0..options.rounds {
        for (si, &size) in options.sizes.iter().enumerate() {
            for k in 0..n {
                let index = (k + round) % n;
                let slot = &mut slots[index];
                let name = slot.name.clone();
                let Some(server) = slot.server() else {
                    continue;
                };
                let Ok(cell) = &mut samples[si][index] else {
                    continue;
                };
                match measure(server, size, options) {
                    Ok(sample) => {
                        log(&format!(
                            "round {}/{} {:>7} {:<16} {:>9} rt/s  p50 {:>5.0} µs  p99 {:>5.0} µs  server CPU {:>6.1} µs/rt (user {:.1})",
                            round + 1,
                            options.rounds,
                            format_size(size),
                            name,
                            thousands(sample.round_trips_per_sec),
                            sample.p50.as_secs_f64() * 1e6,
                            sample.p99.as_secs_f64() * 1e6,
                            sample.server_cpu_us,
                            sample.server_user_us,
                        ));
                        cell.push(sample);
                    }
                    Err(e) => {
                        log(&format!("{name} at {}: {e}", format_size(size)));
                        samples[si][index] = Err(e.to_string());
                        if let Err(dead) = server.check_running() {
                            slot.fail(dead.to_string());
                        }
                    }
                }
            }
        }
    }
    let mut rows = Vec::with_capacity(options.sizes.len() * n);
    for (si, &size) in options.sizes.iter().enumerate() {
        for (index, slot) in slots.iter().enumerate() {
            let outcome = match &samples[si][index] {
                Err(message) => Outcome::Failed(message.clone()),
                Ok(rounds) if !rounds.is_empty() => {
                    Outcome::Measured(EchoSummary::from_rounds(rounds.clone()))
                }
                Ok(_) => slot
                    .not_running()
                    .unwrap_or_else(|| Outcome::Failed("no round was measured".into())),
            };
            rows.push(EchoRow {
                server: slot.name.clone(),
                size,
                outcome,
            });
        }
    }
    EchoReport {
        options: options.clone(),
        rows,
    }
}

/// One measurement: fresh connections, warm-up, then the window with the server's CPU
/// time read on both sides.
fn measure(server: &mut ServerProcess, size: usize, options: &EchoOptions) -> Result<EchoSample> {
    server.check_running()?;
    let mut load = Load::connect(&LoadConfig {
        addr: server.addr(),
        connections: options.connections,
        message_size: size,
        threads: options.client_threads,
    })?;
    if !options.warmup.is_zero() {
        load.run_for(options.warmup)?;
    }
    let self_pid = std::process::id();
    let client_cpu = || {
        procfs::cpu_time(self_pid).map_err(|e| crate::Error::io("read the client's CPU time", e))
    };
    let (server0, client0) = (server.cpu_time()?, client_cpu()?);
    let m: Measurement = load.run_for(options.duration)?;
    let (server1, client1) = (server.cpu_time()?, client_cpu()?);
    drop(load);
    server.check_running()?;
    let (server, client) = (server1.since(&server0), client1.since(&client0));
    let per_rt = |d: Duration| d.as_secs_f64() * 1e6 / m.round_trips as f64;
    Ok(EchoSample {
        round_trips: m.round_trips,
        round_trips_per_sec: m.round_trips_per_sec(),
        p50: m.latency_at(0.5),
        p99: m.latency_at(0.99),
        server_cpu_us: per_rt(server.total()),
        server_user_us: per_rt(server.user),
        client_cpu_us: per_rt(client.total()),
    })
}
