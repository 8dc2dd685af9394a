//! System calls per round trip: the server under `strace -c -f` during a measured window.
//!
//! The server runs normally through the warm-up; then `strace -c -f -p PID` attaches,
//! the client runs the window, and strace is interrupted (SIGINT), which detaches it and
//! makes it write its per-call counts. Counts / round trips is what the table shows. The
//! floor is one read and one write per message (plus a share of one readiness wait);
//! the throughput under strace means nothing and is not shown.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

use crate::client::{Load, LoadConfig};
use crate::error::{Error, Result};
use crate::process::ServerProcess;
use crate::slot::{Outcome, Slot};
use crate::spec::Availability;
use crate::table::Table;
use crate::units::format_size;

/// How long strace may take to attach or to write its summary.
const STRACE_LIMIT: Duration = Duration::from_secs(10);

/// What the syscall mode runs.
#[derive(Debug, Clone)]
pub struct SyscallOptions {
    /// Message sizes in bytes.
    pub sizes: Vec<usize>,
    /// Concurrent connections.
    pub connections: usize,
    /// Load before strace attaches.
    pub warmup: Duration,
    /// The traced window.
    pub duration: Duration,
    /// Client threads.
    pub client_threads: usize,
    /// The strace executable.
    pub strace: PathBuf,
}

impl Default for SyscallOptions {
    /// 1 KiB and 64 KiB, 10 connections, 0.5 s warm-up, 2 s traced, `strace` from `PATH`.
    fn default() -> Self {
        SyscallOptions {
            sizes: vec![1024, 64 * 1024],
            connections: 10,
            warmup: Duration::from_millis(500),
            duration: Duration::from_secs(2),
            client_threads: 1,
            strace: "strace".into(),
        }
    }
}

/// One server's system calls at one size.
#[derive(Debug, Clone, PartialEq)]
pub struct SyscallSample {
    /// Round trips in the traced window.
    pub round_trips: u64,
    /// Calls per system call, most frequent first.
    pub calls: Vec<(String, u64)>,
}

impl SyscallSample {
    /// All calls.
    pub fn total(&self) -> u64 {
        self.calls.iter().map(|(_, n)| n).sum()
    }

    /// All calls per round trip.
    pub fn per_round_trip(&self) -> f64 {
        self.total() as f64 / self.round_trips as f64
    }

    /// Calls of the named system calls per round trip.
    pub fn of(&self, names: &[&str]) -> f64 {
        let n: u64 = self
            .calls
            .iter()
            .filter(|(name, _)| names.contains(&name.as_str()))
            .map(|(_, n)| n)
            .sum();
        n as f64 / self.round_trips as f64
    }
}

/// The syscall mode's result.
#[derive(Debug, Clone)]
pub struct SyscallReport {
    /// The options it ran with.
    pub options: SyscallOptions,
    /// One row per server and size.
    pub rows: Vec<(String, usize, Outcome<SyscallSample>)>,
}

impl SyscallReport {
    /// The table.
    pub fn table(&self) -> Table {
        let mut table = Table::new(&["server", "size", "syscalls/rt", "most frequent (per rt)"]);
        let mut noted: Vec<&str> = Vec::new();
        for (name, size, outcome) in &self.rows {
            let mut cells = vec![name.clone(), format_size(*size)];
            match outcome {
                Outcome::Measured(s) => {
                    let top: Vec<String> = s
                        .calls
                        .iter()
                        .take(4)
                        .map(|(call, n)| format!("{call} {:.2}", *n as f64 / s.round_trips as f64))
                        .collect();
                    cells.push(format!("{:.2}", s.per_round_trip()));
                    cells.push(top.join(", "));
                }
                Outcome::Unavailable(reason) | Outcome::Failed(reason) => {
                    let word = if matches!(outcome, Outcome::Failed(_)) {
                        "failed"
                    } else {
                        "skipped"
                    };
                    cells.push(word.into());
                    if !noted.contains(&name.as_str()) {
                        noted.push(name);
                        table.note(format!("{name} {word}: {reason}"));
                    }
                }
            }
            table.row(cells);
        }
        table.note(format!(
            "strace -c -f attached after a {} s warm-up, {} s traced, {} connections",
            self.options.warmup.as_secs_f64(),
            self.options.duration.as_secs_f64(),
            self.options.connections
        ));
        table
    }

    /// Whether any server failed.
    pub fn any_failed(&self) -> bool {
        self.rows
            .iter()
            .any(|(_, _, o)| matches!(o, Outcome::Failed(_)))
    }
}

/// Runs the syscall mode.
pub fn run_syscalls(
    servers: &[Availability],
    options: &SyscallOptions,
    log: &mut dyn FnMut(&str),
) -> SyscallReport {
    let strace_missing = strace_version(&options.strace).err();
    let mut rows = Vec::new();
    for availability in servers {
        let name = availability.name().to_string();
        if let Some(reason) = &strace_missing {
            for &size in &options.sizes {
                rows.push((name.clone(), size, Outcome::Unavailable(reason.clone())));
            }
            continue;
        }
        let mut slot = Slot::start(availability, log);
        for &size in &options.sizes {
            let outcome = match slot.server() {
                None => slot
                    .not_running()
                    .expect("a slot without a server says why"),
                Some(server) => match measure(server, size, options) {
                    Ok(Ok(sample)) => {
                        log(&format!(
                            "{name} {}: {:.2} syscalls per round trip over {} round trips",
                            format_size(size),
                            sample.per_round_trip(),
                            sample.round_trips
                        ));
                        Outcome::Measured(sample)
                    }
                    Ok(Err(reason)) => Outcome::Unavailable(reason),
                    Err(e) => {
                        if let Err(dead) = server.check_running() {
                            slot.fail(dead.to_string());
                        }
                        Outcome::Failed(e.to_string())
                    }
                },
            };
            rows.push((name.clone(), size, outcome));
        }
    }
    SyscallReport {
        options: options.clone(),
        rows,
    }
}

/// `Err(reason)` when strace cannot be run.
fn strace_version(strace: &Path) -> Result<(), String> {
    match Command::new(strace)
        .arg("-V")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("{} -V failed ({status})", strace.display())),
        Err(e) => Err(format!(
            "strace is not available ({}: {e}); install it with apt-get install strace",
            strace.display()
        )),
    }
}

/// Traces one window. `Ok(Err(reason))` when strace could not trace the server (no
/// ptrace permission, …): that is a skip, not a failure of the server.
fn measure(
    server: &mut ServerProcess,
    size: usize,
    options: &SyscallOptions,
) -> Result<Result<SyscallSample, String>> {
    let mut load = Load::connect(&LoadConfig {
        addr: server.addr(),
        connections: options.connections,
        message_size: size,
        threads: options.client_threads,
    })?;
    if !options.warmup.is_zero() {
        load.run_for(options.warmup)?;
    }
    let output = std::env::temp_dir().join(format!(
        "tulip-bench-strace-{}-{}-{size}.txt",
        std::process::id(),
        server.pid()
    ));
    let mut strace = Strace::attach(&options.strace, server.pid(), &output)?;
    if let Err(reason) = strace.wait_attached() {
        return Ok(Err(reason));
    }
    let window = load.run_for(options.duration);
    let summary = strace.finish();
    let _ = std::fs::remove_file(&output);
    let window = window?;
    let text = summary?;
    let calls = parse_summary(&text).ok_or_else(|| Error::Stalled {
        what: format!("strace wrote no summary table:\n{text}"),
    })?;
    Ok(Ok(SyscallSample {
        round_trips: window.round_trips,
        calls,
    }))
}

/// A running `strace -c -f -p PID -o FILE`.
struct Strace {
    child: Child,
    output: PathBuf,
    stderr_lines: mpsc::Receiver<String>,
}

impl Strace {
    fn attach(strace: &Path, pid: u32, output: &Path) -> Result<Strace> {
        let mut child = Command::new(strace)
            .args(["-c", "-f", "-p", &pid.to_string(), "-o"])
            .arg(output)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::io(format!("start {}", strace.display()), e))?;
        let (tx, stderr_lines) = mpsc::channel();
        if let Some(pipe) = child.stderr.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Ok(Strace {
            child,
            output: output.to_path_buf(),
            stderr_lines,
        })
    }

    /// Waits for strace's "Process N attached"; `Err(reason)` if it gave up instead.
    fn wait_attached(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + STRACE_LIMIT;
        let mut said = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr_lines.recv_timeout(left) {
                Ok(line) if line.contains("attached") => {
                    // strace prints the line before it has attached to every thread.
                    std::thread::sleep(Duration::from_millis(100));
                    return Ok(());
                }
                Ok(line) => said.push(line),
                Err(_) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Err(format!("strace did not attach: {}", said.join("; ")));
                }
            }
        }
    }

    /// Interrupts strace, which detaches and writes its summary, and returns the summary.
    fn finish(mut self) -> Result<String> {
        let pid = Pid::from_raw(self.child.id() as i32).expect("a child's pid is positive");
        kill_process(pid, Signal::INT).map_err(|e| Error::io("interrupt strace", e.into()))?;
        let start = Instant::now();
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if start.elapsed() > STRACE_LIMIT => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Err(Error::Stalled {
                        what: "strace did not exit after SIGINT".into(),
                    });
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(Error::io("wait for strace", e)),
            }
        }
        std::fs::read_to_string(&self.output)
            .map_err(|e| Error::io(format!("read {}", self.output.display()), e))
    }
}

impl Drop for Strace {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The per-call counts of an `strace -c` summary, most frequent first; `None` if the
/// text has no summary table.
///
/// The table's columns are `% time, seconds, usecs/call, calls, errors, syscall`; the
/// errors column is empty for calls without errors, and a `total` row closes it.
fn parse_summary(text: &str) -> Option<Vec<(String, u64)>> {
    let mut calls = Vec::new();
    let mut saw_header = false;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() == Some(&"%") {
            saw_header = true;
            continue;
        }
        if !saw_header || words.len() < 5 || words[0].starts_with('-') {
            continue;
        }
        let name = words[words.len() - 1];
        if name == "total" {
            break;
        }
        let count: u64 = words[3].parse().ok()?;
        calls.push((name.to_string(), count));
    }
    if !saw_header {
        return None;
    }
    calls.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Some(calls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_strace_summary() {
        let text = "\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 50.00    0.000100           1       100           write
 40.00    0.000080           1       200       100 read
 10.00    0.000020           1        50           epoll_wait
------ ----------- ----------- --------- --------- ----------------
100.00    0.000200           0       350       100 total
";
        let calls = parse_summary(text).unwrap();
        assert_eq!(
            calls,
            [
                ("read".to_string(), 200),
                ("write".to_string(), 100),
                ("epoll_wait".to_string(), 50)
            ]
        );
        let sample = SyscallSample {
            round_trips: 100,
            calls,
        };
        assert_eq!(sample.per_round_trip(), 3.5);
        assert_eq!(sample.of(&["read", "write"]), 3.0);
        assert_eq!(
            parse_summary("strace: attach: ptrace(PTRACE_SEIZE, 1): Operation not permitted\n"),
            None
        );
    }
}
