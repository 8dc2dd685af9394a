//! `core::net` socket addresses to and from `wasi:sockets/network.ip-socket-address`.

use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use wasip2::sockets::network::{
    IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress,
};

/// `addr` in WASI's representation.
pub(crate) fn to_wasi(addr: SocketAddr) -> IpSocketAddress {
    match addr {
        SocketAddr::V4(a) => {
            let [b0, b1, b2, b3] = a.ip().octets();
            IpSocketAddress::Ipv4(Ipv4SocketAddress {
                port: a.port(),
                address: (b0, b1, b2, b3),
            })
        }
        SocketAddr::V6(a) => {
            let [s0, s1, s2, s3, s4, s5, s6, s7] = a.ip().segments();
            IpSocketAddress::Ipv6(Ipv6SocketAddress {
                port: a.port(),
                flow_info: a.flowinfo(),
                address: (s0, s1, s2, s3, s4, s5, s6, s7),
                scope_id: a.scope_id(),
            })
        }
    }
}

/// A WASI address as a `SocketAddr`.
pub(crate) fn from_wasi(addr: IpSocketAddress) -> SocketAddr {
    match addr {
        IpSocketAddress::Ipv4(a) => {
            let (b0, b1, b2, b3) = a.address;
            SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(b0, b1, b2, b3), a.port))
        }
        IpSocketAddress::Ipv6(a) => {
            let (s0, s1, s2, s3, s4, s5, s6, s7) = a.address;
            SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::new(s0, s1, s2, s3, s4, s5, s6, s7),
                a.port,
                a.flow_info,
                a.scope_id,
            ))
        }
    }
}

/// The address family of `addr`.
pub(crate) fn family_of(addr: SocketAddr) -> IpAddressFamily {
    match addr {
        SocketAddr::V4(_) => IpAddressFamily::Ipv4,
        SocketAddr::V6(_) => IpAddressFamily::Ipv6,
    }
}

/// Where a connection to `addr` goes: an unspecified IP means this host (as Linux
/// connects `0.0.0.0` to `127.0.0.1`, and the simulated network does the same); WASI
/// runtimes reject an unspecified remote address.
pub(crate) fn connect_target(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(a) if a.ip().is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), a.port())
        }
        SocketAddr::V6(a) if a.ip().is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), a.port())
        }
        other => other,
    }
}

/// The unspecified address of `addr`'s family, port 0: what an unbound datagram socket
/// talking to `addr` binds to.
pub(crate) fn any_of_family(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(_) => SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 0),
        SocketAddr::V6(_) => SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip() {
        for text in [
            "127.0.0.1:7",
            "0.0.0.0:0",
            "10.1.2.3:65535",
            "[::1]:8080",
            "[fe80::1:2:3:4%7]:443",
        ] {
            let addr: SocketAddr = text.parse().unwrap();
            assert_eq!(from_wasi(to_wasi(addr)), addr, "{text}");
        }
        let v6 = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 9, 0xabcde, 3));
        assert_eq!(from_wasi(to_wasi(v6)), v6, "flow info and scope survive");
    }

    #[test]
    fn wasi_field_order_is_network_order() {
        let IpSocketAddress::Ipv4(a) = to_wasi("1.2.3.4:5".parse().unwrap()) else {
            panic!("an IPv4 address")
        };
        assert_eq!((a.address, a.port), ((1, 2, 3, 4), 5));
        let IpSocketAddress::Ipv6(a) = to_wasi("[2001:db8::ff]:6".parse().unwrap()) else {
            panic!("an IPv6 address")
        };
        assert_eq!(a.address, (0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xff));
    }

    #[test]
    fn unspecified_connect_targets_go_to_loopback() {
        let t = |s: &str| connect_target(s.parse().unwrap()).to_string();
        assert_eq!(t("0.0.0.0:80"), "127.0.0.1:80");
        assert_eq!(t("[::]:80"), "[::1]:80");
        assert_eq!(t("10.0.0.1:80"), "10.0.0.1:80");
        assert_eq!(
            any_of_family("[::1]:5".parse().unwrap()).to_string(),
            "[::]:0"
        );
        assert_eq!(
            any_of_family("1.2.3.4:5".parse().unwrap()).to_string(),
            "0.0.0.0:0"
        );
    }

    #[test]
    fn families() {
        assert!(matches!(
            family_of("1.2.3.4:5".parse().unwrap()),
            IpAddressFamily::Ipv4
        ));
        assert!(matches!(
            family_of("[::1]:5".parse().unwrap()),
            IpAddressFamily::Ipv6
        ));
    }
}
