//! The conformance suite's WASI guest: runs the registered scenarios (all of them, or
//! those named as arguments) one after the other, each on a new loop over guest-sdk's
//! `GuestHost` and `GuestNet`, and prints each one's trace on stdout in the format of
//! `conformance::report`. The host side (`tests/tests/wasi.rs`) builds it, runs it under
//! host-wasi and compares every trace with the simulation's.
//!
//! A scenario whose `Need`s the guest lacks (catching panics: `wasm32-wasip2` aborts on a
//! panic; resetting a connection by closing with unread data) is reported unsupported,
//! not run. It needs listen and connect grants on
//! 127.0.0.1 (any port) and UDP. Exit status 0 once every scenario was reported (failed
//! ones included: the host decides), 2 for an unknown scenario name.

#[cfg(all(target_os = "wasi", target_env = "p2"))]
fn main() -> std::process::ExitCode {
    use std::io::Write as _;
    use std::process::ExitCode;

    use conformance::{Cx, Env, SCENARIOS, report, runner};
    use guest_sdk::{GuestHost, GuestNet, LINGER_LIMIT};
    use loop_core::EventLoop;

    let wanted: Vec<String> = std::env::args().skip(1).collect();
    if let Some(unknown) = wanted.iter().find(|w| conformance::scenario(w).is_none()) {
        eprintln!("conformance-guest: no scenario named `{unknown}`");
        return ExitCode::from(2);
    }
    let mut out = std::io::stdout().lock();
    for scenario in SCENARIOS
        .iter()
        .filter(|s| wanted.is_empty() || wanted.iter().any(|w| w == s.name))
    {
        let started = std::time::Instant::now();
        let host = GuestHost::new();
        let lp = EventLoop::new(host.clone());
        let net = GuestNet::new(&lp, &host);
        let cx = Cx::new(net, Env::loopback_v4("guest"));
        let result = runner::run_reported(scenario.name, &cx);
        drop(cx);
        // Not running, so closing cannot fail; closed sockets get to send their last bytes.
        let _ = lp.close();
        host.finish_lingering_closes(LINGER_LIMIT);
        eprintln!(
            "conformance-guest: {} in {} ms",
            scenario.name,
            started.elapsed().as_millis()
        );
        let written = out
            .write_all(report::block(scenario.name, &result).as_bytes())
            .and_then(|()| out.flush());
        if let Err(e) = written {
            eprintln!("conformance-guest: cannot write the report: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

#[cfg(not(all(target_os = "wasi", target_env = "p2")))]
fn main() {
    eprintln!(
        "conformance-guest is a WASI 0.2 guest: `cargo test -p conformance --test wasi` builds \
         it for wasm32-wasip2 and runs it under host-wasi"
    );
    std::process::exit(2);
}
