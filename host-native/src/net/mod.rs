//! Networking on the native loop: TCP, UDP and Unix-domain sockets as raw channels of
//! loop-core's shared transport machinery, the [`Net`] backend, and asyncio's
//! connection, server and datagram-endpoint entry points.
//!
//! # Two ways in
//!
//! - **Generic**: [`NativeLoop`] implements [`Net`], so scenarios written as
//!   `async fn scenario<N: Net>(net: &N)` — and loop-core's
//!   [`open_connection`](loop_core::stream::open_connection) /
//!   [`start_server`](loop_core::stream::start_server) — run on it with resolved
//!   [`SocketAddr`]s, exactly as on the simulated network.
//! - **asyncio's full surface** as inherent methods of [`NativeLoop`]:
//!   [`create_connection`](NativeLoop::create_connection) (host names resolved off the
//!   loop thread, `family`, `local_addr`, an existing socket),
//!   [`create_server`](NativeLoop::create_server) (all interfaces, a list of hosts,
//!   `backlog`, `reuse_address`, `reuse_port`, an existing socket),
//!   [`connect_accepted_socket`](NativeLoop::connect_accepted_socket),
//!   [`create_unix_connection`](NativeLoop::create_unix_connection),
//!   [`create_unix_server`](NativeLoop::create_unix_server) and
//!   [`create_datagram_endpoint`](NativeLoop::create_datagram_endpoint), each taking an
//!   options value built with chained setters ([`ConnectOptions`], [`ListenOptions`],
//!   [`UnixConnectOptions`], [`UnixListenOptions`], [`DatagramOptions`]).
//!
//! The inherent methods shadow the [`Net`] methods of the same name; a `SocketAddr`
//! converts into every options type, so `lp.create_connection(factory, addr)` reads the
//! same either way. Call `Net::create_server(&lp, …)` to reach the trait's form.
//!
//! ```
//! use std::rc::Rc;
//! use host_native::{ConnectOptions, NativeLoop};
//! use loop_core::{Protocol, Transport};
//!
//! #[derive(Default)]
//! struct Echo(Option<Rc<dyn Transport>>);
//! impl Protocol for Echo {
//!     fn connection_made(&mut self, t: Rc<dyn Transport>) { self.0 = Some(t); }
//!     fn data_received(&mut self, data: &[u8]) { self.0.as_ref().unwrap().write(data).unwrap(); }
//! }
//!
//! let lp = NativeLoop::new()?;
//! let l = lp.clone();
//! let server = lp.run_until_complete(async move {
//!     l.create_server(Echo::default, ("127.0.0.1", 0)).await
//! })??;
//! let addr = server.sockets()[0];
//! let l = lp.clone();
//! let (transport, _client) = lp.run_until_complete(async move {
//!     l.create_connection(Echo::default, ConnectOptions::new().host("127.0.0.1").port(addr.port()))
//!         .await
//! })??;
//! assert_eq!(transport.get_extra_info("peername"), Some(loop_core::ExtraInfo::Addr(addr)));
//! transport.close();
//! server.close();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Readiness
//!
//! Connected streams and datagram sockets are registered
//! [edge-triggered](crate::Trigger::Edge) and keep the level-triggered contract of the
//! shared machinery themselves (see [`NativeStream`]): an echo costs one `recv`, one
//! `send` and no `epoll_ctl` per message. Listening sockets are registered
//! [level-triggered](crate::Trigger::Level), as the server stops after its backlog.
//!
//! # Extra information
//!
//! Transports answer `get_extra_info` with:
//!
//! | key | stream (TCP) | stream (Unix) | datagram (UDP) |
//! | --- | --- | --- | --- |
//! | `"peername"` | [`ExtraInfo::Addr`](loop_core::ExtraInfo::Addr) | [`ExtraInfo::Text`](loop_core::ExtraInfo::Text): the path, `"\0name"` (abstract) or `""` (unnamed) | `Addr`, connected endpoints only |
//! | `"sockname"` | `Addr` | `Text`, as above | `Addr` |
//! | `"socket"` | [`ExtraInfo::Int`](loop_core::ExtraInfo::Int): the file descriptor, until closed | same | same |
//!
//! # Errors
//!
//! OS errors become the portable [`ErrorKind`]s
//! (`ConnectionRefused`, `ConnectionReset`, `BrokenPipe`, `AddrInUse`, …; others are
//! `Io`) with the `io::Error` as source ([`Error::downcast_ref`](loop_core::Error::downcast_ref)).
//! A peer's reset reaches the protocol's `connection_lost` as `Some(error)`, a clean
//! close as `None`. Options that contradict each other (a socket together with an
//! address, neither of them, …) are [`ErrorKind::InvalidInput`]
//! errors with asyncio's messages.
//!
//! # Differences from asyncio
//!
//! - Unix-domain *datagram* endpoints are not offered: the shared datagram machinery
//!   addresses peers by IP socket address.
//! - [`Server::sockets`](loop_core::net::Server::sockets) lists IP addresses, so it is
//!   empty for a Unix server (the caller knows the path).
//! - A listening socket listens as soon as it is bound, even with `start_serving(false)`:
//!   connections wait in the kernel's backlog until the server starts accepting.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use loop_core::net::{Net, ServerOptions};
use loop_core::transport::{StreamProtocolRef, StreamTransport};
use loop_core::{BaseTransport, Error, ErrorKind, EventLoop, Protocol, Result, Transport};
use socket2::{Domain, Socket, Type};

use crate::NativeLoop;

mod addr;
mod listener;
mod stream;
mod streams;
mod tcp;
mod udp;
mod unix;

pub use addr::HostPort;
pub use listener::NativeListener;
pub use stream::NativeStream;
pub use tcp::{ConnectOptions, ListenOptions};
pub use udp::{DatagramOptions, NativeDatagram};
pub use unix::{UnixConnectOptions, UnixListenOptions};

/// The `get_extra_info` keys of the native transports.
pub(crate) mod extra {
    pub(crate) const PEERNAME: &str = "peername";
    pub(crate) const SOCKNAME: &str = "sockname";
    pub(crate) const SOCKET: &str = "socket";
}

/// A new non-blocking, close-on-exec socket (one system call where the OS allows it).
pub(crate) fn new_socket(domain: Domain, ty: Type) -> io::Result<Socket> {
    #[cfg(any(
        target_os = "android",
        target_os = "dragonfly",
        target_os = "freebsd",
        target_os = "illumos",
        target_os = "linux",
        target_os = "netbsd",
        target_os = "openbsd"
    ))]
    {
        Socket::new(domain, ty.nonblocking(), None)
    }
    #[cfg(not(any(
        target_os = "android",
        target_os = "dragonfly",
        target_os = "freebsd",
        target_os = "illumos",
        target_os = "linux",
        target_os = "netbsd",
        target_os = "openbsd"
    )))]
    {
        let sock = Socket::new(domain, ty, None)?;
        sock.set_nonblocking(true)?;
        Ok(sock)
    }
}

/// An `InvalidInput` error (asyncio's `ValueError`).
pub(crate) fn invalid(message: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::new(ErrorKind::InvalidInput, message)
}

/// A bind failure, naming the address as asyncio does, with the OS error's kind.
pub(crate) fn bind_error(addr: impl std::fmt::Display, e: &io::Error) -> Error {
    Error::from(io::Error::new(
        e.kind(),
        format!("error while attempting to bind on address {addr}: {e}"),
    ))
}

/// The error of several failed attempts (one per resolved address), as asyncio: the
/// first one when they all say the same, else one listing them all (keeping their kind
/// when they share it).
pub(crate) fn combine_errors(mut errors: Vec<Error>) -> Error {
    if errors.is_empty() {
        return Error::new(ErrorKind::Io, "no address to try");
    }
    let first = errors[0].to_string();
    if errors.iter().all(|e| e.to_string() == first) {
        return errors.swap_remove(0);
    }
    let kind = errors[0].kind();
    let kind = if errors.iter().all(|e| e.kind() == kind) {
        kind
    } else {
        ErrorKind::Io
    };
    let listed: Vec<String> = errors.iter().map(ToString::to_string).collect();
    Error::new(kind, format!("multiple exceptions: {}", listed.join(", ")))
}

/// Closes a transport if the operation creating it is dropped (cancelled) before it
/// returns, as asyncio closes it when `create_connection` fails while waiting.
struct CloseOnDrop(Option<Rc<dyn BaseTransport>>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            t.close();
        }
    }
}

/// Wait until the callbacks already scheduled (`connection_made`) have run.
pub(crate) async fn after_scheduled(lp: &EventLoop) -> Result<()> {
    let waiter = lp.create_future::<()>();
    let w = waiter.clone();
    lp.call_soon(move || {
        let _ = w.set_result(());
    })?;
    waiter.await
}

/// Drive `raw` with the protocol `factory` makes, and return once its
/// `connection_made` has run (what every `create_*connection` ends with).
pub(crate) async fn attach_stream<P: Protocol>(
    lp: &EventLoop,
    raw: NativeStream,
    factory: impl FnOnce() -> P,
) -> Result<(Rc<dyn Transport>, Rc<RefCell<P>>)> {
    let protocol = Rc::new(RefCell::new(factory()));
    let transport: Rc<dyn Transport> =
        StreamTransport::new(lp, raw, StreamProtocolRef::plain(protocol.clone()))?;
    let guard_target: Rc<dyn BaseTransport> = transport.clone();
    let mut guard = CloseOnDrop(Some(guard_target));
    after_scheduled(lp).await?;
    guard.0 = None;
    Ok((transport, protocol))
}

/// The native loop as a [`Net`] backend: TCP streams and listeners, UDP sockets, on
/// resolved addresses. See the [module docs](self) for the richer inherent methods.
impl Net for NativeLoop {
    type Stream = NativeStream;
    type Listener = NativeListener;
    type Datagram = NativeDatagram;

    fn event_loop(&self) -> &EventLoop {
        &self.inner.lp
    }

    /// Connect a TCP stream to `addr` (`TCP_NODELAY` set, as asyncio does).
    async fn connect(&self, addr: SocketAddr) -> Result<NativeStream> {
        tcp::connect_addr(self, addr, None).await
    }

    /// Listen on `addr` with one TCP listener (`SO_REUSEADDR` unless
    /// `reuse_address == Some(false)`, `IPV6_V6ONLY` for IPv6).
    async fn listen(
        &self,
        addr: SocketAddr,
        options: &ServerOptions,
    ) -> Result<Vec<NativeListener>> {
        Ok(vec![tcp::listen_on(self, addr, options)?])
    }

    /// A UDP socket bound to `local` (the wildcard address of `remote`'s family when
    /// `None`) and connected to `remote` if given.
    async fn bind_datagram(
        &self,
        local: Option<SocketAddr>,
        remote: Option<SocketAddr>,
    ) -> Result<NativeDatagram> {
        udp::bind_pair(self, local, remote)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_errors() {
        let refused = || Error::from(io::Error::from(io::ErrorKind::ConnectionRefused));
        let e = combine_errors(vec![refused(), refused()]);
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
        assert!(e.message().is_none(), "the first error itself");

        let e = combine_errors(vec![
            refused(),
            Error::new(ErrorKind::ConnectionRefused, "other text"),
        ]);
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
        assert!(e.message().unwrap().starts_with("multiple exceptions: "));

        let e = combine_errors(vec![refused(), Error::new(ErrorKind::Timeout, "t")]);
        assert_eq!(e.kind(), ErrorKind::Io);
    }

    #[test]
    fn bind_errors_keep_the_kind_and_name_the_address() {
        let os = io::Error::from(io::ErrorKind::AddrInUse);
        let e = bind_error("127.0.0.1:80", &os);
        assert_eq!(e.kind(), ErrorKind::AddrInUse);
        assert!(e.to_string().contains("127.0.0.1:80"), "{e}");
    }
}
