//! Limits: CPU (fuel, charged only for guest execution), memory, handles, the
//! wall-clock deadline and kills stop a guest with the cause reported, while the host and
//! sibling guests keep running.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{guest, wait_for_line};
use host_wasi::{Grants, Limits, Outcome, RunningGuest, Supervisor, YIELD_FUEL};

/// Generous bound for a guest to print its first line (compiling is done beforehand).
const STARTUP: Duration = Duration::from_secs(30);

/// Sends `message` to the echo server at `addr` and returns what comes back.
fn echo_once(addr: &str, message: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(message).unwrap();
    let mut back = vec![0; message.len()];
    stream.read_exact(&mut back).unwrap();
    back
}

fn echo_builder() -> host_wasi::GuestBuilder {
    let grants = Grants::new().allow_listen("127.0.0.1:0".parse().unwrap());
    guest("echo").builder().grants(grants).arg("127.0.0.1:0")
}

fn listening_addr(running: &RunningGuest) -> String {
    wait_for_line(running, "listening on ", STARTUP)
}

#[test]
fn a_spinning_guest_is_stopped_by_its_cpu_limit_while_a_sibling_keeps_serving() {
    let (echo, spin) = (guest("echo"), guest("spin"));
    let mut supervisor = Supervisor::new();
    let server = supervisor.spawn(echo_builder()).unwrap();
    let addr = listening_addr(supervisor.guest(server).unwrap());
    let fuel = 300_000_000;
    let spinner = supervisor
        .spawn(spin.builder().limits(Limits::new().max_fuel(Some(fuel))))
        .unwrap();
    wait_for_line(supervisor.guest(spinner).unwrap(), "spinning", STARTUP);

    // While the spinner burns its budget, the sibling answers.
    assert_eq!(echo_once(&addr, b"during"), b"during");
    let (id, report) = supervisor.wait().unwrap();
    assert_eq!(id, spinner, "the server must not stop: {report}");
    assert_eq!(report.outcome, Outcome::CpuLimit { fuel });
    assert_eq!(report.fuel_consumed, fuel);
    // And after.
    assert_eq!(echo_once(&addr, b"after"), b"after");
    assert!(supervisor.kill(server));
    let (id, report) = supervisor.wait().unwrap();
    assert_eq!((id, report.outcome), (server, Outcome::Killed));
    drop(echo);
}

#[test]
fn a_guest_allocating_past_its_memory_limit_is_stopped_with_the_cause() {
    let limit = 32 << 20;
    let report = guest("alloc")
        .builder()
        .limits(Limits::new().max_memory(limit))
        .run();
    match report.outcome {
        Outcome::MemoryLimit {
            limit: l,
            requested,
        } => {
            assert_eq!(l, limit);
            assert!(requested > limit);
        }
        ref other => panic!("expected the memory limit, got {other}"),
    }
    assert!(report.peak_memory <= limit);
    let out = common::stdout_text(&report);
    let last: usize = out
        .lines()
        .last()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (16..32).contains(&last),
        "allocated up to {last} MiB under a 32 MiB limit"
    );
    // The host is unaffected: the same guest runs again, and another one runs fine.
    let again = guest("alloc")
        .builder()
        .limits(Limits::new().max_memory(limit))
        .run();
    assert!(matches!(again.outcome, Outcome::MemoryLimit { .. }));
    assert_eq!(guest("exit").builder().run().outcome, Outcome::Exited(0));
}

#[test]
fn a_memory_limit_below_the_initial_memory_refuses_to_start() {
    let report = guest("exit")
        .builder()
        .limits(Limits::new().max_memory(64 << 10))
        .run();
    assert!(
        matches!(report.outcome, Outcome::MemoryLimit { limit: 65536, .. }),
        "{}",
        report.outcome
    );
}

#[test]
fn time_blocked_in_poll_is_not_charged() {
    // 5 s blocked in `wasi:io/poll` under a CPU budget that 5 s of computing would blow
    // through hundreds of times over.
    let budget = 5_000_000;
    let report = guest("sleep")
        .builder()
        .limits(Limits::new().max_fuel(Some(budget)))
        .run();
    assert_eq!(report.outcome, Outcome::Exited(0), "{report}");
    assert_eq!(common::stdout_text(&report), "slept\n");
    assert!(
        report.fuel_consumed < budget,
        "charged {} fuel",
        report.fuel_consumed
    );
}

#[test]
fn the_deadline_stops_a_computing_guest() {
    let limits = Limits::new().with_deadline(Some(Duration::from_millis(200)));
    let report = guest("spin").builder().limits(limits).run();
    assert_eq!(
        report.outcome,
        Outcome::Deadline(Duration::from_millis(200))
    );
    assert!(report.run_time >= Duration::from_millis(200));
}

#[test]
fn the_deadline_stops_a_guest_blocked_in_the_host() {
    let limits = Limits::new().with_deadline(Some(Duration::from_millis(200)));
    let report = guest("sleep").builder().arg("60000").limits(limits).run();
    assert_eq!(
        report.outcome,
        Outcome::Deadline(Duration::from_millis(200))
    );
    assert!(report.run_time < Duration::from_secs(60));
}

#[test]
fn a_kill_stops_a_guest_whether_computing_or_waiting() {
    let waiting = echo_builder().spawn().unwrap();
    listening_addr(&waiting);
    let computing = guest("spin").builder().spawn().unwrap();
    wait_for_line(&computing, "spinning", STARTUP);
    waiting.kill();
    computing.kill();
    assert_eq!(waiting.join().outcome, Outcome::Killed);
    let computed = computing.join();
    assert_eq!(computed.outcome, Outcome::Killed);
    assert!(
        computed.fuel_consumed >= YIELD_FUEL,
        "fuel {}",
        computed.fuel_consumed
    );
}

#[test]
fn a_guest_hoarding_handles_is_stopped_at_its_handle_limit() {
    let report = guest("hoard")
        .builder()
        .limits(Limits::new().max_handles(5000))
        .run();
    assert_eq!(report.outcome, Outcome::HandleLimit { limit: 5000 });
    let out = common::stdout_text(&report);
    // A timer pollable takes two table entries (the timer and its pollable).
    assert!(
        out.contains("holding 2000") && !out.contains("holding 3000"),
        "{out}"
    );
}
