//! `tulip`: run a WASI 0.2 guest with explicit grants and limits, or precompile one.
//!
//! `tulip run --help` explains the grants, the limits and the exit status.

#![deny(unsafe_code)]

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{ArgAction, Args, Parser, Subcommand};
use host_wasi::{AddrRange, Error, Grants, Guest, Limits, Outcome, Report, Runtime, Stdio};

const RUN_HELP: &str = "\
A guest can do nothing until granted: it starts with no network, no filesystem, no
environment variables and no stdin. Each flag below grants one thing. An operation
the grants do not allow fails inside the guest with `access-denied` (the guest keeps
running) and tulip logs it with the address and the flag that would grant it.

GRANTS
  --listen ADDR       bind and listen on ADDR, and accept any client there.
                      ADDR is IP:PORT ([IPv6]:PORT); port 0 or * means any port
                      (so a guest may bind port 0 and let the OS choose).
  --connect ADDR|CIDR connect to an address or a network: 10.0.0.5:5432,
                      10.0.0.0/8 (any port), 10.0.0.0/8:443, [fd00::/8]:443.
  --udp               UDP on the --listen addresses (bind, receive from anyone,
                      reply to whoever sent) and the --connect ones (send, receive).
  --name-lookup       resolve host names (connecting still needs --connect).
  Binding the wildcard address with port 0, which the OS does before any connect,
  is always allowed: it opens nothing by itself.
  Never granted: the filesystem, the host's environment (unless --inherit-env).

LIMITS
  --max-memory SIZE   linear memory, all memories together (default 256M).
                      Growth past it fails; a Rust guest then aborts.
  --max-cpu TIME|FUEL CPU spent running guest code: a time (5s, 250ms) at one
                      billion instructions per second, or a plain fuel count.
                      Time blocked waiting for I/O is never charged.
  --deadline TIME     wall-clock time before the guest is stopped (30s, 5m, 1h).
  --max-handles N     live sockets, streams and pollables (default 65536).

EXIT STATUS
  the guest's own status when it exits; 124 deadline passed; 125 tulip could not
  start the guest; 134 the guest panicked or trapped; 137 memory limit; 152 CPU
  limit.

EXAMPLES
  tulip run echo.wasm --listen 127.0.0.1:7000 -- 127.0.0.1:7000
  tulip run client.wasm --connect 10.0.0.0/8:443 --name-lookup --max-cpu 10s
  tulip run dns.wasm --udp --listen 127.0.0.1:5353 --max-memory 32M --deadline 1h
  tulip compile echo.wasm -o echo.cwasm && tulip run echo.cwasm --listen 127.0.0.1:7000";

/// Run sandboxed WASI 0.2 guests (wasm32-wasip2 programs) with explicit socket grants
/// and memory, CPU and wall-clock limits.
#[derive(Debug, Parser)]
#[command(name = "tulip", version)]
struct Cli {
    /// More logging: -v reports every guest's end, -vv adds debug detail.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    verbose: u8,
    /// Only errors: no denial warnings, no end-of-run summary.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a guest: a WASI 0.2 component (.wasm) or a precompiled guest (.cwasm).
    #[command(after_long_help = RUN_HELP)]
    Run(RunArgs),
    /// Precompile a guest to native code (.cwasm) so that it starts without compiling.
    Compile(CompileArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The guest: a .wasm WASI 0.2 component, or a .cwasm made by `tulip compile`
    /// (native code: run only .cwasm files you compiled yourself).
    guest: PathBuf,
    /// Grant: bind and listen on ADDR (IP:PORT; port 0 or * = any). Repeatable.
    #[arg(help_heading = "Grants", long, value_name = "ADDR")]
    listen: Vec<AddrRange>,
    /// Grant: connect to ADDR or a CIDR network (optional :PORT). Repeatable.
    #[arg(help_heading = "Grants", long, value_name = "ADDR|CIDR")]
    connect: Vec<AddrRange>,
    /// Grant: UDP on the --listen and --connect addresses.
    #[arg(help_heading = "Grants", long)]
    udp: bool,
    /// Grant: host name lookup.
    #[arg(help_heading = "Grants", long)]
    name_lookup: bool,
    /// Limit: linear memory, e.g. 64M, 1G.
    #[arg(help_heading = "Limits", long, value_name = "SIZE", default_value = "256M", value_parser = parse_size)]
    max_memory: usize,
    /// Limit: CPU as a time (5s, 250ms) or a fuel count (5000000000).
    #[arg(help_heading = "Limits", long, value_name = "TIME|FUEL", value_parser = parse_cpu)]
    max_cpu: Option<u64>,
    /// Limit: wall-clock time before the guest is stopped, e.g. 30s, 5m.
    #[arg(help_heading = "Limits", long, value_name = "TIME", value_parser = parse_duration)]
    deadline: Option<Duration>,
    /// Limit: live WASI handles (sockets, streams, pollables).
    #[arg(help_heading = "Limits", long, value_name = "N", default_value_t = Limits::DEFAULT_HANDLES)]
    max_handles: usize,
    /// Give the guest an environment variable. Repeatable.
    #[arg(help_heading = "Guest environment", long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// Give the guest all of tulip's environment variables.
    #[arg(help_heading = "Guest environment", long)]
    inherit_env: bool,
    /// Give the guest tulip's stdin too (stdout and stderr are always passed through
    /// unless --capture).
    #[arg(help_heading = "Guest environment", long, conflicts_with = "capture")]
    inherit_stdio: bool,
    /// Capture the guest's stdout and stderr and print them after it stops.
    #[arg(help_heading = "Guest environment", long)]
    capture: bool,
    /// Captured output kept per stream with --capture, e.g. 1M.
    #[arg(help_heading = "Guest environment", long, value_name = "SIZE", default_value = "1M", value_parser = parse_size)]
    max_output: usize,
    /// Arguments for the guest (before them, as its program name, it gets its file name).
    #[arg(last = true, value_name = "ARGS")]
    args: Vec<String>,
}

#[derive(Debug, Args)]
struct CompileArgs {
    /// The WASI 0.2 component to compile (.wasm).
    guest: PathBuf,
    /// Where to write the precompiled guest (default: GUEST with a .cwasm extension).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// The exit status when tulip itself could not run the guest.
const CANNOT_RUN: u8 = 125;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
    let result = match cli.command {
        Command::Run(args) => run(args, cli.quiet, cli.verbose),
        Command::Compile(args) => compile(args, cli.quiet),
    };
    result.unwrap_or_else(|error| {
        eprintln!("tulip: error: {error:#}");
        ExitCode::from(CANNOT_RUN)
    })
}

fn init_logging(cli: &Cli) {
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => tracing::Level::ERROR,
        (false, 0) => tracing::Level::WARN,
        (false, 1) => tracing::Level::INFO,
        (false, _) => tracing::Level::DEBUG,
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .init();
}

fn run(args: RunArgs, quiet: bool, verbose: u8) -> anyhow::Result<ExitCode> {
    let runtime = Runtime::new()?;
    let guest = load(&runtime, &args.guest)?;

    let mut grants = Grants::new()
        .allow_udp(args.udp)
        .allow_name_lookup(args.name_lookup);
    for range in args.listen {
        grants = grants.allow_listen(range);
    }
    for range in args.connect {
        grants = grants.allow_connect(range);
    }
    let limits = Limits::new()
        .max_memory(args.max_memory)
        .max_fuel(args.max_cpu)
        .with_deadline(args.deadline)
        .max_handles(args.max_handles)
        .max_output(args.max_output);
    let stdio = if args.capture {
        Stdio::Capture
    } else {
        Stdio::Inherit
    };
    let mut builder = guest
        .builder()
        .grants(grants)
        .limits(limits)
        .args(args.args)
        .stdout(stdio)
        .stderr(stdio)
        .inherit_stdin(args.inherit_stdio);
    if args.inherit_env {
        builder = builder.inherit_env();
    }
    for (key, value) in args.env {
        builder = builder.env(key, value);
    }

    let report = builder.run();
    if args.capture {
        // Broken pipes on tulip's own stdout are the reader's business, not an error.
        let _ = std::io::stdout().write_all(&report.stdout);
        let _ = std::io::stderr().write_all(&report.stderr);
    }
    if !quiet {
        summarize(&report, verbose);
    }
    Ok(ExitCode::from(exit_status(&report.outcome)))
}

/// Loads a `.wasm` component or, failing that because it is precompiled, a `.cwasm`.
#[allow(
    unsafe_code,
    reason = "running a .cwasm means trusting its native code"
)]
fn load(runtime: &Runtime, path: &Path) -> Result<Guest, Error> {
    match runtime.load(path) {
        // SAFETY: a .cwasm is native code that the operator chose to run; `tulip run
        // --help` says to run only .cwasm files made by `tulip compile`, and wasmtime
        // checks the file's version and settings.
        Err(Error::Precompiled { .. }) => unsafe { runtime.load_precompiled(path) },
        other => other,
    }
}

/// Prints how the run ended when it did not end well (or always with -v), naming the
/// flag to change when a limit stopped it.
fn summarize(report: &Report, verbose: u8) {
    let hint = match report.outcome {
        Outcome::CpuLimit { .. } => " (raise it with --max-cpu)",
        Outcome::MemoryLimit { .. } => " (raise it with --max-memory)",
        Outcome::Deadline(_) => " (raise it with --deadline)",
        Outcome::HandleLimit { .. } => " (raise it with --max-handles)",
        _ => "",
    };
    if verbose > 0 {
        eprintln!("tulip: {report}");
    }
    if !matches!(report.outcome, Outcome::Exited(_)) {
        eprintln!("tulip: guest `{}` {}{hint}", report.name, report.outcome);
    }
    if report.denied > 0 && verbose == 0 {
        let first = &report.denials[0];
        eprintln!(
            "tulip: {} operation(s) denied, the first: {first}",
            report.denied
        );
    }
    if report.output_dropped > 0 {
        eprintln!(
            "tulip: {} bytes of output dropped (raise --max-output)",
            report.output_dropped
        );
    }
}

fn exit_status(outcome: &Outcome) -> u8 {
    match outcome {
        // The guest's own status, truncated as a process exit status is.
        Outcome::Exited(code) => *code as u8,
        Outcome::Deadline(_) => 124,
        Outcome::Failed(_) => CANNOT_RUN,
        Outcome::MemoryLimit { .. } => 137,
        Outcome::CpuLimit { .. } => 152,
        _ => 134,
    }
}

fn compile(args: CompileArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let runtime = Runtime::new()?;
    let wasm = std::fs::read(&args.guest).map_err(|source| Error::Read {
        path: args.guest.clone(),
        source,
    })?;
    let name = args
        .guest
        .file_stem()
        .map_or("guest".into(), |s| s.to_string_lossy());
    let precompiled = runtime.precompile(&name, &wasm)?;
    let output = args
        .output
        .unwrap_or_else(|| args.guest.with_extension("cwasm"));
    std::fs::write(&output, &precompiled)
        .map_err(|source| Error::Write {
            path: output.clone(),
            source,
        })
        .with_context(|| format!("precompiling `{}`", args.guest.display()))?;
    if !quiet {
        eprintln!(
            "tulip: wrote {} ({} bytes); run it with `tulip run {}`",
            output.display(),
            precompiled.len(),
            output.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Parses a byte size: a number with an optional binary suffix K, M or G (also KiB,
/// MB, …; case-insensitive).
fn parse_size(text: &str) -> Result<usize, String> {
    let lower = text.trim().to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(digits_end);
    let shift = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        _ => {
            return Err(format!(
                "`{text}` is not a size: use a number with K, M or G, e.g. 64M"
            ));
        }
    };
    let number: usize = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size: use a number with K, M or G, e.g. 64M"))?;
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// Parses a duration: a number (decimals allowed) with a unit: ms, s, m or h.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let err = || format!("`{text}` is not a duration: use a number with ms, s, m or h, e.g. 30s");
    let text = text.trim();
    let unit_start = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(err)?;
    let (number, unit) = text.split_at(unit_start);
    let number: f64 = number.parse().map_err(|_| err())?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "s" => number,
        "m" | "min" => number * 60.0,
        "h" => number * 3600.0,
        _ => return Err(err()),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| err())
}

/// Parses a CPU limit: a plain number is fuel, a duration converts to fuel.
fn parse_cpu(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(fuel) => Ok(fuel),
        Err(_) => parse_duration(text).map(host_wasi::fuel_for).map_err(|_| {
            format!("`{text}` is not a CPU limit: use a time (5s, 250ms) or a fuel count")
        }),
    }
}

/// Parses `KEY=VALUE`.
fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("`{text}` is not KEY=VALUE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("64X").unwrap_err().contains("is not a size"));
        assert!(parse_size("M").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(
            parse_duration("5")
                .unwrap_err()
                .contains("is not a duration")
        );
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    fn cpu_is_fuel_or_time() {
        assert_eq!(parse_cpu("12345"), Ok(12345));
        assert_eq!(parse_cpu("2s"), Ok(2 * host_wasi::FUEL_PER_CPU_SECOND));
        assert!(
            parse_cpu("lots")
                .unwrap_err()
                .contains("is not a CPU limit")
        );
    }

    #[test]
    fn env_pairs() {
        assert_eq!(parse_env("A=b=c"), Ok(("A".into(), "b=c".into())));
        assert!(parse_env("=x").is_err() && parse_env("novalue").is_err());
    }

    #[test]
    fn run_flags_parse() {
        let cli = Cli::try_parse_from([
            "tulip",
            "run",
            "g.wasm",
            "--listen",
            "127.0.0.1:0",
            "--connect",
            "10.0.0.0/8",
            "--udp",
            "--max-memory",
            "64M",
            "--max-cpu",
            "1s",
            "--deadline",
            "30s",
            "--env",
            "K=V",
            "--",
            "a",
            "--b",
        ])
        .unwrap();
        let Command::Run(run) = cli.command else {
            panic!("not run")
        };
        assert_eq!(run.listen, ["127.0.0.1:0".parse().unwrap()]);
        assert_eq!(run.connect, ["10.0.0.0/8".parse().unwrap()]);
        assert!(run.udp && !run.name_lookup);
        assert_eq!(run.max_memory, 64 << 20);
        assert_eq!(run.max_cpu, Some(host_wasi::FUEL_PER_CPU_SECOND));
        assert_eq!(run.deadline, Some(Duration::from_secs(30)));
        assert_eq!(run.env, [("K".to_owned(), "V".to_owned())]);
        assert_eq!(run.args, ["a", "--b"]);
    }

    #[test]
    fn exit_statuses() {
        assert_eq!(exit_status(&Outcome::Exited(3)), 3);
        assert_eq!(exit_status(&Outcome::Deadline(Duration::ZERO)), 124);
        assert_eq!(exit_status(&Outcome::CpuLimit { fuel: 1 }), 152);
        assert_eq!(
            exit_status(&Outcome::MemoryLimit {
                limit: 1,
                requested: 2
            }),
            137
        );
        assert_eq!(exit_status(&Outcome::Panicked), 134);
        assert_eq!(exit_status(&Outcome::Failed(String::new())), 125);
    }
}
