//! Runs a guest under an explicit policy and prints its report.
//!
//! ```text
//! cargo run -p host-wasi --example run_guest -- GUEST.wasm [ARGS...]
//! ```
//!
//! The guest may listen on 127.0.0.1:7000 and connect to 127.0.0.1:5432, nothing else;
//! it gets 64 MiB of memory, 10 s of CPU and one minute of wall-clock time.

use std::time::Duration;

use host_wasi::{Grants, Limits, Runtime, Stdio};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: run_guest GUEST.wasm [ARGS...]")?;

    let runtime = Runtime::new()?;
    let guest = runtime.load(&path)?;
    println!("{} imports: {}", guest.name(), guest.imports().join(", "));

    let grants = Grants::new()
        .allow_listen("127.0.0.1:7000".parse()?)
        .allow_connect("127.0.0.1:5432".parse()?);
    let limits = Limits::new()
        .max_memory(64 << 20)
        .max_cpu_time(Duration::from_secs(10))
        .with_deadline(Some(Duration::from_secs(60)));
    let report = guest
        .builder()
        .grants(grants)
        .limits(limits)
        .args(args)
        .stdout(Stdio::Inherit)
        .stderr(Stdio::Inherit)
        .on_denial(|guest, denial| eprintln!("[{guest}] {denial}"))
        .run();

    println!("{report}");
    Ok(())
}
