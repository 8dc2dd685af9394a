//! Unix: the resolver calls of the C library and an uninitialised-buffer `recv`.

use std::ffi::{CStr, c_char, c_int};
use std::io;
use std::mem::{self, size_of};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::ptr;

use socket2::{SockAddr, Socket};

/// Flags for every `send(2)` of the crate: a write to a connection the peer closed
/// returns `EPIPE` instead of raising `SIGPIPE`, which would kill a process that did not
/// ignore it (the Rust runtime ignores it in binaries, but not in every embedding).
#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly"
))]
pub(crate) const SEND_FLAGS: c_int = libc::MSG_NOSIGNAL;
/// Flags for every `send(2)` of the crate (this platform has no `MSG_NOSIGNAL`).
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly"
)))]
pub(crate) const SEND_FLAGS: c_int = 0;

/// Size of the host buffer of `getnameinfo` (glibc's `NI_MAXHOST`).
const NI_MAXHOST: usize = 1025;
/// Size of the service buffer of `getnameinfo` (glibc's `NI_MAXSERV`).
const NI_MAXSERV: usize = 32;

/// Receive at most `n` bytes into a new vector, without zeroing it first.
pub(crate) fn recv_to_vec(sock: &Socket, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(n);
    let got = sock.recv(buf.spare_capacity_mut())?;
    // SAFETY: `recv` initialised the first `got` bytes of the spare capacity, and
    // `got <= n <= capacity`.
    unsafe { buf.set_len(got) };
    Ok(buf)
}

/// How a resolver call failed.
#[derive(Debug)]
pub(crate) enum GaiFailure {
    /// An `EAI_*` code other than `EAI_SYSTEM`.
    Code(c_int),
    /// `EAI_SYSTEM`: the error is in `errno`.
    System(io::Error),
}

fn failure(code: c_int) -> GaiFailure {
    if code == libc::EAI_SYSTEM {
        GaiFailure::System(io::Error::last_os_error())
    } else {
        GaiFailure::Code(code)
    }
}

/// The C library's text for an `EAI_*` code.
pub(crate) fn gai_strerror(code: c_int) -> String {
    // SAFETY: `gai_strerror` accepts any code and returns a pointer to a static,
    // NUL-terminated string (checked for null anyway).
    let text = unsafe { libc::gai_strerror(code) };
    if text.is_null() {
        return format!("resolver error {code}");
    }
    // SAFETY: non-null, NUL-terminated and static (see above).
    unsafe { CStr::from_ptr(text) }
        .to_string_lossy()
        .into_owned()
}

/// One entry of a `getaddrinfo` answer, read out of the C list.
#[derive(Debug)]
pub(crate) struct RawAddrInfo {
    pub(crate) family: c_int,
    pub(crate) socktype: c_int,
    pub(crate) protocol: c_int,
    pub(crate) canonname: Option<String>,
    pub(crate) addr: SocketAddr,
}

/// Frees the list `getaddrinfo` returned when dropped.
struct AddrInfoList(*mut libc::addrinfo);

impl Drop for AddrInfoList {
    fn drop(&mut self) {
        // SAFETY: the pointer came from a successful `getaddrinfo` and is freed once.
        unsafe { libc::freeaddrinfo(self.0) }
    }
}

/// `getaddrinfo(3)`: entries whose address is not IPv4 or IPv6 are skipped.
pub(crate) fn getaddrinfo(
    host: Option<&CStr>,
    service: Option<&CStr>,
    family: c_int,
    socktype: c_int,
    protocol: c_int,
    flags: c_int,
) -> Result<Vec<RawAddrInfo>, GaiFailure> {
    // SAFETY: `addrinfo` is a C struct of integers and pointers, for which all zero bytes
    // (zero and null) is a valid value, and the one `getaddrinfo` expects in unused fields.
    let mut hints: libc::addrinfo = unsafe { mem::zeroed() };
    hints.ai_family = family;
    hints.ai_socktype = socktype;
    hints.ai_protocol = protocol;
    hints.ai_flags = flags;
    let mut res: *mut libc::addrinfo = ptr::null_mut();
    // SAFETY: `host` and `service` are NUL-terminated strings or null, `hints` is a valid
    // addrinfo, and `res` is a valid out-pointer.
    let rc = unsafe {
        libc::getaddrinfo(
            host.map_or(ptr::null(), CStr::as_ptr),
            service.map_or(ptr::null(), CStr::as_ptr),
            &hints,
            &mut res,
        )
    };
    if rc != 0 {
        return Err(failure(rc));
    }
    let list = AddrInfoList(res);
    let mut out = Vec::new();
    let mut cur = list.0.cast_const();
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list owned by `list`, alive until it drops.
        let ai = unsafe { &*cur };
        if let Some(addr) = read_sockaddr(ai.ai_addr, ai.ai_addrlen) {
            let canonname = (!ai.ai_canonname.is_null()).then(|| {
                // SAFETY: a non-null `ai_canonname` is a NUL-terminated string owned by
                // the list.
                unsafe { CStr::from_ptr(ai.ai_canonname) }
                    .to_string_lossy()
                    .into_owned()
            });
            out.push(RawAddrInfo {
                family: ai.ai_family,
                socktype: ai.ai_socktype,
                protocol: ai.ai_protocol,
                canonname,
                addr,
            });
        }
        cur = ai.ai_next;
    }
    Ok(out)
}

/// Read an IPv4 or IPv6 socket address out of a `getaddrinfo` entry.
fn read_sockaddr(sa: *const libc::sockaddr, len: libc::socklen_t) -> Option<SocketAddr> {
    let len = len as usize;
    if sa.is_null() || len < size_of::<libc::sa_family_t>() {
        return None;
    }
    // SAFETY: `sa` points to `len` readable bytes that start with the address family.
    let family = c_int::from(unsafe { ptr::addr_of!((*sa).sa_family).read_unaligned() });
    match family {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says this is a `sockaddr_in`, and it is long enough.
            let sin = unsafe { sa.cast::<libc::sockaddr_in>().read_unaligned() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: the family says this is a `sockaddr_in6`, and it is long enough.
            let sin6 = unsafe { sa.cast::<libc::sockaddr_in6>().read_unaligned() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// `getnameinfo(3)`: the host and service names of `addr`.
pub(crate) fn getnameinfo(addr: &SocketAddr, flags: c_int) -> Result<(String, String), GaiFailure> {
    let sa = SockAddr::from(*addr);
    let mut host = [0u8; NI_MAXHOST];
    let mut serv = [0u8; NI_MAXSERV];
    // SAFETY: `sa` holds a valid socket address of `sa.len()` bytes; the buffers are
    // writable for the lengths passed (small constants that fit `socklen_t`).
    let rc = unsafe {
        libc::getnameinfo(
            sa.as_ptr().cast::<libc::sockaddr>(),
            sa.len(),
            host.as_mut_ptr().cast::<c_char>(),
            NI_MAXHOST as libc::socklen_t,
            serv.as_mut_ptr().cast::<c_char>(),
            NI_MAXSERV as libc::socklen_t,
            flags,
        )
    };
    if rc != 0 {
        return Err(failure(rc));
    }
    Ok((c_buffer_to_string(&host), c_buffer_to_string(&serv)))
}

fn c_buffer_to_string(buf: &[u8]) -> String {
    match CStr::from_bytes_until_nul(buf) {
        Ok(s) => s.to_string_lossy().into_owned(),
        Err(_) => String::from_utf8_lossy(buf).into_owned(),
    }
}
