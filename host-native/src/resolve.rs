//! Name resolution off the loop thread: asyncio's `getaddrinfo` and `getnameinfo`, run
//! on the default executor with the C library's resolver.

use std::ffi::{CString, c_int};
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::ops::BitOr;

use socket2::{Domain, Protocol, Type};

use crate::NativeLoop;
use crate::sys::{self, GaiFailure, RawAddrInfo};
use crate::watch::to_io_error;

/// Flags of a [`getaddrinfo`](NativeLoop::getaddrinfo) query (`AI_*`), combined with `|`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AddrInfoFlags(c_int);

impl AddrInfoFlags {
    /// No flags.
    pub const NONE: AddrInfoFlags = AddrInfoFlags(0);
    /// `AI_PASSIVE`: with no host, return the wildcard address (for binding).
    pub const PASSIVE: AddrInfoFlags = AddrInfoFlags(libc::AI_PASSIVE);
    /// `AI_CANONNAME`: fill [`AddrInfo::canonname`] of the first entry.
    pub const CANONNAME: AddrInfoFlags = AddrInfoFlags(libc::AI_CANONNAME);
    /// `AI_NUMERICHOST`: the host must be a numeric address; never query DNS.
    pub const NUMERICHOST: AddrInfoFlags = AddrInfoFlags(libc::AI_NUMERICHOST);
    /// `AI_NUMERICSERV`: the service must be a port number.
    pub const NUMERICSERV: AddrInfoFlags = AddrInfoFlags(libc::AI_NUMERICSERV);
    /// `AI_ADDRCONFIG`: only families the machine has an address of.
    pub const ADDRCONFIG: AddrInfoFlags = AddrInfoFlags(libc::AI_ADDRCONFIG);
    /// `AI_V4MAPPED`: with an IPv6 family, map IPv4 answers into IPv6.
    pub const V4MAPPED: AddrInfoFlags = AddrInfoFlags(libc::AI_V4MAPPED);
    /// `AI_ALL`: with `V4MAPPED`, return both IPv6 and mapped IPv4 answers.
    pub const ALL: AddrInfoFlags = AddrInfoFlags(libc::AI_ALL);

    /// The raw `AI_*` bits.
    pub const fn bits(self) -> c_int {
        self.0
    }
}

impl BitOr for AddrInfoFlags {
    type Output = AddrInfoFlags;
    fn bitor(self, rhs: AddrInfoFlags) -> AddrInfoFlags {
        AddrInfoFlags(self.0 | rhs.0)
    }
}

/// Flags of a [`getnameinfo`](NativeLoop::getnameinfo) query (`NI_*`), combined with `|`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NameInfoFlags(c_int);

impl NameInfoFlags {
    /// No flags: names where known, numbers otherwise.
    pub const NONE: NameInfoFlags = NameInfoFlags(0);
    /// `NI_NUMERICHOST`: the host as a numeric address.
    pub const NUMERICHOST: NameInfoFlags = NameInfoFlags(libc::NI_NUMERICHOST);
    /// `NI_NUMERICSERV`: the service as a port number.
    pub const NUMERICSERV: NameInfoFlags = NameInfoFlags(libc::NI_NUMERICSERV);
    /// `NI_NOFQDN`: only the host part of local names.
    pub const NOFQDN: NameInfoFlags = NameInfoFlags(libc::NI_NOFQDN);
    /// `NI_NAMEREQD`: fail if the host has no name.
    pub const NAMEREQD: NameInfoFlags = NameInfoFlags(libc::NI_NAMEREQD);
    /// `NI_DGRAM`: look the service up as a UDP one.
    pub const DGRAM: NameInfoFlags = NameInfoFlags(libc::NI_DGRAM);

    /// The raw `NI_*` bits.
    pub const fn bits(self) -> c_int {
        self.0
    }
}

impl BitOr for NameInfoFlags {
    type Output = NameInfoFlags;
    fn bitor(self, rhs: NameInfoFlags) -> NameInfoFlags {
        NameInfoFlags(self.0 | rhs.0)
    }
}

/// The service part of a [`getaddrinfo`](NativeLoop::getaddrinfo) query: asyncio's
/// `port`, which may be a number, a service name or `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Service {
    /// No service (`None`): entries carry port 0.
    #[default]
    Any,
    /// A port number.
    Port(u16),
    /// A service name (`"http"`) or a port number as text.
    Name(String),
}

impl From<u16> for Service {
    fn from(port: u16) -> Self {
        Service::Port(port)
    }
}

impl From<Option<u16>> for Service {
    fn from(port: Option<u16>) -> Self {
        port.map_or(Service::Any, Service::Port)
    }
}

impl From<&str> for Service {
    fn from(name: &str) -> Self {
        Service::Name(name.to_owned())
    }
}

impl From<String> for Service {
    fn from(name: String) -> Self {
        Service::Name(name)
    }
}

/// What a [`getaddrinfo`](NativeLoop::getaddrinfo) query asks for; `None` fields match
/// anything (asyncio's `family=0, type=0, proto=0, flags=0` defaults).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddrInfoHints {
    /// `AF_INET` or `AF_INET6`; `None` for both.
    pub family: Option<Domain>,
    /// `SOCK_STREAM`, `SOCK_DGRAM`, …; `None` for every type.
    pub socktype: Option<Type>,
    /// `IPPROTO_TCP`, …; `None` for every protocol.
    pub protocol: Option<Protocol>,
    /// `AI_*` flags.
    pub flags: AddrInfoFlags,
}

/// One answer of [`getaddrinfo`](NativeLoop::getaddrinfo): Python's
/// `(family, type, proto, canonname, sockaddr)` tuple.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrInfo {
    /// The address family.
    pub family: Domain,
    /// The socket type to use with the address.
    pub socktype: Type,
    /// The protocol to use with the address.
    pub protocol: Protocol,
    /// The host's canonical name, when [`AddrInfoFlags::CANONNAME`] was given (first
    /// entry only).
    pub canonname: Option<String>,
    /// The address.
    pub addr: SocketAddr,
}

impl From<RawAddrInfo> for AddrInfo {
    fn from(raw: RawAddrInfo) -> Self {
        AddrInfo {
            family: Domain::from(raw.family),
            socktype: Type::from(raw.socktype),
            protocol: Protocol::from(raw.protocol),
            canonname: raw.canonname,
            addr: raw.addr,
        }
    }
}

/// A resolver failure (Python's `socket.gaierror`): an `EAI_*` code and the C
/// library's text for it. Resolver calls return it inside an `io::Error`; get it back
/// with [`GaiError::from_io`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GaiError {
    code: c_int,
    message: String,
}

/// What kind of resolver failure a [`GaiError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GaiErrorKind {
    /// `EAI_NONAME`: the name (or numeric host) is not known.
    NoName,
    /// `EAI_AGAIN`: a temporary failure; try again later.
    Again,
    /// `EAI_FAIL`: a permanent failure of the name server.
    Fail,
    /// `EAI_FAMILY`: the family is not supported.
    Family,
    /// `EAI_SOCKTYPE`: the socket type is not supported.
    SockType,
    /// `EAI_SERVICE`: the service is not available for the socket type.
    Service,
    /// `EAI_BADFLAGS`: invalid flags.
    BadFlags,
    /// `EAI_MEMORY`: out of memory.
    Memory,
    /// Another `EAI_*` code (see [`GaiError::code`]).
    Other,
}

impl GaiError {
    fn new(code: c_int) -> Self {
        GaiError {
            code,
            message: sys::gai_strerror(code),
        }
    }

    /// The raw `EAI_*` code.
    pub fn code(&self) -> c_int {
        self.code
    }

    /// The C library's text for the code.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The kind of failure.
    pub fn kind(&self) -> GaiErrorKind {
        match self.code {
            libc::EAI_NONAME => GaiErrorKind::NoName,
            libc::EAI_AGAIN => GaiErrorKind::Again,
            libc::EAI_FAIL => GaiErrorKind::Fail,
            libc::EAI_FAMILY => GaiErrorKind::Family,
            libc::EAI_SOCKTYPE => GaiErrorKind::SockType,
            libc::EAI_SERVICE => GaiErrorKind::Service,
            libc::EAI_BADFLAGS => GaiErrorKind::BadFlags,
            libc::EAI_MEMORY => GaiErrorKind::Memory,
            _ => GaiErrorKind::Other,
        }
    }

    /// The resolver failure inside an `io::Error` returned by
    /// [`getaddrinfo`](NativeLoop::getaddrinfo) or [`getnameinfo`](NativeLoop::getnameinfo),
    /// if it is one.
    pub fn from_io(e: &io::Error) -> Option<&GaiError> {
        e.get_ref()?.downcast_ref::<GaiError>()
    }

    fn into_io(self) -> io::Error {
        let kind = match self.kind() {
            GaiErrorKind::NoName => io::ErrorKind::NotFound,
            GaiErrorKind::Family
            | GaiErrorKind::SockType
            | GaiErrorKind::Service
            | GaiErrorKind::BadFlags => io::ErrorKind::InvalidInput,
            GaiErrorKind::Memory => io::ErrorKind::OutOfMemory,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, self)
    }
}

impl fmt::Display for GaiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (EAI code {})", self.message, self.code)
    }
}

impl std::error::Error for GaiError {}

fn failure_to_io(f: GaiFailure) -> io::Error {
    match f {
        GaiFailure::Code(code) => GaiError::new(code).into_io(),
        GaiFailure::System(e) => e,
    }
}

fn c_string(what: &str, s: String) -> io::Result<CString> {
    CString::new(s).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} contains a NUL byte"),
        )
    })
}

fn lookup(
    host: Option<CString>,
    service: Option<CString>,
    hints: AddrInfoHints,
) -> io::Result<Vec<AddrInfo>> {
    let raw = sys::getaddrinfo(
        host.as_deref(),
        service.as_deref(),
        hints.family.map_or(libc::AF_UNSPEC, c_int::from),
        hints.socktype.map_or(0, c_int::from),
        hints.protocol.map_or(0, c_int::from),
        hints.flags.bits(),
    )
    .map_err(failure_to_io)?;
    Ok(raw.into_iter().map(AddrInfo::from).collect())
}

impl NativeLoop {
    /// Resolve `host` and `service` into socket addresses (asyncio's `getaddrinfo`),
    /// with the C library's `getaddrinfo(3)` on the default executor, so the loop keeps
    /// running during a slow DNS query. Only IPv4 and IPv6 answers are returned.
    ///
    /// # Errors
    ///
    /// A resolver failure, as an `io::Error` holding a [`GaiError`] (`NotFound` for an
    /// unknown name); `InvalidInput` for a NUL byte in `host` or `service`; an executor
    /// failure (see [`run_in_executor`](Self::run_in_executor)) as an `Other` error.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_native::{AddrInfoHints, socket2::Type};
    ///
    /// let lp = host_native::NativeLoop::new()?;
    /// let hints = AddrInfoHints { socktype: Some(Type::STREAM), ..Default::default() };
    /// let found = lp.run_until_complete(lp.getaddrinfo(Some("127.0.0.1"), 8080, hints))??;
    /// assert_eq!(found[0].addr, "127.0.0.1:8080".parse()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn getaddrinfo(
        &self,
        host: Option<&str>,
        service: impl Into<Service>,
        hints: AddrInfoHints,
    ) -> impl Future<Output = io::Result<Vec<AddrInfo>>> + 'static {
        let prepared = (|| {
            let host = host.map(|h| c_string("host", h.to_owned())).transpose()?;
            let service = match service.into() {
                Service::Any => None,
                Service::Port(p) => Some(c_string("service", p.to_string())?),
                Service::Name(n) => Some(c_string("service", n)?),
            };
            Ok::<_, io::Error>((host, service))
        })();
        let job = prepared
            .map(|(host, service)| self.run_in_executor(move || lookup(host, service, hints)));
        async move { job?.await.map_err(to_io_error)? }
    }

    /// The host and service names of `addr` (asyncio's `getnameinfo`), with the C
    /// library's `getnameinfo(3)` on the default executor.
    ///
    /// # Errors
    ///
    /// As [`getaddrinfo`](Self::getaddrinfo).
    pub fn getnameinfo(
        &self,
        addr: SocketAddr,
        flags: NameInfoFlags,
    ) -> impl Future<Output = io::Result<(String, String)>> + 'static {
        let job = self
            .run_in_executor(move || sys::getnameinfo(&addr, flags.bits()).map_err(failure_to_io));
        async move { job.await.map_err(to_io_error)? }
    }
}
