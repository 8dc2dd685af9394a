//! Measures how long a guest takes to start from a compiled, pre-linked component:
//! executor, WASI context and store set-up plus instantiation, for a guest that exits
//! at once.
//!
//! ```text
//! cargo run --release -p host-wasi --example guest_start -- GUEST.wasm|GUEST.cwasm [RUNS]
//! ```
//!
//! GUEST is a `.wasm` component (compiled first) or a `.cwasm` precompiled by `tulip
//! compile` (loaded without compiling, as `tulip run` does). The guest gets no grants, so
//! a server guest that cannot listen exits as well; only its start is timed. Prints the
//! median and the 90th percentile of `Report::start_time` over RUNS runs (default 200),
//! after one warm-up run, as `guest start over RUNS runs: median M µs, p90 P µs`.

use std::path::Path;
use std::time::Duration;

use host_wasi::{Error, Guest, Outcome, Runtime, Stdio};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: guest_start GUEST.wasm|GUEST.cwasm [RUNS]")?;
    let runs: usize = args.next().map_or(Ok(200), |s| s.parse())?;
    if runs == 0 {
        return Err("RUNS must be at least 1".into());
    }

    let runtime = Runtime::new()?;
    let guest = load(&runtime, Path::new(&path))?;
    let run = || {
        guest
            .builder()
            .stdout(Stdio::Discard)
            .stderr(Stdio::Discard)
            .run()
    };
    let warm_up = run();
    if !matches!(warm_up.outcome, Outcome::Exited(_)) {
        return Err(format!("the guest did not exit cleanly: {warm_up}").into());
    }

    let mut times: Vec<Duration> = (0..runs).map(|_| run().start_time).collect();
    times.sort();
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    let median = times[times.len() / 2];
    let p90 = times[times.len() * 9 / 10];
    println!(
        "guest start over {runs} runs: median {:.1} µs, p90 {:.1} µs",
        micros(median),
        micros(p90)
    );
    Ok(())
}

/// Loads a component, or a precompiled guest when `path` is one.
#[allow(
    unsafe_code,
    reason = "running a .cwasm means trusting its native code"
)]
fn load(runtime: &Runtime, path: &Path) -> Result<Guest, Error> {
    match runtime.load(path) {
        // SAFETY: the caller names a .cwasm it made with `tulip compile` (see the usage);
        // wasmtime checks its version and settings.
        Err(Error::Precompiled { .. }) => unsafe { runtime.load_precompiled(path) },
        other => other,
    }
}
