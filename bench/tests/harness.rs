//! End-to-end runs of the benchmark runner against the built-in mio and tokio servers:
//! loopback only, tiny windows, no assertion on speed.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use tulip_bench::{
    Availability, EchoOptions, Environment, IdleOptions, Outcome, Program, ServerSpec,
    SyscallOptions, builtin_servers, prepare, run_echo, run_idle, run_syscalls, select,
};

const EXE: &str = env!("CARGO_BIN_EXE_tulip-bench");

fn env() -> Environment {
    let mut env = Environment::new(PathBuf::from(EXE), "python3".into());
    env.install_python_modules = false;
    env
}

fn servers(names: &[&str], extra: &[&str]) -> Vec<Availability> {
    let extra = extra
        .iter()
        .map(|s| ServerSpec::parse(s).unwrap())
        .collect();
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let env = env();
    select(builtin_servers(), extra, &names)
        .unwrap()
        .iter()
        .map(|spec| prepare(spec, &env))
        .collect()
}

fn quiet(_: &str) {}

#[test]
fn echo_measures_mio_and_tokio_side_by_side() {
    let options = EchoOptions {
        sizes: vec![1024, 16 * 1024],
        connections: 4,
        warmup: Duration::from_millis(20),
        duration: Duration::from_millis(150),
        rounds: 2,
        client_threads: 1,
    };
    let report = run_echo(&servers(&["mio", "tokio"], &[]), &options, &mut quiet);
    let order: Vec<(&str, usize)> = report
        .rows
        .iter()
        .map(|r| (r.server.as_str(), r.size))
        .collect();
    assert_eq!(
        order,
        [
            ("mio", 1024),
            ("tokio", 1024),
            ("mio", 16384),
            ("tokio", 16384)
        ]
    );
    for row in &report.rows {
        let Outcome::Measured(summary) = &row.outcome else {
            panic!("{} at {}: {:?}", row.server, row.size, row.outcome);
        };
        assert_eq!(summary.rounds.len(), 2, "one sample per round");
        for sample in &summary.rounds {
            // Every connection completes at least its first (verified) echo.
            assert!(sample.round_trips >= 4);
            assert!(sample.p50 <= sample.p99);
            assert!(sample.server_cpu_us.is_finite() && sample.server_cpu_us >= 0.0);
            assert!(sample.server_user_us <= sample.server_cpu_us);
        }
        assert_eq!(
            summary.median.round_trips,
            summary.rounds.iter().map(|s| s.round_trips).sum::<u64>()
        );
    }
    let table = report.table().to_string();
    // The baseline's ratio to itself.
    let tokio_line = table.lines().find(|l| l.starts_with("| tokio")).unwrap();
    assert!(tokio_line.contains("1.00×"), "{table}");
    assert!(!report.any_failed());
}

#[test]
fn the_command_prints_a_markdown_table() {
    let output = Command::new(EXE)
        .args([
            "echo",
            "--servers",
            "mio,tokio",
            "--sizes",
            "1KiB",
            "--connections",
            "2",
            "--warmup",
            "0s",
            "--duration",
            "100ms",
            "--rounds",
            "1",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("| server "), "{stdout}");
    assert!(stdout.contains("round trips/s"), "{stdout}");
    assert!(stdout.contains("| mio "), "{stdout}");
    assert!(stdout.contains("| tokio "), "{stdout}");
}

#[test]
fn an_unknown_server_is_a_usage_error() {
    let output = Command::new(EXE)
        .args(["echo", "--servers", "nope"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown server `nope`"));
}

#[test]
fn broken_servers_are_reported_and_the_others_still_measured() {
    let options = EchoOptions {
        sizes: vec![1024],
        connections: 2,
        warmup: Duration::ZERO,
        duration: Duration::from_millis(50),
        rounds: 1,
        client_threads: 1,
    };
    let mut list = servers(
        &["missing", "exits", "mio"],
        &[
            "missing=/nonexistent/echo {port}",
            "exits=/bin/false {port}",
        ],
    );
    list.push(Availability::Unavailable {
        name: "absent".into(),
        reason: "not here".into(),
    });
    let report = run_echo(&list, &options, &mut quiet);
    let outcome = |name| &report.row(name, 1024).unwrap().outcome;
    assert!(matches!(outcome("missing"), Outcome::Failed(m) if m.contains("cannot start")));
    assert!(matches!(outcome("exits"), Outcome::Failed(m) if m.contains("exited")));
    assert!(matches!(outcome("mio"), Outcome::Measured(_)));
    assert_eq!(outcome("absent"), &Outcome::Unavailable("not here".into()));
    assert!(report.any_failed());
    let table = report.table().to_string();
    assert!(table.contains("absent skipped: not here"), "{table}");
}

#[test]
fn idle_connections_are_accepted_and_tokio_buffers_stay_lazy() {
    let report = run_idle(
        &servers(&["mio", "tokio"], &[]),
        &IdleOptions { connections: 300 },
        &mut quiet,
    );
    for (name, outcome) in &report.rows {
        let Outcome::Measured(sample) = outcome else {
            panic!("{name}: {outcome:?}");
        };
        assert_eq!(sample.connections, 300);
        assert!(sample.accepted >= 300, "{name}: {sample:?}");
        // A 64 KiB read buffer per idle connection would show as tens of KiB each.
        assert!(sample.kib_per_connection() < 16.0, "{name}: {sample:?}");
    }
}

#[test]
fn syscalls_are_counted_per_round_trip_or_the_skip_says_why() {
    let options = SyscallOptions {
        sizes: vec![1024],
        connections: 2,
        warmup: Duration::from_millis(20),
        duration: Duration::from_millis(200),
        ..SyscallOptions::default()
    };
    let strace_runs = Command::new("strace").arg("-V").output().is_ok();
    let report = run_syscalls(&servers(&["mio"], &[]), &options, &mut quiet);
    let (_, _, outcome) = &report.rows[0];
    match outcome {
        // The floor: one read and one write per message.
        Outcome::Measured(sample) => {
            assert!(sample.round_trips > 0);
            assert!(sample.of(&["read", "recvfrom"]) >= 1.0, "{sample:?}");
            assert!(sample.of(&["write", "sendto"]) >= 1.0, "{sample:?}");
        }
        Outcome::Unavailable(reason) if strace_runs => {
            assert!(reason.contains("attach"), "{reason}")
        }
        Outcome::Unavailable(reason) => assert!(reason.contains("strace"), "{reason}"),
        Outcome::Failed(message) => panic!("{message}"),
    }
}

#[test]
fn a_cargo_target_is_built_and_started_by_name() {
    // The path a Tulip example takes (`example:host-native/echo_server`), exercised with
    // this crate's own binary so that it needs nothing else.
    let spec = ServerSpec::parse("built=bin:tulip-bench/tulip-bench serve mio {port}").unwrap();
    assert!(matches!(spec.program, Program::Cargo { .. }));
    let availability = prepare(&spec, &env());
    let Availability::Ready(launch) = &availability else {
        panic!("{availability:?}");
    };
    assert!(launch.program.ends_with("tulip-bench"), "{launch:?}");
    let report = run_echo(
        &[availability],
        &EchoOptions {
            sizes: vec![100],
            connections: 1,
            warmup: Duration::ZERO,
            duration: Duration::from_millis(30),
            rounds: 1,
            client_threads: 1,
        },
        &mut quiet,
    );
    assert!(matches!(report.rows[0].outcome, Outcome::Measured(_)));
}
