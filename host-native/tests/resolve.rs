//! Name resolution off the loop thread (asyncio's `getaddrinfo` / `getnameinfo`), on
//! loopback names and addresses only.

mod util;

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use host_native::socket2::{Domain, Protocol, Type};
use host_native::{
    AddrInfoFlags, AddrInfoHints, GaiError, GaiErrorKind, NameInfoFlags, NativeLoop, Service,
};
use util::{LIMIT, watchdog};

fn stream_hints() -> AddrInfoHints {
    AddrInfoHints {
        socktype: Some(Type::STREAM),
        ..AddrInfoHints::default()
    }
}

#[test]
fn a_numeric_address_resolves_to_itself() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let found = lp
        .run_until_complete(lp.getaddrinfo(Some("127.0.0.1"), 8080, stream_hints()))
        .unwrap()
        .unwrap();
    assert_eq!(found.len(), 1);
    let ai = &found[0];
    assert_eq!(ai.addr, "127.0.0.1:8080".parse::<SocketAddr>().unwrap());
    assert_eq!(ai.family, Domain::IPV4);
    assert_eq!(ai.socktype, Type::STREAM);
    assert_eq!(ai.protocol, Protocol::TCP);
    assert_eq!(ai.canonname, None);
}

#[test]
fn localhost_resolves_to_loopback_addresses() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let found = lp
        .run_until_complete(lp.getaddrinfo(Some("localhost"), 80, stream_hints()))
        .unwrap()
        .unwrap();
    assert!(!found.is_empty());
    for ai in &found {
        assert!(ai.addr.ip().is_loopback(), "{ai:?}");
        assert_eq!(ai.addr.port(), 80);
    }
}

/// Without a socket type every type is listed (stream, datagram, raw on glibc).
#[test]
fn no_type_hint_lists_several_socket_types() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let found = lp
        .run_until_complete(lp.getaddrinfo(
            Some("127.0.0.1"),
            Service::Any,
            AddrInfoHints::default(),
        ))
        .unwrap()
        .unwrap();
    assert!(found.iter().any(|ai| ai.socktype == Type::STREAM));
    assert!(found.iter().any(|ai| ai.socktype == Type::DGRAM));
    assert!(found.iter().all(|ai| ai.addr.port() == 0));
}

/// The family filter applies: an IPv4 literal has no IPv6 answer.
#[test]
fn the_family_hint_filters() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let hints = AddrInfoHints {
        family: Some(Domain::IPV6),
        flags: AddrInfoFlags::NUMERICHOST,
        ..stream_hints()
    };
    let err = lp
        .run_until_complete(lp.getaddrinfo(Some("127.0.0.1"), 80, hints))
        .unwrap()
        .unwrap_err();
    assert!(GaiError::from_io(&err).is_some(), "{err:?}");
}

/// With NUMERICHOST a name is not looked up: EAI_NONAME, typed.
#[test]
fn numerichost_refuses_names() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let hints = AddrInfoHints {
        flags: AddrInfoFlags::NUMERICHOST,
        ..stream_hints()
    };
    let err = lp
        .run_until_complete(lp.getaddrinfo(Some("localhost"), 80, hints))
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    let gai = GaiError::from_io(&err).expect("a resolver error");
    assert_eq!(gai.kind(), GaiErrorKind::NoName);
    assert!(!gai.message().is_empty());
}

/// No host with PASSIVE gives the wildcard address, for binding.
#[test]
fn passive_without_host_is_the_wildcard() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let hints = AddrInfoHints {
        family: Some(Domain::IPV4),
        flags: AddrInfoFlags::PASSIVE,
        ..stream_hints()
    };
    let found = lp
        .run_until_complete(lp.getaddrinfo(None, 9000, hints))
        .unwrap()
        .unwrap();
    assert_eq!(
        found[0].addr,
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 9000)
    );
}

/// CANONNAME fills the canonical name of the first entry.
#[test]
fn canonname_is_reported() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let hints = AddrInfoHints {
        flags: AddrInfoFlags::CANONNAME,
        ..stream_hints()
    };
    let found = lp
        .run_until_complete(lp.getaddrinfo(Some("localhost"), 80, hints))
        .unwrap()
        .unwrap();
    assert!(found[0].canonname.as_deref().is_some_and(|n| !n.is_empty()));
}

/// A NUL byte cannot reach the C resolver.
#[test]
fn a_nul_byte_is_invalid_input() {
    let lp = NativeLoop::new().unwrap();
    let err = lp
        .run_until_complete(lp.getaddrinfo(Some("local\0host"), 80, stream_hints()))
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn getnameinfo_numeric_gives_the_address_back() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let addr: SocketAddr = "127.0.0.1:80".parse().unwrap();
    let (host, service) = lp
        .run_until_complete(lp.getnameinfo(
            addr,
            NameInfoFlags::NUMERICHOST | NameInfoFlags::NUMERICSERV,
        ))
        .unwrap()
        .unwrap();
    assert_eq!(host, "127.0.0.1");
    assert_eq!(service, "80");
}

/// Without flags the loopback address gets a name (from the hosts file).
#[test]
fn getnameinfo_names_the_loopback_address() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let addr: SocketAddr = "127.0.0.1:80".parse().unwrap();
    let (host, service) = lp
        .run_until_complete(lp.getnameinfo(addr, NameInfoFlags::NONE))
        .unwrap()
        .unwrap();
    assert!(!host.is_empty());
    assert!(!service.is_empty());
}
