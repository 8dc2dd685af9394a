//! Grants: a guest reaches only what it was granted; a denial is `access-denied` inside
//! the guest (which keeps running), and is reported with the flag that would grant it.

mod common;

use std::net::{TcpListener, UdpSocket};

use common::{guest, stdout_text};
use host_wasi::{Grants, Operation, Outcome, Report, Target};

/// Runs the probe guest with `grants` over the operations in `ops` ("op arg" pairs).
fn probe(grants: Grants, ops: &[&str]) -> Report {
    let args = ops.iter().flat_map(|op| op.split(' '));
    guest("probe").builder().grants(grants).args(args).run()
}

/// The probe's verdict on one operation: the text after `OP ARG: `.
fn verdict(report: &Report, op: &str) -> String {
    let out = stdout_text(report);
    let prefix = format!("{op}: ");
    out.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no line for {op:?} in {out:?}"))
        .to_owned()
}

#[test]
fn denied_bind_listen_connect_and_udp_get_access_denied_and_the_guest_keeps_running() {
    let report = probe(
        Grants::new(),
        &[
            "bind 127.0.0.1:0",
            "listen 127.0.0.1:0",
            "connect 127.0.0.1:9",
            "udp-bind 127.0.0.1:0",
            "udp-send 127.0.0.1:9",
        ],
    );
    for op in [
        "bind 127.0.0.1:0",
        "listen 127.0.0.1:0",
        "connect 127.0.0.1:9",
    ] {
        assert_eq!(verdict(&report, op), "access-denied", "{op}");
    }
    assert_eq!(verdict(&report, "udp-bind 127.0.0.1:0"), "access-denied");
    assert_eq!(verdict(&report, "udp-send 127.0.0.1:9"), "access-denied");
    // Still running after every denial: it printed `done` and exited normally.
    assert!(stdout_text(&report).ends_with("done\n"));
    assert_eq!(report.outcome, Outcome::Exited(0));
}

#[test]
fn every_denial_is_reported_with_its_address_and_flag() {
    let report = probe(
        Grants::new(),
        &[
            "bind 127.0.0.1:8080",
            "connect 10.9.8.7:443",
            "lookup example.com",
        ],
    );
    let flags: Vec<&str> = report.denials.iter().map(|d| d.flag()).collect();
    assert_eq!(
        flags,
        [
            "--listen 127.0.0.1:8080",
            "--connect 10.9.8.7:443",
            "--name-lookup"
        ]
    );
    assert_eq!(report.denied, 3);
    assert_eq!(report.denials[1].operation(), Operation::TcpConnect);
    assert_eq!(
        report.denials[1].target(),
        &Target::Addr("10.9.8.7:443".parse().unwrap())
    );
    assert_eq!(
        report.denials[2].target(),
        &Target::Name("example.com".into())
    );
}

#[test]
fn a_guest_with_no_grants_reaches_nothing() {
    let report = probe(
        Grants::new(),
        &[
            "connect 127.0.0.1:80",
            "connect [::1]:80",
            "lookup localhost",
            "fs /etc/passwd",
            "fs /",
            "env PATH",
        ],
    );
    assert_eq!(verdict(&report, "connect 127.0.0.1:80"), "access-denied");
    assert_eq!(verdict(&report, "connect [::1]:80"), "access-denied");
    assert_eq!(verdict(&report, "lookup localhost"), "access-denied");
    // No preopened directory at all, so no path resolves.
    assert!(verdict(&report, "fs /etc/passwd").starts_with("failed"));
    assert!(verdict(&report, "fs /").ends_with("(0 preopens)"));
    // The host's environment is not inherited.
    assert_eq!(verdict(&report, "env PATH"), "unset");
    assert_eq!(report.outcome, Outcome::Exited(0));
}

#[test]
fn a_listen_grant_allows_exactly_its_address() {
    let grants = Grants::new().allow_listen("127.0.0.1:0".parse().unwrap());
    let report = probe(
        grants,
        &[
            "listen 127.0.0.1:0",
            "listen 127.0.0.2:0",
            "connect 127.0.0.1:9",
        ],
    );
    assert!(verdict(&report, "listen 127.0.0.1:0").starts_with("ok 127.0.0.1:"));
    assert_eq!(verdict(&report, "listen 127.0.0.2:0"), "access-denied");
    assert_eq!(
        verdict(&report, "connect 127.0.0.1:9"),
        "access-denied",
        "listening is not connecting"
    );
}

#[test]
fn a_connect_grant_reaches_its_peer_and_nothing_else() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let grants = Grants::new().allow_connect(format!("127.0.0.1:{port}").parse().unwrap());
    let allowed = format!("connect 127.0.0.1:{port}");
    let other_port = format!("connect 127.0.0.1:{}", port.wrapping_add(1).max(1));
    let report = probe(grants, &[&allowed, &other_port, "bind 127.0.0.1:0"]);
    assert_eq!(verdict(&report, &allowed), format!("ok 127.0.0.1:{port}"));
    assert_eq!(verdict(&report, &other_port), "access-denied");
    assert_eq!(
        verdict(&report, "bind 127.0.0.1:0"),
        "access-denied",
        "connecting is not listening"
    );
    // The connection really reached the server.
    server.set_nonblocking(true).unwrap();
    assert!(server.accept().is_ok());
}

#[test]
fn udp_needs_the_udp_grant_and_a_connect_grant() {
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = peer.local_addr().unwrap();
    let send = format!("udp-send {addr}");
    let without_udp = Grants::new().allow_connect(addr.into());
    assert_eq!(
        verdict(&probe(without_udp, &[&send]), &send),
        "access-denied"
    );

    let with_udp = Grants::new().allow_connect(addr.into()).allow_udp(true);
    let report = probe(with_udp, &[&send, "udp-send 127.0.0.1:9"]);
    assert_eq!(verdict(&report, &send), "ok 1 datagram");
    assert_eq!(verdict(&report, "udp-send 127.0.0.1:9"), "access-denied");
    let mut buf = [0; 16];
    let (n, _) = peer.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"probe");
}

#[test]
fn name_lookup_works_only_when_granted() {
    let report = probe(Grants::new().allow_name_lookup(true), &["lookup localhost"]);
    let found = verdict(&report, "lookup localhost");
    assert!(
        found.starts_with("ok ") && (found.contains("127.0.0.1") || found.contains("::1")),
        "{found}"
    );
    assert_eq!(report.denied, 0);
}
