//! Every scenario inside one WASI guest: `tests/guest` is built for wasm32-wasip2 (in a
//! target directory of its own), run once under host-wasi with loopback grants, and each
//! trace it prints is compared with the simulation's fault-free trace.
#![cfg(not(target_os = "wasi"))]

use std::path::PathBuf;
use std::time::Duration;

use conformance::report::{self, ScenarioResult};
use conformance::runner;
use guest_sdk::build::GuestBuild;
use host_wasi::{AddrRange, Grants, Limits, Runtime};

macro_rules! names {
    ($($area:ident :: $name:ident => $faults:ident $([$($need:ident),*])?,)*) => {
        &[$(stringify!($name)),*]
    };
}

/// Every registered scenario: the guest must report each one.
const NAMES: &[&str] = conformance::foreach_scenario!(names);

/// A guard against a hung guest, not a timing assertion.
const GUEST_DEADLINE: Duration = Duration::from_secs(600);

/// The target directory this test was built in (`…/target`), from its own path
/// (`…/target/debug/deps/wasi-…`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    exe.ancestors()
        .nth(3)
        .expect("tests live in TARGET/PROFILE/deps")
        .to_path_buf()
}

#[test]
fn every_scenario_in_one_guest_matches_the_simulation() {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("guest/Cargo.toml");
    let built = GuestBuild::new(manifest)
        .package("conformance-guest")
        .bin("conformance-guest")
        .target_dir(target_dir().join("conformance-guest"))
        .build()
        .unwrap_or_else(|e| panic!("building the conformance guest: {e}"));
    let runtime = Runtime::new().expect("a wasmtime runtime");
    let guest = runtime
        .load(built.bin("conformance-guest"))
        .unwrap_or_else(|e| panic!("loading the conformance guest: {e}"));
    let loopback: AddrRange = "127.0.0.1".parse().expect("an address range");
    let run = guest
        .builder()
        .grants(
            Grants::new()
                .allow_listen(loopback.clone())
                .allow_connect(loopback)
                .allow_udp(true),
        )
        .limits(
            Limits::new()
                .with_deadline(Some(GUEST_DEADLINE))
                .max_output(64 << 20),
        )
        .run();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.outcome.success() && run.denials.is_empty(),
        "the conformance guest: {}; denied: {:?}\nstderr:\n{stderr}",
        run.outcome,
        run.denials
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    let results = report::parse(&stdout).unwrap_or_else(|e| panic!("the guest's report: {e}"));
    let mut failures = Vec::new();
    for name in NAMES {
        let Some(result) = results.get(*name) else {
            failures.push(format!("scenario `{name}` was not reported by the guest"));
            continue;
        };
        if let Err(e) = runner::check_reported(name, "guest", result) {
            failures.push(e);
        }
    }
    let unsupported: Vec<&str> = NAMES
        .iter()
        .copied()
        .filter(|n| matches!(results.get(*n), Some(ScenarioResult::Unsupported(_))))
        .collect();
    assert_eq!(
        unsupported,
        ["panicking_callback_is_reported"],
        "the scenarios a guest cannot run (declared Needs)"
    );
    assert!(
        failures.is_empty(),
        "{} of {} scenarios differ on the WASI guest:\n\n{}\nguest stderr:\n{stderr}",
        failures.len(),
        NAMES.len(),
        failures.join("\n")
    );
}
