//! Addresses: what callers pass ([`HostPort`]), what transports report
//! ([`SockName`]), and resolution of host names off the loop thread.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;

use loop_core::{Error, ErrorKind, ExtraInfo, Result};
use socket2::{Domain, SockAddr, Type};

use crate::{AddrInfoFlags, AddrInfoHints, NativeLoop};

/// A network address as asyncio takes it: a `(host, port)` pair whose host is a name or
/// a numeric address, or an already resolved socket address.
///
/// Names are resolved with [`NativeLoop::getaddrinfo`], off the loop thread; a numeric
/// host (`"127.0.0.1"`, `"::1"`) is used as it is, without the resolver.
///
/// ```
/// use host_native::net::HostPort;
///
/// let by_name = HostPort::from(("localhost", 8888));
/// let numeric: HostPort = "127.0.0.1:8888".parse::<std::net::SocketAddr>()?.into();
/// assert_eq!(numeric, HostPort::Addr("127.0.0.1:8888".parse()?));
/// assert_eq!(by_name, HostPort::Name("localhost".into(), 8888));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum HostPort {
    /// A resolved address (an IPv6 one keeps its scope id).
    Addr(SocketAddr),
    /// A host name or numeric address, and a port.
    Name(String, u16),
}

impl From<SocketAddr> for HostPort {
    fn from(addr: SocketAddr) -> Self {
        HostPort::Addr(addr)
    }
}

impl From<(IpAddr, u16)> for HostPort {
    fn from((ip, port): (IpAddr, u16)) -> Self {
        HostPort::Addr(SocketAddr::new(ip, port))
    }
}

impl From<(&str, u16)> for HostPort {
    fn from((host, port): (&str, u16)) -> Self {
        HostPort::Name(host.to_owned(), port)
    }
}

impl From<(String, u16)> for HostPort {
    fn from((host, port): (String, u16)) -> Self {
        HostPort::Name(host, port)
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPort::Addr(a) => write!(f, "{a}"),
            HostPort::Name(h, p) => write!(f, "({h:?}, {p})"),
        }
    }
}

/// The name of one end of a socket, cached when the transport is created so that it
/// stays available after the socket is closed (asyncio's `peername` / `sockname`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SockName {
    /// An IPv4 or IPv6 address.
    Inet(SocketAddr),
    /// A Unix-domain name: a path, `"\0name"` for a Linux abstract name, or `""` for an
    /// unnamed socket (asyncio reports `''` too). Shared by every connection a listener
    /// accepts.
    Unix(Rc<str>),
    /// The OS did not tell (the call failed).
    Unknown,
}

impl SockName {
    pub(crate) fn from_sockaddr(sa: &SockAddr) -> SockName {
        match sa.as_socket() {
            Some(a) => SockName::Inet(a),
            None if sa.domain() == Domain::UNIX => SockName::Unix(unix_name(sa).into()),
            None => SockName::Unknown,
        }
    }

    pub(crate) fn from_result(r: io::Result<SockAddr>) -> SockName {
        r.map_or(SockName::Unknown, |sa| SockName::from_sockaddr(&sa))
    }

    pub(crate) fn inet(&self) -> Option<SocketAddr> {
        match self {
            SockName::Inet(a) => Some(*a),
            _ => None,
        }
    }

    pub(crate) fn extra(&self) -> Option<ExtraInfo> {
        match self {
            SockName::Inet(a) => Some(ExtraInfo::Addr(*a)),
            SockName::Unix(name) => Some(ExtraInfo::Text(String::from(&**name))),
            SockName::Unknown => None,
        }
    }
}

/// The text form of a Unix-domain address (see [`SockName::Unix`]).
pub(crate) fn unix_name(sa: &SockAddr) -> String {
    if let Some(path) = sa.as_pathname() {
        return path.to_string_lossy().into_owned();
    }
    if let Some(name) = sa.as_abstract_namespace() {
        let mut s = String::with_capacity(name.len() + 1);
        s.push('\0');
        s.push_str(&String::from_utf8_lossy(name));
        return s;
    }
    String::new()
}

/// The text form of the Unix-domain address of an accepted connection.
pub(crate) fn std_unix_name(sa: &std::os::unix::net::SocketAddr) -> String {
    if let Some(path) = sa.as_pathname() {
        return path.to_string_lossy().into_owned();
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        #[cfg(target_os = "android")]
        use std::os::android::net::SocketAddrExt;
        #[cfg(target_os = "linux")]
        use std::os::linux::net::SocketAddrExt;
        if let Some(name) = sa.as_abstract_name() {
            let mut s = String::with_capacity(name.len() + 1);
            s.push('\0');
            s.push_str(&String::from_utf8_lossy(name));
            return s;
        }
    }
    String::new()
}

/// Whether `addr` belongs to `family` (any family when `None`).
fn family_matches(addr: &SocketAddr, family: Option<Domain>) -> bool {
    match family {
        None => true,
        Some(d) => Domain::for_address(*addr) == d,
    }
}

/// Resolve `host` (all interfaces for binding when `None` and `flags` has
/// `PASSIVE`) and `port` into socket addresses of `socktype`, in the resolver's order,
/// without duplicates. Numeric hosts and [`HostPort::Addr`]s skip the resolver.
///
/// # Errors
///
/// The resolver's failure (kind [`ErrorKind::Io`], the `io::Error` holding a
/// [`GaiError`](crate::GaiError) as source); [`ErrorKind::InvalidInput`] when a numeric
/// address is not of `family`; [`ErrorKind::Io`] when the resolver found nothing.
pub(crate) async fn resolve(
    lp: &NativeLoop,
    host: Option<&str>,
    port: u16,
    family: Option<Domain>,
    socktype: Type,
    flags: AddrInfoFlags,
) -> Result<Vec<SocketAddr>> {
    if let Some(ip) = host.and_then(|h| h.parse::<IpAddr>().ok()) {
        return checked(SocketAddr::new(ip, port), family);
    }
    let hints = AddrInfoHints {
        family,
        socktype: Some(socktype),
        protocol: None,
        flags,
    };
    let found = lp
        .getaddrinfo(host, port, hints)
        .await
        .map_err(Error::from)?;
    let mut addrs: Vec<SocketAddr> = Vec::with_capacity(found.len());
    for info in found {
        if !addrs.contains(&info.addr) {
            addrs.push(info.addr);
        }
    }
    if addrs.is_empty() {
        return Err(Error::new(
            ErrorKind::Io,
            "getaddrinfo() returned empty list",
        ));
    }
    Ok(addrs)
}

fn checked(addr: SocketAddr, family: Option<Domain>) -> Result<Vec<SocketAddr>> {
    if family_matches(&addr, family) {
        Ok(vec![addr])
    } else {
        Err(Error::new(
            ErrorKind::InvalidInput,
            format!("address {addr} is not of the requested address family"),
        ))
    }
}

/// Resolve a [`HostPort`] (see [`resolve`]).
pub(crate) async fn resolve_host_port(
    lp: &NativeLoop,
    target: &HostPort,
    family: Option<Domain>,
    socktype: Type,
) -> Result<Vec<SocketAddr>> {
    match target {
        HostPort::Addr(a) => checked(*a, family),
        HostPort::Name(host, port) => {
            resolve(lp, Some(host), *port, family, socktype, AddrInfoFlags::NONE).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_names() {
        let sa = SockAddr::unix("/tmp/x.sock").unwrap();
        assert_eq!(unix_name(&sa), "/tmp/x.sock");
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let sa = SockAddr::unix("\0tulip").unwrap();
            assert_eq!(unix_name(&sa), "\0tulip");
        }
        let name = SockName::from_sockaddr(&SockAddr::unix("/a").unwrap());
        assert_eq!(name.extra(), Some(ExtraInfo::Text("/a".into())));
        assert_eq!(name.inet(), None);
    }

    #[test]
    fn family_checks() {
        let v4: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert!(family_matches(&v4, None));
        assert!(family_matches(&v4, Some(Domain::IPV4)));
        assert!(!family_matches(&v4, Some(Domain::IPV6)));
        assert_eq!(
            checked(v4, Some(Domain::IPV6)).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    }
}
