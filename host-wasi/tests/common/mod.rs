//! Shared by the integration tests: builds the test guests (host-wasi/test-guests) for
//! wasm32-wasip2 once per test process, compiles each once per process, and small
//! helpers for waiting on guest output.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use host_wasi::{Guest, RunningGuest, Runtime};

/// The test-guests crate.
fn guests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("test-guests")
}

/// Where the guests are built: their own target directory (under the shared one when
/// CARGO_TARGET_DIR is set), so building them never waits on the lock of the build that
/// runs these tests.
fn guests_target() -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    base.join("test-guests")
}

/// Builds every test guest (cargo makes this a no-op when nothing changed) and returns
/// the directory holding the `.wasm` files.
pub(crate) fn guest_wasm_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let target = guests_target();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "--target",
                "wasm32-wasip2",
                "--manifest-path",
            ])
            .arg(guests_dir().join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", &target)
            // Flags meant for the host build must not leak into the guest build.
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET")
            .status()
            .expect("run cargo to build the test guests");
        assert!(
            status.success(),
            "building the test guests failed (is wasm32-wasip2 installed?)"
        );
        target.join("wasm32-wasip2").join("debug")
    })
}

/// The path of test guest `name`'s `.wasm`.
pub(crate) fn guest_path(name: &str) -> PathBuf {
    guest_wasm_dir().join(format!("{name}.wasm"))
}

/// The runtime shared by a test process.
pub(crate) fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new().expect("runtime"))
}

/// Test guest `name`, compiled once per process (different guests compile in parallel).
pub(crate) fn guest(name: &str) -> Guest {
    static GUESTS: OnceLock<Mutex<HashMap<String, Arc<OnceLock<Guest>>>>> = OnceLock::new();
    let slot = GUESTS
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .entry(name.to_owned())
        .or_default()
        .clone();
    slot.get_or_init(|| runtime().load(guest_path(name)).expect("load test guest"))
        .clone()
}

/// Waits (bounded by `limit`, polling) until `guest`'s captured stdout has a line
/// starting with `prefix`, and returns the rest of that line.
pub(crate) fn wait_for_line(guest: &RunningGuest, prefix: &str, limit: Duration) -> String {
    let started = Instant::now();
    loop {
        let out = String::from_utf8_lossy(&guest.stdout()).into_owned();
        if let Some(line) = out.lines().find_map(|l| l.strip_prefix(prefix)) {
            return line.to_owned();
        }
        assert!(
            !guest.is_finished(),
            "guest `{}` stopped before printing {prefix:?}; stdout: {out}; stderr: {}",
            guest.name(),
            String::from_utf8_lossy(&guest.stderr())
        );
        assert!(
            started.elapsed() < limit,
            "no {prefix:?} line within {limit:?}; stdout: {out}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A report's captured stdout as text.
pub(crate) fn stdout_text(report: &host_wasi::Report) -> String {
    String::from_utf8_lossy(&report.stdout).into_owned()
}
