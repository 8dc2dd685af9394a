//! Shared by the integration tests: builds guest-sdk's example guests for wasm32-wasip2
//! once per test process (in a target directory of their own), loads each once into a
//! host-wasi runtime, and waits for a guest's output lines.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use guest_sdk::build::{GuestArtifacts, GuestBuild};
use host_wasi::{Guest, RunningGuest, Runtime};

/// The example guests, built once per test process.
fn artifacts() -> &'static GuestArtifacts {
    static BUILT: OnceLock<GuestArtifacts> = OnceLock::new();
    BUILT.get_or_init(|| {
        // Optimised guests: a debug build is several times larger, and wasmtime (itself
        // unoptimised in a test build) takes that much longer to compile it.
        GuestBuild::sdk_examples()
            .release(true)
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
    })
}

/// The runtime shared by a test process.
pub(crate) fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new().expect("a wasmtime runtime"))
}

/// Example guest `name`, compiled once per process.
pub(crate) fn guest(name: &str) -> Guest {
    static GUESTS: OnceLock<Mutex<HashMap<String, Arc<OnceLock<Guest>>>>> = OnceLock::new();
    let slot = GUESTS
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .entry(name.to_owned())
        .or_default()
        .clone();
    slot.get_or_init(|| {
        runtime()
            .load(artifacts().example(name))
            .unwrap_or_else(|e| panic!("load guest {name}: {e}"))
    })
    .clone()
}

/// Waits (bounded by `limit`) until the guest's stdout has a line starting with
/// `prefix`, and returns the rest of that line.
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

/// A payload that differs per connection and per position, so a byte in the wrong
/// stream or place shows up.
pub(crate) fn payload(conn: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i * 31 + conn * 7 + i / 251) as u8)
        .collect()
}
