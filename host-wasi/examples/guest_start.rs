//! Measures how long a guest takes to start from a compiled, pre-linked component:
//! executor, WASI context and store set-up plus instantiation, for a guest that exits
//! at once.
//!
//! ```text
//! cargo run --release -p host-wasi --example guest_start -- GUEST.wasm [RUNS]
//! ```
//!
//! Prints the median and the 90th percentile of `Report::start_time` over RUNS runs
//! (default 200), after one warm-up run.

use std::time::Duration;

use host_wasi::{Outcome, Runtime, Stdio};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: guest_start GUEST.wasm [RUNS]")?;
    let runs: usize = args.next().map_or(Ok(200), |s| s.parse())?;

    let runtime = Runtime::new()?;
    let guest = runtime.load(&path)?;
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
    let median = times[times.len() / 2];
    let p90 = times[times.len() * 9 / 10];
    println!("guest start over {runs} runs: median {median:?}, p90 {p90:?}");
    Ok(())
}
