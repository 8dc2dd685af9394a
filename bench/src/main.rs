//! `tulip-bench`: the echo benchmark, the idle-connection and syscall modes, and the
//! built-in Rust comparison servers (`serve`). See the crate's README.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use tulip_bench::servers::ServerKind;
use tulip_bench::{
    Availability, EchoOptions, Environment, IdleOptions, ServerSpec, SyscallOptions,
    builtin_servers, parse_duration, parse_size, prepare, run_echo, run_idle, run_syscalls, select,
};

/// Tulip's benchmark harness: the same closed-loop Rust client against several TCP echo
/// servers, side by side, on 127.0.0.1.
#[derive(Debug, Parser)]
#[command(name = "tulip-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Round trips/s, p50/p99 latency and server CPU per round trip, median of rounds.
    Echo {
        #[command(flatten)]
        servers: ServerArgs,
        #[command(flatten)]
        load: LoadArgs,
        /// Load before each measured window.
        #[arg(long, default_value = "1s", value_parser = duration)]
        warmup: Duration,
        /// Each measured window.
        #[arg(long, default_value = "3s", value_parser = duration)]
        duration: Duration,
        /// Rounds; each measures every server and size once, in rotated server order.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// Server RSS per idle connection (VmRSS before and after opening them).
    Idle {
        #[command(flatten)]
        servers: ServerArgs,
        /// Idle connections per server.
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
    },
    /// System calls per round trip under load, counted by `strace -c -f` on the server.
    Syscalls {
        #[command(flatten)]
        servers: ServerArgs,
        #[command(flatten)]
        load: LoadArgs,
        /// Load before strace attaches.
        #[arg(long, default_value = "500ms", value_parser = duration)]
        warmup: Duration,
        /// The traced window.
        #[arg(long, default_value = "2s", value_parser = duration)]
        duration: Duration,
        /// The strace executable.
        #[arg(long, default_value = "strace")]
        strace: PathBuf,
    },
    /// Runs a built-in Rust echo server on 127.0.0.1:PORT until killed.
    Serve {
        /// Which server.
        kind: ServerKind,
        /// The port.
        port: u16,
    },
    /// Lists the servers that would be measured, and whether each is available here.
    List {
        #[command(flatten)]
        servers: ServerArgs,
    },
}

/// Which servers to measure.
#[derive(Debug, Args)]
struct ServerArgs {
    /// Servers by name, comma-separated, in table order [default: every built-in and
    /// --server one].
    #[arg(long, value_delimiter = ',')]
    servers: Vec<String>,
    /// Adds (or replaces) a server: NAME=PROGRAM ARG…, PROGRAM being
    /// example:PACKAGE/TARGET, bin:PACKAGE/TARGET (built with this build's profile),
    /// python (the --python interpreter) or an executable; `{port}` in an argument is
    /// the port. E.g.
    /// --server 'tulip-protocol=example:host-native/echo_server_protocol 127.0.0.1:{port}'.
    #[arg(long = "server", value_name = "NAME=PROGRAM ARG…")]
    extra: Vec<String>,
    /// The Python interpreter of the asyncio and uvloop servers.
    #[arg(long, default_value = "python3")]
    python: PathBuf,
    /// Do not pip-install missing Python modules (the uvloop row is then skipped).
    #[arg(long)]
    no_install: bool,
}

/// The load on each server.
#[derive(Debug, Args)]
struct LoadArgs {
    /// Message sizes, comma-separated (1024, 1KiB, 64KiB, 1MiB).
    #[arg(long, value_delimiter = ',', default_value = "1KiB,64KiB", value_parser = size)]
    sizes: Vec<usize>,
    /// Concurrent connections, each with one message in flight.
    #[arg(long, default_value_t = 10)]
    connections: usize,
    /// Client threads the connections are spread over.
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
}

fn duration(text: &str) -> Result<Duration, String> {
    parse_duration(text).map_err(|e| e.to_string())
}

fn size(text: &str) -> Result<usize, String> {
    parse_size(text).map_err(|e| e.to_string())
}

impl ServerArgs {
    /// The selected servers, prepared (built, Python modules checked).
    fn prepare(&self) -> Result<Vec<Availability>, tulip_bench::Error> {
        let extra = self
            .extra
            .iter()
            .map(|s| ServerSpec::parse(s))
            .collect::<Result<Vec<_>, _>>()?;
        let specs = select(builtin_servers(), extra, &self.servers)?;
        let exe = std::env::current_exe()
            .map_err(|e| tulip_bench::Error::io("find the harness executable", e))?;
        let mut env = Environment::new(exe, self.python.clone());
        env.install_python_modules = !self.no_install;
        Ok(specs.iter().map(|spec| prepare(spec, &env)).collect())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("tulip-bench: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs a command; `Ok(false)` when a server failed.
fn run(command: Command) -> Result<bool, tulip_bench::Error> {
    let mut log = |line: &str| eprintln!("{line}");
    let build = if cfg!(debug_assertions) {
        "debug build: figures are not representative, use --release"
    } else {
        "release build"
    };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    match command {
        Command::Serve { kind, port } => {
            kind.serve(port)
                .map_err(|e| tulip_bench::Error::io(format!("serve on 127.0.0.1:{port}"), e))?;
            Ok(true)
        }
        Command::List { servers } => {
            for availability in servers.prepare()? {
                match availability {
                    Availability::Ready(launch) => println!(
                        "{:<16} {} {}",
                        launch.name,
                        launch.program.display(),
                        launch.args.join(" ")
                    ),
                    Availability::Unavailable { name, reason } => {
                        println!("{name:<16} unavailable: {reason}")
                    }
                }
            }
            Ok(true)
        }
        Command::Echo {
            servers,
            load,
            warmup,
            duration,
            rounds,
        } => {
            tulip_bench::raise_open_files()?;
            let servers = servers.prepare()?;
            let options = EchoOptions {
                sizes: load.sizes,
                connections: load.connections,
                warmup,
                duration,
                rounds: rounds.max(1),
                client_threads: load.client_threads,
            };
            let report = run_echo(&servers, &options, &mut log);
            println!("TCP echo on 127.0.0.1 ({cores} cores, {build})\n");
            print!("{}", report.table());
            Ok(!report.any_failed())
        }
        Command::Idle {
            servers,
            connections,
        } => {
            let servers = servers.prepare()?;
            let report = run_idle(&servers, &IdleOptions { connections }, &mut log);
            println!("Idle connections on 127.0.0.1 ({cores} cores, {build})\n");
            print!("{}", report.table());
            Ok(!report.any_failed())
        }
        Command::Syscalls {
            servers,
            load,
            warmup,
            duration,
            strace,
        } => {
            tulip_bench::raise_open_files()?;
            let servers = servers.prepare()?;
            let options = SyscallOptions {
                sizes: load.sizes,
                connections: load.connections,
                warmup,
                duration,
                client_threads: load.client_threads,
                strace,
            };
            let report = run_syscalls(&servers, &options, &mut log);
            println!("System calls per round trip ({cores} cores, {build})\n");
            print!("{}", report.table());
            Ok(!report.any_failed())
        }
    }
}
