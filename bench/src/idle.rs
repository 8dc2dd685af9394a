//! Idle connections: how much server memory an open connection that sends nothing costs.
//!
//! Each server is started on its own, warmed by one echo (so that one-time allocations
//! of the first connection are not charged to the idle ones), and its `VmRSS` read.
//! Then the client opens the idle connections one after another, waits until the
//! server holds that many more descriptors (it has accepted them all), waits for the
//! RSS to settle, and reads it again: (after − before) / connections is the cost of
//! one. Finally one more echo proves the server still serves. The client closes its
//! sockets with a reset (`SO_LINGER` 0), so no port stays in `TIME_WAIT`.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::client::{Load, LoadConfig};
use crate::error::{Error, Result};
use crate::limits;
use crate::process::ServerProcess;
use crate::slot::{Outcome, Slot};
use crate::spec::Availability;
use crate::table::{Table, thousands};

/// How long the server may take to accept all idle connections.
const ACCEPT_LIMIT: Duration = Duration::from_secs(60);

/// What the idle-connection mode runs.
#[derive(Debug, Clone)]
pub struct IdleOptions {
    /// Idle connections opened to each server.
    pub connections: usize,
}

impl Default for IdleOptions {
    /// 10,000 connections.
    fn default() -> Self {
        IdleOptions {
            connections: 10_000,
        }
    }
}

/// One server's idle-connection cost.
#[derive(Debug, Clone, PartialEq)]
pub struct IdleSample {
    /// Idle connections held.
    pub connections: usize,
    /// Server RSS before they were opened, KiB.
    pub rss_before_kib: u64,
    /// Server RSS with all of them accepted, KiB.
    pub rss_after_kib: u64,
    /// Descriptors the server holds beyond its count before (at least `connections`).
    pub accepted: usize,
}

impl IdleSample {
    /// RSS growth per connection, KiB (negative if the RSS shrank).
    pub fn kib_per_connection(&self) -> f64 {
        (self.rss_after_kib as f64 - self.rss_before_kib as f64) / self.connections as f64
    }
}

/// The idle-connection mode's result.
#[derive(Debug, Clone)]
pub struct IdleReport {
    /// The options it ran with.
    pub options: IdleOptions,
    /// One row per server.
    pub rows: Vec<(String, Outcome<IdleSample>)>,
}

impl IdleReport {
    /// The table.
    pub fn table(&self) -> Table {
        let mut table = Table::new(&[
            "server",
            "idle connections",
            "RSS before KiB",
            "RSS after KiB",
            "KiB per connection",
        ]);
        for (name, outcome) in &self.rows {
            let cells = match outcome {
                Outcome::Measured(s) => vec![
                    name.clone(),
                    thousands(s.connections as f64),
                    thousands(s.rss_before_kib as f64),
                    thousands(s.rss_after_kib as f64),
                    format!("{:.2}", s.kib_per_connection()),
                ],
                Outcome::Unavailable(reason) => {
                    table.note(format!("{name} skipped: {reason}"));
                    vec![name.clone(), "skipped".into()]
                }
                Outcome::Failed(message) => {
                    table.note(format!("{name} failed: {message}"));
                    vec![name.clone(), "failed".into()]
                }
            };
            table.row(cells);
        }
        table.note(
            "RSS = VmRSS from /proc/<pid>/status; each server warmed by one echo first".into(),
        );
        table
    }

    /// Whether any server failed.
    pub fn any_failed(&self) -> bool {
        self.rows
            .iter()
            .any(|(_, o)| matches!(o, Outcome::Failed(_)))
    }
}

/// Runs the idle-connection mode against each server in turn.
pub fn run_idle(
    servers: &[Availability],
    options: &IdleOptions,
    log: &mut dyn FnMut(&str),
) -> IdleReport {
    // The client and every server (which inherit the limit) need a descriptor per
    // connection, plus some for the rest of the process.
    let limit = limits::ensure_open_files(options.connections as u64 + 256);
    let mut rows = Vec::with_capacity(servers.len());
    for availability in servers {
        let name = availability.name().to_string();
        if let Err(e) = &limit {
            rows.push((name, Outcome::Failed(e.to_string())));
            continue;
        }
        let mut slot = Slot::start(availability, log);
        let outcome = match slot.server() {
            None => slot
                .not_running()
                .expect("a slot without a server says why"),
            Some(server) => match measure(server, options.connections) {
                Ok(sample) => {
                    log(&format!(
                        "{name}: {} idle connections, RSS {} → {} KiB, {:.2} KiB each",
                        sample.connections,
                        sample.rss_before_kib,
                        sample.rss_after_kib,
                        sample.kib_per_connection()
                    ));
                    Outcome::Measured(sample)
                }
                Err(e) => Outcome::Failed(e.to_string()),
            },
        };
        rows.push((name, outcome));
    }
    IdleReport {
        options: options.clone(),
        rows,
    }
}

fn one_echo(server: &ServerProcess) -> Result<()> {
    let mut load = Load::connect(&LoadConfig {
        addr: server.addr(),
        connections: 1,
        message_size: 1024,
        threads: 1,
    })?;
    load.run_for(Duration::ZERO)?;
    Ok(())
}

fn measure(server: &mut ServerProcess, connections: usize) -> Result<IdleSample> {
    one_echo(server)?;
    // The warm-up connection's close must reach the server before the count starts.
    std::thread::sleep(Duration::from_millis(100));
    let fds_before = server.open_fds()?;
    let rss_before_kib = settled_rss(server)?;
    let mut idle = Vec::with_capacity(connections);
    for i in 0..connections {
        let stream = TcpStream::connect(server.addr())
            .map_err(|e| Error::io(format!("open idle connection {i}"), e))?;
        socket2::SockRef::from(&stream)
            .set_linger(Some(Duration::ZERO))
            .map_err(|e| Error::io("set SO_LINGER", e))?;
        idle.push(stream);
    }
    let start = Instant::now();
    let fds_after = loop {
        server.check_running()?;
        let fds = server.open_fds()?;
        if fds >= fds_before + connections {
            break fds;
        }
        if start.elapsed() > ACCEPT_LIMIT {
            return Err(Error::Stalled {
                what: format!(
                    "the server accepted {} of {connections} idle connections in {} s",
                    fds.saturating_sub(fds_before),
                    ACCEPT_LIMIT.as_secs()
                ),
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let rss_after_kib = settled_rss(server)?;
    one_echo(server)?;
    drop(idle);
    Ok(IdleSample {
        connections,
        rss_before_kib,
        rss_after_kib,
        accepted: fds_after - fds_before,
    })
}

/// Reads the RSS until two readings 50 ms apart agree (at most 2 s).
fn settled_rss(server: &mut ServerProcess) -> Result<u64> {
    let start = Instant::now();
    let mut last = server.rss_kib()?;
    loop {
        std::thread::sleep(Duration::from_millis(50));
        server.check_running()?;
        let now = server.rss_kib()?;
        if now == last || start.elapsed() > Duration::from_secs(2) {
            return Ok(now);
        }
        last = now;
    }
}
