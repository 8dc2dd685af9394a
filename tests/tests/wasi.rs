//! Every scenario inside the WASI guest: `tests/guest` (package `conformance-guest`) is
//! built for wasm32-wasip2 once, run once under host-wasi with loopback grants (it runs
//! every scenario on guest-sdk's backend and prints a [`report`]), and each scenario's
//! test compares the trace the guest reported with the simulation's fault-free trace.
//!
//! One test per scenario, so a failure names it. The guest runs once per test run, not
//! once per test: within a process the result is shared through a `OnceLock`; across the
//! processes nextest runs each test in, the first test to take a file lock builds and runs
//! the guest and leaves its output in the guest's target directory under the name of this
//! run (`NEXTEST_RUN_ID`), and the others read it.
#![cfg(not(target_os = "wasi"))]

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use conformance::report::{self, Parsed};
use conformance::runner;
use guest_sdk::build::GuestBuild;
use host_wasi::{AddrRange, Grants, Limits, Runtime};

/// A guard against a hung guest, not a timing assertion.
const GUEST_DEADLINE: Duration = Duration::from_secs(600);

/// The prefix of the files a guest run leaves for the other test processes.
const SHARED_PREFIX: &str = "conformance-report-";

/// What the guest run left: its report, and a description of the run for failures.
struct GuestRun {
    /// The scenarios it reported.
    parsed: Parsed,
    /// Whether it exited successfully, with no denied operation.
    clean: bool,
    /// Its outcome, denials and stderr, for failure messages.
    summary: String,
}

/// The target directory this test was built in (`…/target`), from its own path
/// (`…/target/debug/deps/wasi-…`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    exe.ancestors()
        .nth(3)
        .expect("tests live in TARGET/PROFILE/deps")
        .to_path_buf()
}

/// Build the guest (a no-op for cargo when nothing changed) and return its `.wasm`.
fn build_guest() -> Result<PathBuf, String> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("guest/Cargo.toml");
    let built = GuestBuild::new(manifest)
        .package("conformance-guest")
        .bin("conformance-guest")
        .target_dir(target_dir().join("conformance-guest"))
        .build()
        .map_err(|e| format!("building the conformance guest: {e}"))?;
    Ok(built.bin("conformance-guest"))
}

/// Run the guest under host-wasi: every scenario, loopback grants only. Returns its
/// stdout and the summary file's text (`clean` or `failed` on the first line, then the
/// outcome, denials and stderr).
fn run_guest(wasm: &Path) -> Result<(String, String), String> {
    let runtime = Runtime::new().map_err(|e| format!("a wasmtime runtime: {e}"))?;
    let guest = runtime
        .load(wasm)
        .map_err(|e| format!("loading the conformance guest: {e}"))?;
    let loopback: AddrRange = "127.0.0.1".parse().expect("an address range");
    let run = guest
        .builder()
        .grants(
            Grants::new()
                .allow_listen(loopback)
                .allow_connect(loopback)
                .allow_udp(true),
        )
        .limits(
            Limits::new()
                .with_deadline(Some(GUEST_DEADLINE))
                .max_output(64 << 20),
        )
        .run();
    let clean = run.outcome.success() && run.denials.is_empty();
    let summary = format!(
        "{}\nthe guest's outcome: {}; denied operations: {:?}; ran {:?}\nits stderr:\n{}",
        if clean { "clean" } else { "failed" },
        run.outcome,
        run.denials,
        run.run_time,
        String::from_utf8_lossy(&run.stderr)
    );
    Ok((String::from_utf8_lossy(&run.stdout).into_owned(), summary))
}

/// Build and run the guest: its stdout and summary.
fn build_and_run() -> Result<(String, String), String> {
    run_guest(&build_guest()?)
}

/// The guest's stdout and summary for this nextest run (`run`): read from the files
/// another test process of this run left, else made by building and running the guest
/// (under an exclusive lock, so one process runs it while the others wait) and left for
/// the others.
fn shared_output(run: &str) -> Result<(String, String), String> {
    let dir = target_dir().join("conformance-guest");
    let io = |what: &str, e: std::io::Error| format!("{what}: {e}");
    fs::create_dir_all(&dir).map_err(|e| io("the guest's target directory", e))?;
    let (out_path, summary_path) = (
        dir.join(format!("{SHARED_PREFIX}{run}.out")),
        dir.join(format!("{SHARED_PREFIX}{run}.summary")),
    );
    let lock = File::create(dir.join("conformance-report.lock"))
        .map_err(|e| io("the report's lock file", e))?;
    lock.lock().map_err(|e| io("locking the report", e))?;
    if let (Ok(out), Ok(summary)) = (
        fs::read_to_string(&out_path),
        fs::read_to_string(&summary_path),
    ) {
        return Ok((out, summary));
    }
    // Other runs' files are stale: this run makes its own.
    if let Ok(entries) = fs::read_dir(&dir) {
        for entry in entries.flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(SHARED_PREFIX)
            {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
    // A failure to build or start the guest is shared too: the other tests report it
    // instead of each trying again.
    let (out, summary) =
        build_and_run().unwrap_or_else(|e| (String::new(), format!("failed\n{e}")));
    fs::write(&out_path, &out).map_err(|e| io("writing the guest's report", e))?;
    fs::write(&summary_path, &summary).map_err(|e| io("writing the guest's summary", e))?;
    Ok((out, summary))
}

/// The guest's run, once per process, and once per nextest run (see the module docs).
fn guest_run() -> &'static Result<GuestRun, String> {
    static RUN: OnceLock<Result<GuestRun, String>> = OnceLock::new();
    RUN.get_or_init(|| {
        let (out, summary) = match std::env::var("NEXTEST_RUN_ID") {
            Ok(run) => shared_output(&run)?,
            Err(_) => build_and_run()?,
        };
        let parsed = report::parse(&out)
            .map_err(|e| format!("the guest's report does not parse: {e}\n{summary}"))?;
        Ok(GuestRun {
            parsed,
            clean: summary.starts_with("clean"),
            summary,
        })
    })
}

/// Check what the guest reported for scenario `name`.
fn check(name: &str) {
    let run = guest_run()
        .as_ref()
        .unwrap_or_else(|e| panic!("scenario `{name}` on guest: {e}"));
    let Some(result) = run.parsed.results.get(name) else {
        let why = match &run.parsed.cut_short {
            Some(during) => format!("the guest stopped while running `{during}`"),
            None if run.clean => "the guest did not run it".to_owned(),
            None => "the guest did not run to the end".to_owned(),
        };
        panic!(
            "scenario `{name}` on guest: not reported ({why})\n{}",
            run.summary
        );
    };
    match runner::check_reported(name, "guest", result) {
        Ok(None) => {}
        Ok(Some(need)) => {
            eprintln!("scenario `{name}` not run on guest: it needs {need:?} (declared)");
        }
        Err(e) => panic!("{e}"),
    }
}

/// The guest exits successfully, is never denied an operation (it needs only the
/// loopback grants) and reports every registered scenario: nothing else in its report.
#[test]
fn the_guest_run_is_clean_and_complete() {
    let run = guest_run().as_ref().unwrap_or_else(|e| panic!("{e}"));
    assert!(run.clean, "the guest's run:\n{}", run.summary);
    let reported: Vec<&str> = run.parsed.results.keys().map(String::as_str).collect();
    let mut registered: Vec<&str> = conformance::SCENARIOS.iter().map(|s| s.name).collect();
    registered.sort_unstable();
    assert_eq!(reported, registered, "the scenarios the guest reported");
}

macro_rules! wasi_tests {
    ($($area:ident :: $name:ident => $faults:ident $([$($need:ident),*])?,)*) => {
        $(
            #[test]
            fn $name() {
                check(stringify!($name));
            }
        )*
    };
}

conformance::foreach_scenario!(wasi_tests);
