//! Outcomes: exit statuses, panics and traps are reported; arguments, environment and
//! captured output behave as documented.

mod common;

use common::{guest, stdout_text};
use host_wasi::{Limits, Outcome, Stdio};

#[test]
fn exit_status_arguments_and_environment_are_passed_through() {
    let report = guest("exit")
        .builder()
        .name("ex")
        .arg("3")
        .env("GREETING", "hi")
        .run();
    assert_eq!(report.outcome, Outcome::Exited(3));
    // argv[0] is the run's name; only the given variables, not the host's.
    assert_eq!(
        stdout_text(&report),
        "args [\"ex\", \"3\"]\nenv GREETING=hi\n"
    );
    assert_eq!(report.name, "ex");
}

#[test]
fn a_guest_panic_is_reported_with_its_message_on_stderr() {
    let report = guest("panic").builder().run();
    assert_eq!(report.outcome, Outcome::Panicked);
    assert_eq!(stdout_text(&report), "about to panic\n");
    let stderr = String::from_utf8_lossy(&report.stderr);
    assert!(stderr.contains("guest panicked on purpose"), "{stderr}");
    // The host carries on.
    assert_eq!(guest("exit").builder().run().outcome, Outcome::Exited(0));
}

#[test]
fn captured_output_is_bounded_and_never_stops_the_guest() {
    let report = guest("hoard")
        .builder()
        .limits(Limits::new().max_handles(20_000).max_output(40))
        .run();
    assert_eq!(report.outcome, Outcome::HandleLimit { limit: 20_000 });
    // The first 40 bytes: three 13-byte lines and one byte of the fourth.
    assert_eq!(
        stdout_text(&report),
        "holding 1000\nholding 2000\nholding 3000\nh"
    );
    assert!(report.output_dropped > 0);
}

#[test]
fn discarded_output_is_not_kept() {
    let report = guest("exit").builder().stdout(Stdio::Discard).run();
    assert_eq!(report.outcome, Outcome::Exited(0));
    assert!(report.stdout.is_empty());
}

#[test]
fn a_guest_starts_from_its_pre_linked_component() {
    let guest = guest("exit");
    let report = guest.builder().run();
    assert_eq!(report.outcome, Outcome::Exited(0));
    assert!(report.start_time > std::time::Duration::ZERO && report.start_time <= report.run_time);
    assert!(
        guest
            .imports()
            .iter()
            .any(|i| i.starts_with("wasi:cli/stdout@0.2"))
    );
}
