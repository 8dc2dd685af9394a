//! Helpers shared by the test guests: blocking wrappers over `wasi:sockets`' two-phase
//! calls and conversions between `std::net` and WASI socket addresses.
//!
//! Every guest speaks only standard WASI 0.2 through the `wasip2` bindings crate.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use wasip2::sockets::network::{
    ErrorCode, IpAddress, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress,
};

/// Converts a `std` socket address into its WASI form.
pub fn to_wasi(addr: SocketAddr) -> IpSocketAddress {
    match addr {
        SocketAddr::V4(a) => {
            let [x, y, z, w] = a.ip().octets();
            IpSocketAddress::Ipv4(Ipv4SocketAddress {
                port: a.port(),
                address: (x, y, z, w),
            })
        }
        SocketAddr::V6(a) => {
            let s = a.ip().segments();
            IpSocketAddress::Ipv6(Ipv6SocketAddress {
                port: a.port(),
                flow_info: a.flowinfo(),
                address: (s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]),
                scope_id: a.scope_id(),
            })
        }
    }
}

/// Converts a WASI socket address into its `std` form.
pub fn from_wasi(addr: IpSocketAddress) -> SocketAddr {
    match addr {
        IpSocketAddress::Ipv4(a) => {
            let (x, y, z, w) = a.address;
            SocketAddr::new(IpAddr::V4(Ipv4Addr::new(x, y, z, w)), a.port)
        }
        IpSocketAddress::Ipv6(a) => {
            let (s0, s1, s2, s3, s4, s5, s6, s7) = a.address;
            SocketAddr::new(
                IpAddr::V6(Ipv6Addr::new(s0, s1, s2, s3, s4, s5, s6, s7)),
                a.port,
            )
        }
    }
}

/// Converts a WASI IP address into its `std` form.
pub fn ip_from_wasi(addr: IpAddress) -> IpAddr {
    match addr {
        IpAddress::Ipv4((x, y, z, w)) => IpAddr::V4(Ipv4Addr::new(x, y, z, w)),
        IpAddress::Ipv6((s0, s1, s2, s3, s4, s5, s6, s7)) => {
            IpAddr::V6(Ipv6Addr::new(s0, s1, s2, s3, s4, s5, s6, s7))
        }
    }
}

/// The address family of `addr`.
pub fn family(addr: SocketAddr) -> IpAddressFamily {
    if addr.is_ipv4() {
        IpAddressFamily::Ipv4
    } else {
        IpAddressFamily::Ipv6
    }
}

/// Runs the `finish` half of a two-phase WASI call, blocking on `pollable` while the
/// operation is still in progress.
pub fn finish<T>(
    pollable: &wasip2::io::poll::Pollable,
    mut finish: impl FnMut() -> Result<T, ErrorCode>,
) -> Result<T, ErrorCode> {
    loop {
        match finish() {
            Err(ErrorCode::WouldBlock) => pollable.block(),
            other => return other,
        }
    }
}

/// How a probe line names an error: `access-denied` for a policy denial, the WASI error
/// code otherwise.
pub fn describe(code: ErrorCode) -> String {
    match code {
        ErrorCode::AccessDenied => "access-denied".to_owned(),
        other => format!("error {}", other.name()),
    }
}
