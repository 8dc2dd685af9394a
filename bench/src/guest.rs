//! The guest benchmark (issue 5): Tulip's echo protocol as a WASI 0.2 guest under
//! `tulip`, side by side with the very same protocol source on host-native, under the
//! same load client.
//!
//! # What it builds
//!
//! - the echo guest, `guest-sdk/examples/echo.rs` for `wasm32-wasip2` (the protocol is
//!   `examples/echo`, the source host-native's `echo_server_protocol` runs), with the
//!   harness's profile;
//! - `tulip` (`host-wasi`), which precompiles the guest (`tulip compile`) and then runs
//!   the `.cwasm` with one grant, `--listen` on the benchmark's port, and default limits;
//! - host-native's `echo_server_protocol` example, the native side;
//! - host-wasi's `guest_start` example, which times guest starts from the `.cwasm`.
//!
//! # How it measures
//!
//! Two phases: the busy connections alone, then the same with `idle` extra connections
//! open to each server, connected and accepted before the rounds and sending nothing
//! while the busy ones are measured (every poll of the guest must still watch them).
//! Each phase starts both servers fresh. A round measures every size on both servers
//! (as the `echo` mode does: fresh connections, warm-up, measured window, server CPU from
//! `/proc`), the order of the two alternating per round. A round's *ratio* is the
//! guest's round trips/s over the native server's in that round, measured seconds apart,
//! so noise from the rest of the machine cancels better than in a ratio of medians; the
//! table gives the median of the rounds' ratios and their range.
//!
//! Finally `guest_start` instantiates the precompiled guest `start_runs` times (without
//! grants, so the echo guest exits as soon as its `listen` is refused) and reports the
//! median and 90th percentile of the start time: executor, WASI context, store and
//! instantiation, from a module that is already compiled and linked, as `tulip run`
//! starts one.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::echo::{EchoOptions, EchoSample, EchoSummary, measure};
use crate::error::{Error, Result};
use crate::limits;
use crate::process::ServerProcess;
use crate::slot::{Outcome, Slot};
use crate::spec::{Availability, Environment, Launch, ServerSpec, prepare};
use crate::table::{Table, median, thousands};
use crate::units::{format_size, parse_duration, parse_size};

/// The native server's name in the logs.
pub const NATIVE: &str = "native";
/// The guest's name in the logs.
pub const GUEST: &str = "guest";

/// Issue 5's target: guest round trips/s at least this fraction of native, busy
/// connections alone.
pub const TARGET_BUSY: f64 = 0.7;
/// Issue 5's target with the extra idle connections open.
pub const TARGET_IDLE: f64 = 0.5;
/// Issue 5's target for a guest start from a precompiled module.
pub const TARGET_START: Duration = Duration::from_millis(1);

/// How long a server may take to accept the idle connections.
const ACCEPT_LIMIT: Duration = Duration::from_secs(60);
/// How long the whole start-time probe may take.
const START_PROBE_LIMIT: Duration = Duration::from_secs(120);

/// The `guest` subcommand's options.
#[derive(Debug, Clone, clap::Args)]
pub struct GuestArgs {
    /// Message sizes, comma-separated (1024, 1KiB, 64KiB).
    #[arg(long, value_delimiter = ',', default_value = "1KiB,64KiB", value_parser = size_arg)]
    pub sizes: Vec<usize>,
    /// Busy connections, each with one message in flight.
    #[arg(long, default_value_t = 10)]
    pub connections: usize,
    /// Extra idle connections of the second phase (0: skip it).
    #[arg(long, default_value_t = 1000)]
    pub idle: usize,
    /// Load before each measured window.
    #[arg(long, default_value = "1s", value_parser = duration_arg)]
    pub warmup: Duration,
    /// Each measured window.
    #[arg(long, default_value = "3s", value_parser = duration_arg)]
    pub duration: Duration,
    /// Rounds per phase; each measures every size on both servers.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Guest starts timed (0: skip).
    #[arg(long, default_value_t = 200)]
    pub start_runs: usize,
    /// Client threads the connections are spread over.
    #[arg(long, default_value_t = 1)]
    pub client_threads: usize,
    /// Measure this guest (a WASI 0.2 echo component, .wasm, taking its listen address
    /// as first argument) instead of building guest-sdk's echo example; its .cwasm is
    /// written next to it.
    #[arg(long, value_name = "FILE.wasm")]
    pub guest: Option<PathBuf>,
}

fn size_arg(text: &str) -> std::result::Result<usize, String> {
    parse_size(text).map_err(|e| e.to_string())
}

fn duration_arg(text: &str) -> std::result::Result<Duration, String> {
    parse_duration(text).map_err(|e| e.to_string())
}

impl GuestArgs {
    /// The options these arguments ask for.
    pub fn options(&self) -> GuestOptions {
        GuestOptions {
            sizes: self.sizes.clone(),
            connections: self.connections,
            idle: self.idle,
            warmup: self.warmup,
            duration: self.duration,
            rounds: self.rounds.max(1),
            start_runs: self.start_runs,
            client_threads: self.client_threads,
            guest: self.guest.clone(),
        }
    }
}

/// What the guest benchmark runs.
#[derive(Debug, Clone)]
pub struct GuestOptions {
    /// Message sizes in bytes.
    pub sizes: Vec<usize>,
    /// Busy connections per measurement.
    pub connections: usize,
    /// Extra idle connections of the second phase (0: no second phase).
    pub idle: usize,
    /// Load before each measured window.
    pub warmup: Duration,
    /// Each measured window.
    pub duration: Duration,
    /// Rounds per phase.
    pub rounds: usize,
    /// Guest starts timed (0: none).
    pub start_runs: usize,
    /// Client threads.
    pub client_threads: usize,
    /// The guest measured, when not guest-sdk's echo example.
    pub guest: Option<PathBuf>,
}

impl Default for GuestOptions {
    /// 1 KiB and 64 KiB, 10 busy connections, then 1,000 idle ones more; 1 s warm-up,
    /// 3 s measured, 5 rounds; 200 timed starts.
    fn default() -> Self {
        GuestOptions {
            sizes: vec![1024, 64 * 1024],
            connections: 10,
            idle: 1000,
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(3),
            rounds: 5,
            start_runs: 200,
            client_threads: 1,
            guest: None,
        }
    }
}

impl GuestOptions {
    fn echo_options(&self) -> EchoOptions {
        EchoOptions {
            sizes: self.sizes.clone(),
            connections: self.connections,
            warmup: self.warmup,
            duration: self.duration,
            rounds: self.rounds,
            client_threads: self.client_threads,
        }
    }
}

/// The programs the benchmark runs, built and ready (or why not).
#[derive(Debug, Clone)]
pub struct GuestSetup {
    /// host-native's `echo_server_protocol`.
    pub native: Availability,
    /// `tulip run echo.cwasm --listen 127.0.0.1:{port} -- 127.0.0.1:{port}`.
    pub guest: Availability,
    /// `guest_start echo.cwasm RUNS`.
    pub start_probe: Availability,
}

/// Builds everything, the echo guest unless `guest` names
/// a `.wasm` to use instead; a part that cannot be built is
/// [`Availability::Unavailable`] with cargo's or tulip's words.
pub fn prepare_guest(
    env: &Environment,
    guest: Option<&Path>,
    log: &mut dyn FnMut(&str),
) -> GuestSetup {
    let native = prepare(
        &ServerSpec::cargo_example(
            NATIVE,
            "host-native",
            "echo_server_protocol",
            &["127.0.0.1:{port}"],
        ),
        env,
    );
    let unavailable = |name: &str, reason: String| Availability::Unavailable {
        name: name.into(),
        reason,
    };
    let wasm = match guest {
        Some(path) => Ok(path.to_path_buf()),
        None => build_guest(env, log),
    };
    let cwasm = wasm.and_then(|wasm| {
        let tulip = ready_program(prepare(
            &ServerSpec::parse(&format!("{GUEST}=bin:host-wasi/tulip")).expect("a valid spec"),
            env,
        ))?;
        let cwasm = precompile(&tulip, &wasm, log)?;
        Ok((tulip, cwasm))
    });
    let (guest, start_probe) = match cwasm {
        Err(reason) => (
            unavailable(GUEST, reason.clone()),
            unavailable("guest start", reason),
        ),
        Ok((tulip, cwasm)) => {
            let cwasm = cwasm.to_string_lossy().into_owned();
            let guest = Availability::Ready(Launch {
                name: GUEST.into(),
                program: tulip,
                args: [
                    "run",
                    &cwasm,
                    "--listen",
                    "127.0.0.1:{port}",
                    "--",
                    "127.0.0.1:{port}",
                ]
                .map(String::from)
                .to_vec(),
            });
            let probe = prepare(
                &ServerSpec::cargo_example("guest start", "host-wasi", "guest_start", &[&cwasm]),
                env,
            );
            (guest, probe)
        }
    };
    GuestSetup {
        native,
        guest,
        start_probe,
    }
}

fn ready_program(availability: Availability) -> std::result::Result<PathBuf, String> {
    match availability {
        Availability::Ready(launch) => Ok(launch.program),
        Availability::Unavailable { reason, .. } => Err(reason),
    }
}

/// Builds the echo guest for `wasm32-wasip2` and returns its `.wasm`.
fn build_guest(
    env: &Environment,
    log: &mut dyn FnMut(&str),
) -> std::result::Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    log(&format!(
        "building guest-sdk example echo for wasm32-wasip2 ({})",
        env.cargo_profile
    ));
    let output = Command::new(&cargo)
        .current_dir(&env.workspace)
        .args(["build", "--profile", &env.cargo_profile])
        .args(["-p", "guest-sdk", "--example", "echo"])
        .args(["--target", "wasm32-wasip2"])
        .args(["--message-format", "json-render-diagnostics"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo build -p guest-sdk --example echo --target wasm32-wasip2 failed: {}",
            last_line(&output.stderr)
        ));
    }
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let is_echo = message["reason"] == "compiler-artifact"
            && message["target"]["name"] == "echo"
            && message["target"]["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "example"));
        if !is_echo {
            continue;
        }
        let wasm = message["filenames"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str())
            .find(|f| f.ends_with(".wasm"));
        if let Some(wasm) = wasm {
            return Ok(wasm.into());
        }
    }
    Err("cargo built guest-sdk but reported no echo.wasm".into())
}

/// `tulip compile WASM -o CWASM`; returns the `.cwasm`.
fn precompile(
    tulip: &Path,
    wasm: &Path,
    log: &mut dyn FnMut(&str),
) -> std::result::Result<PathBuf, String> {
    let cwasm = wasm.with_extension("cwasm");
    log(&format!(
        "precompiling {} with tulip compile",
        wasm.display()
    ));
    let output = Command::new(tulip)
        .arg("compile")
        .arg(wasm)
        .arg("-o")
        .arg(&cwasm)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", tulip.display()))?;
    if !output.status.success() {
        return Err(format!(
            "tulip compile failed: {}",
            last_line(&output.stderr)
        ));
    }
    Ok(cwasm)
}

fn last_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("(no output)")
        .trim()
        .to_string()
}

/// One load (busy connections, with or without the idle ones) at one size.
#[derive(Debug, Clone, PartialEq)]
pub struct GuestRow {
    /// Extra idle connections open during the measurement.
    pub idle: usize,
    /// The message size in bytes.
    pub size: usize,
    /// The native server's medians, or why there are none.
    pub native: Outcome<EchoSummary>,
    /// The guest's medians, or why there are none.
    pub guest: Outcome<EchoSummary>,
    /// Per round in which both were measured: guest round trips/s ÷ native.
    pub ratios: Vec<f64>,
}

impl GuestRow {
    /// The median of the rounds' ratios.
    pub fn ratio(&self) -> Option<f64> {
        (!self.ratios.is_empty()).then(|| median(&self.ratios))
    }

    /// The target for this load.
    pub fn target(&self) -> f64 {
        if self.idle == 0 {
            TARGET_BUSY
        } else {
            TARGET_IDLE
        }
    }
}

/// Guest start times from the precompiled module.
#[derive(Debug, Clone, PartialEq)]
pub struct StartTime {
    /// Starts timed.
    pub runs: usize,
    /// Their median.
    pub median: Duration,
    /// Their 90th percentile.
    pub p90: Duration,
}

/// The guest benchmark's result.
#[derive(Debug, Clone)]
pub struct GuestReport {
    /// The options it ran with.
    pub options: GuestOptions,
    /// Phases outermost (no idle connections first), then sizes.
    pub rows: Vec<GuestRow>,
    /// The start times, or why there are none (`None`: not asked for).
    pub start: Option<Outcome<StartTime>>,
}

impl GuestReport {
    /// Whether anything failed.
    pub fn any_failed(&self) -> bool {
        let failed = |o: &Outcome<EchoSummary>| matches!(o, Outcome::Failed(_));
        self.rows
            .iter()
            .any(|r| failed(&r.native) || failed(&r.guest))
            || matches!(self.start, Some(Outcome::Failed(_)))
    }

    /// The echo table: medians of both servers, the ratio and the target.
    pub fn table(&self) -> Table {
        let mut table = Table::new(&[
            "connections",
            "size",
            "native rt/s",
            "guest rt/s",
            "guest ÷ native",
            "rounds' range",
            "target",
            "native CPU µs/rt",
            "guest CPU µs/rt",
            "guest user µs/rt",
        ]);
        let rt = |o: &Outcome<EchoSummary>| match o {
            Outcome::Measured(s) => thousands(s.median.round_trips_per_sec),
            Outcome::Unavailable(_) => "skipped".into(),
            Outcome::Failed(_) => "failed".into(),
        };
        let cpu = |o: &Outcome<EchoSummary>, f: fn(&EchoSample) -> f64| match o {
            Outcome::Measured(s) => format!("{:.1}", f(&s.median)),
            _ => "—".into(),
        };
        let mut noted: Vec<String> = Vec::new();
        for row in &self.rows {
            let load = if row.idle == 0 {
                thousands(self.options.connections as f64)
            } else {
                format!(
                    "{} + {} idle",
                    thousands(self.options.connections as f64),
                    thousands(row.idle as f64)
                )
            };
            let (ratio, range, verdict) = match row.ratio() {
                Some(r) => {
                    let min = row.ratios.iter().copied().fold(f64::MAX, f64::min);
                    let max = row.ratios.iter().copied().fold(f64::MIN, f64::max);
                    let met = if r >= row.target() { "met" } else { "NOT met" };
                    (
                        format!("{r:.2}×"),
                        format!("{min:.2}–{max:.2}"),
                        format!("≥ {:.1}× {met}", row.target()),
                    )
                }
                None => ("—".into(), "—".into(), format!("≥ {:.1}×", row.target())),
            };
            table.row(vec![
                load,
                format_size(row.size),
                rt(&row.native),
                rt(&row.guest),
                ratio,
                range,
                verdict,
                cpu(&row.native, |s| s.server_cpu_us),
                cpu(&row.guest, |s| s.server_cpu_us),
                cpu(&row.guest, |s| s.server_user_us),
            ]);
            for (name, outcome) in [(NATIVE, &row.native), (GUEST, &row.guest)] {
                let note = match outcome {
                    Outcome::Unavailable(reason) => format!("{name} skipped: {reason}"),
                    Outcome::Failed(message) => format!(
                        "{name} failed ({} idle, {}): {message}",
                        row.idle,
                        format_size(row.size)
                    ),
                    Outcome::Measured(_) => continue,
                };
                if !noted.contains(&note) {
                    noted.push(note);
                }
            }
        }
        for note in noted {
            table.note(note);
        }
        let o = &self.options;
        let guest = match &o.guest {
            Some(path) => path.display().to_string(),
            None => "guest-sdk's echo example (the same examples/echo protocol)".into(),
        };
        table.note(format!(
            "native = host-native's echo_server_protocol; guest = {guest} precompiled and \
             run by `tulip run` with one --listen grant. {} busy connections, closed loop, {} client thread(s); {} s \
             warm-up, {} s measured, {} round(s) per load; rt/s and CPU are medians over the \
             rounds, guest ÷ native the median of each round's ratio; CPU = utime + stime of \
             the server process from /proc per round trip",
            o.connections,
            o.client_threads,
            o.warmup.as_secs_f64(),
            o.duration.as_secs_f64(),
            o.rounds
        ));
        table
    }

    /// The start-time table, if starts were timed.
    pub fn start_table(&self) -> Option<Table> {
        let start = self.start.as_ref()?;
        let mut table = Table::new(&["guest start", "runs", "median µs", "p90 µs", "target"]);
        let what = "precompiled echo guest".to_string();
        match start {
            Outcome::Measured(s) => {
                let met = if s.median < TARGET_START {
                    "met"
                } else {
                    "NOT met"
                };
                table.row(vec![
                    what,
                    thousands(s.runs as f64),
                    format!("{:.1}", s.median.as_secs_f64() * 1e6),
                    format!("{:.1}", s.p90.as_secs_f64() * 1e6),
                    format!("< {} µs {met}", TARGET_START.as_micros()),
                ]);
            }
            Outcome::Unavailable(reason) => {
                table.row(vec![what, "skipped".into()]);
                table.note(format!("guest start skipped: {reason}"));
            }
            Outcome::Failed(message) => {
                table.row(vec![what, "failed".into()]);
                table.note(format!("guest start failed: {message}"));
            }
        }
        table.note(
            "host-wasi's guest_start example: executor, WASI context, store and \
             instantiation of the .cwasm made by `tulip compile` (Report::start_time)"
                .into(),
        );
        Some(table)
    }
}

/// Runs both phases and the start probe.
pub fn run_guest(
    setup: &GuestSetup,
    options: &GuestOptions,
    log: &mut dyn FnMut(&str),
) -> GuestReport {
    let mut rows = Vec::new();
    let mut phases = vec![0];
    if options.idle > 0 {
        phases.push(options.idle);
    }
    for idle in phases {
        rows.extend(run_phase(setup, options, idle, log));
    }
    let start =
        (options.start_runs > 0).then(|| time_starts(&setup.start_probe, options.start_runs, log));
    GuestReport {
        options: options.clone(),
        rows,
        start,
    }
}

/// One phase: both servers started fresh, `idle` idle connections opened to each, then
/// the rounds.
fn run_phase(
    setup: &GuestSetup,
    options: &GuestOptions,
    idle: usize,
    log: &mut dyn FnMut(&str),
) -> Vec<GuestRow> {
    let echo = options.echo_options();
    let mut slots = [
        Slot::start(&setup.native, log),
        Slot::start(&setup.guest, log),
    ];
    // Held until the phase ends.
    let mut idle_streams: Vec<Vec<TcpStream>> = Vec::new();
    if idle > 0 {
        // The client holds both servers' idle connections, each server its own.
        let needed = (2 * idle + options.connections + 256) as u64;
        let limit = limits::ensure_open_files(needed);
        for slot in &mut slots {
            let name = slot.name.clone();
            let Some(server) = slot.server() else {
                continue;
            };
            let opened = limit
                .as_ref()
                .map_err(|e| e.to_string())
                .and_then(|_| open_idle(server, idle).map_err(|e| e.to_string()));
            match opened {
                Ok(streams) => {
                    log(&format!("{name}: {idle} idle connections accepted"));
                    idle_streams.push(streams);
                }
                Err(message) => slot.fail(message),
            }
        }
    }
    // cells[size][server]
    let mut cells: Vec<[std::result::Result<Vec<EchoSample>, String>; 2]> = options
        .sizes
        .iter()
        .map(|_| [Ok(Vec::new()), Ok(Vec::new())])
        .collect();
    let mut ratios: Vec<Vec<f64>> = options.sizes.iter().map(|_| Vec::new()).collect();
    for round in 0..options.rounds {
        for (si, &size) in options.sizes.iter().enumerate() {
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            let mut this_round = [None, None];
            for index in order {
                let slot = &mut slots[index];
                let name = slot.name.clone();
                let Some(server) = slot.server() else {
                    continue;
                };
                let Ok(samples) = &mut cells[si][index] else {
                    continue;
                };
                match measure(server, size, &echo) {
                    Ok(sample) => {
                        log(&format!(
                            "{} idle, round {}/{} {:>7} {:<7} {:>9} rt/s  server CPU {:>6.1} µs/rt (user {:.1})",
                            idle,
                            round + 1,
                            options.rounds,
                            format_size(size),
                            name,
                            thousands(sample.round_trips_per_sec),
                            sample.server_cpu_us,
                            sample.server_user_us,
                        ));
                        this_round[index] = Some(sample.round_trips_per_sec);
                        samples.push(sample);
                    }
                    Err(e) => {
                        log(&format!("{name} at {}: {e}", format_size(size)));
                        cells[si][index] = Err(e.to_string());
                        if let Err(dead) = server.check_running() {
                            slot.fail(dead.to_string());
                        }
                    }
                }
            }
            if let [Some(native), Some(guest)] = this_round
                && native > 0.0
            {
                let ratio = guest / native;
                log(&format!(
                    "{} idle, round {}/{} {:>7} guest ÷ native {ratio:.2}",
                    idle,
                    round + 1,
                    options.rounds,
                    format_size(size)
                ));
                ratios[si].push(ratio);
            }
        }
    }
    drop(idle_streams);
    let outcome = |slot: &Slot, cell: &std::result::Result<Vec<EchoSample>, String>| match cell {
        Err(message) => Outcome::Failed(message.clone()),
        Ok(rounds) if !rounds.is_empty() => {
            Outcome::Measured(EchoSummary::from_rounds(rounds.clone()))
        }
        Ok(_) => slot
            .not_running()
            .unwrap_or_else(|| Outcome::Failed("no round was measured".into())),
    };
    options
        .sizes
        .iter()
        .enumerate()
        .map(|(si, &size)| GuestRow {
            idle,
            size,
            native: outcome(&slots[0], &cells[si][0]),
            guest: outcome(&slots[1], &cells[si][1]),
            ratios: std::mem::take(&mut ratios[si]),
        })
        .collect()
}

/// Opens `n` connections to `server` that will send nothing, and waits until it has
/// accepted them all (holds that many more descriptors). They close with a reset when
/// dropped, so no port is left in `TIME_WAIT`.
fn open_idle(server: &mut ServerProcess, n: usize) -> Result<Vec<TcpStream>> {
    let before = server.open_fds()?;
    let mut streams = Vec::with_capacity(n);
    for i in 0..n {
        let stream = TcpStream::connect(server.addr())
            .map_err(|e| Error::io(format!("open idle connection {i}"), e))?;
        socket2::SockRef::from(&stream)
            .set_linger(Some(Duration::ZERO))
            .map_err(|e| Error::io("set SO_LINGER", e))?;
        streams.push(stream);
    }
    let start = Instant::now();
    loop {
        server.check_running()?;
        let fds = server.open_fds()?;
        if fds >= before + n {
            return Ok(streams);
        }
        if start.elapsed() > ACCEPT_LIMIT {
            return Err(Error::Stalled {
                what: format!(
                    "the server accepted {} of {n} idle connections in {} s",
                    fds.saturating_sub(before),
                    ACCEPT_LIMIT.as_secs()
                ),
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `guest_start CWASM RUNS` and reads its median and 90th percentile.
fn time_starts(probe: &Availability, runs: usize, log: &mut dyn FnMut(&str)) -> Outcome<StartTime> {
    let launch = match probe {
        Availability::Ready(launch) => launch,
        Availability::Unavailable { reason, .. } => return Outcome::Unavailable(reason.clone()),
    };
    log(&format!("timing {runs} guest starts"));
    let mut child = match Command::new(&launch.program)
        .args(&launch.args)
        .arg(runs.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            return Outcome::Failed(format!("cannot run {}: {e}", launch.program.display()));
        }
    };
    let began = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if began.elapsed() > START_PROBE_LIMIT => {
                let _ = child.kill();
                let _ = child.wait();
                return Outcome::Failed(format!(
                    "guest_start did not finish in {} s",
                    START_PROBE_LIMIT.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Outcome::Failed(format!("wait for guest_start: {e}")),
        }
    }
    let output = match child.wait_with_output() {
        Ok(output) => output,
        Err(e) => return Outcome::Failed(format!("read guest_start's output: {e}")),
    };
    if !output.status.success() {
        return Outcome::Failed(format!(
            "guest_start failed ({}): {}",
            output.status,
            last_line(&output.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    match parse_start_line(&text) {
        Some((median, p90)) => Outcome::Measured(StartTime { runs, median, p90 }),
        None => Outcome::Failed(format!(
            "cannot read guest_start's output: {}",
            last_line(&output.stdout)
        )),
    }
}

/// Reads `… median M µs, p90 P µs` (guest_start's line).
fn parse_start_line(text: &str) -> Option<(Duration, Duration)> {
    let line = text.lines().find(|l| l.starts_with("guest start"))?;
    let number_after = |key: &str| -> Option<Duration> {
        let rest = &line[line.find(key)? + key.len()..];
        let micros: f64 = rest.split_whitespace().next()?.parse().ok()?;
        (micros.is_finite() && micros >= 0.0).then(|| Duration::from_secs_f64(micros / 1e6))
    };
    Some((number_after("median ")?, number_after("p90 ")?))
}

/// The `guest` subcommand: prepares, runs and prints; `Ok(false)` when something failed.
pub fn guest_command(args: &GuestArgs) -> Result<bool> {
    let mut log = |line: &str| eprintln!("{line}");
    limits::raise_open_files()?;
    let exe = std::env::current_exe().map_err(|e| Error::io("find the harness executable", e))?;
    let env = Environment::new(exe, "python3".into());
    let setup = prepare_guest(&env, args.guest.as_deref(), &mut log);
    let report = run_guest(&setup, &args.options(), &mut log);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let build = if cfg!(debug_assertions) {
        "debug build: figures are not representative, use --release"
    } else {
        "release build"
    };
    println!("Guest echo vs native echo on 127.0.0.1 ({cores} cores, {build})\n");
    print!("{}", report.table());
    if let Some(start) = report.start_table() {
        println!();
        print!("{start}");
    }
    Ok(!report.any_failed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_guest_starts_line() {
        let (median, p90) =
            parse_start_line("guest start over 200 runs: median 44.5 µs, p90 61.0 µs\n").unwrap();
        assert_eq!(median, Duration::from_nanos(44_500));
        assert_eq!(p90, Duration::from_micros(61));
        assert!(parse_start_line("something else").is_none());
    }

    #[test]
    fn ratio_is_the_median_of_the_rounds_and_targets_follow_the_load() {
        let row = |idle, ratios: Vec<f64>| GuestRow {
            idle,
            size: 1024,
            native: Outcome::Unavailable("x".into()),
            guest: Outcome::Unavailable("x".into()),
            ratios,
        };
        assert_eq!(row(0, vec![0.9, 0.5, 0.7]).ratio(), Some(0.7));
        assert_eq!(row(0, vec![]).ratio(), None);
        assert_eq!(row(0, vec![]).target(), TARGET_BUSY);
        assert_eq!(row(1000, vec![]).target(), TARGET_IDLE);
    }
}
