//! TCP: asyncio's `create_connection`, `create_server` and `connect_accepted_socket`
//! on the native loop, their options, and the connect / listen steps shared with the
//! [`Net`](loop_core::net::Net) backend and Unix sockets.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use loop_core::net::{Server, ServerOptions};
use loop_core::transport::{RawStream, StreamProtocolRef, wait_ready};
use loop_core::{Error, ErrorKind, Interest, Protocol, Result, Transport};
use socket2::{Domain, SockAddr, Socket, Type};

use crate::net::addr::{HostPort, SockName, resolve, resolve_host_port};
use crate::net::listener::{NativeListener, listen};
use crate::net::stream::{NativeStream, to_error};
use crate::net::{attach_stream, bind_error, combine_errors, invalid, new_socket};
use crate::{AddrInfoFlags, NativeLoop};

/// Where and how [`NativeLoop::create_connection`] connects (asyncio's arguments of
/// `create_connection`). Build it with the chained setters; a [`SocketAddr`] or a
/// `(host, port)` pair converts into one.
///
/// Give either an address (`host` and/or `port`, or `addr`) or an existing connected
/// socket (`sock`), not both. Defaults ([`new`](Self::new)): nothing set — no address,
/// any family, no local address, no socket.
#[derive(Debug, Default)]
pub struct ConnectOptions {
    host: Option<String>,
    port: Option<u16>,
    addr: Option<SocketAddr>,
    family: Option<Domain>,
    local_addr: Option<HostPort>,
    sock: Option<Socket>,
}

impl ConnectOptions {
    /// No option set (see the type's docs).
    pub fn new() -> Self {
        ConnectOptions::default()
    }

    /// The host to connect to: a name, resolved off the loop thread, or a numeric
    /// address. Without a host, the port is looked up on the loopback addresses.
    #[must_use]
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// The port to connect to (0 when only a host is given, as in asyncio).
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// An already resolved address, instead of `host` and `port`.
    #[must_use]
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = Some(addr);
        self
    }

    /// Only addresses of this family (`Domain::IPV4` or `Domain::IPV6`).
    #[must_use]
    pub fn family(mut self, family: Domain) -> Self {
        self.family = Some(family);
        self
    }

    /// Bind the socket to this local address first (resolved like the host; the
    /// first local address of the remote address's family that binds is used).
    #[must_use]
    pub fn local_addr(mut self, addr: impl Into<HostPort>) -> Self {
        self.local_addr = Some(addr.into());
        self
    }

    /// Use this connected stream socket instead of connecting (made non-blocking).
    #[must_use]
    pub fn sock(mut self, sock: impl Into<Socket>) -> Self {
        self.sock = Some(sock.into());
        self
    }
}

impl From<SocketAddr> for ConnectOptions {
    fn from(addr: SocketAddr) -> Self {
        ConnectOptions::new().addr(addr)
    }
}

impl From<(&str, u16)> for ConnectOptions {
    fn from((host, port): (&str, u16)) -> Self {
        ConnectOptions::new().host(host).port(port)
    }
}

impl From<(String, u16)> for ConnectOptions {
    fn from((host, port): (String, u16)) -> Self {
        ConnectOptions::new().host(host).port(port)
    }
}

impl From<HostPort> for ConnectOptions {
    fn from(target: HostPort) -> Self {
        match target {
            HostPort::Addr(a) => ConnectOptions::new().addr(a),
            HostPort::Name(h, p) => ConnectOptions::new().host(h).port(p),
        }
    }
}

/// What a valid [`ConnectOptions`] asks for.
enum ConnectPlan {
    Sock(Socket),
    Remote {
        host: Option<String>,
        port: u16,
        addr: Option<SocketAddr>,
        family: Option<Domain>,
        local: Option<HostPort>,
    },
}

impl ConnectOptions {
    fn plan(self) -> Result<ConnectPlan> {
        let addressed = self.host.is_some() || self.port.is_some() || self.addr.is_some();
        if let Some(sock) = self.sock {
            if addressed {
                return Err(invalid(
                    "host/port and sock can not be specified at the same time",
                ));
            }
            if self.family.is_some() || self.local_addr.is_some() {
                return Err(invalid(
                    "family and local_addr can not be specified together with sock",
                ));
            }
            return Ok(ConnectPlan::Sock(sock));
        }
        if !addressed {
            return Err(invalid(
                "host and port was not specified and no sock specified",
            ));
        }
        if self.addr.is_some() && (self.host.is_some() || self.port.is_some()) {
            return Err(invalid(
                "addr and host/port can not be specified at the same time",
            ));
        }
        Ok(ConnectPlan::Remote {
            host: self.host,
            port: self.port.unwrap_or(0),
            addr: self.addr,
            family: self.family,
            local: self.local_addr,
        })
    }
}

/// Where and how [`NativeLoop::create_server`] listens (asyncio's arguments of
/// `create_server`). Build it with the chained setters; a [`SocketAddr`] or a
/// `(host, port)` pair converts into one.
///
/// Give either addresses (`host`/`hosts` and/or `port`, or `addr`) or an existing bound
/// socket (`sock`), not both. Defaults ([`new`](Self::new)): no address, any family,
/// `backlog` 100, `reuse_address` on, `reuse_port` off, `start_serving` on.
///
/// - No host (or `""`) with a port: every interface — one listener per address family
///   the resolver returns (`0.0.0.0` and `::`, the IPv6 one with `IPV6_V6ONLY`). With
///   port 0 each listener gets its own free port, as in asyncio.
/// - Each host is resolved (names off the loop thread); a listener is created per
///   distinct address.
#[derive(Debug, Default)]
pub struct ListenOptions {
    hosts: Option<Vec<String>>,
    port: Option<u16>,
    addr: Option<SocketAddr>,
    family: Option<Domain>,
    sock: Option<Socket>,
    server: ServerOptions,
}

impl ListenOptions {
    /// No address set, asyncio's defaults for the rest (see the type's docs).
    pub fn new() -> Self {
        ListenOptions::default()
    }

    /// Listen on this host (a name or numeric address; `""` for every interface).
    #[must_use]
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.hosts = Some(vec![host.into()]);
        self
    }

    /// Listen on each of these hosts.
    #[must_use]
    pub fn hosts<I, S>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.hosts = Some(hosts.into_iter().map(Into::into).collect());
        self
    }

    /// The port (0, the default when a host is given, picks a free one).
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// One already resolved address, instead of hosts and port.
    #[must_use]
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = Some(addr);
        self
    }

    /// Only addresses of this family.
    #[must_use]
    pub fn family(mut self, family: Domain) -> Self {
        self.family = Some(family);
        self
    }

    /// Serve on this bound stream socket (TCP or Unix-domain) instead; it is put in
    /// listening mode with the backlog.
    #[must_use]
    pub fn sock(mut self, sock: impl Into<Socket>) -> Self {
        self.sock = Some(sock.into());
        self
    }

    /// `listen()` backlog, also how many connections are accepted per readiness
    /// report (default 100).
    #[must_use]
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.server.backlog = backlog;
        self
    }

    /// `SO_REUSEADDR` (default on).
    #[must_use]
    pub fn reuse_address(mut self, reuse: bool) -> Self {
        self.server.reuse_address = Some(reuse);
        self
    }

    /// `SO_REUSEPORT` (default off).
    #[must_use]
    pub fn reuse_port(mut self, reuse: bool) -> Self {
        self.server.reuse_port = reuse;
        self
    }

    /// Start accepting at once (default); otherwise call
    /// [`Server::start_serving`] or [`Server::serve_forever`].
    #[must_use]
    pub fn start_serving(mut self, start: bool) -> Self {
        self.server.start_serving = start;
        self
    }

    /// The server options (backlog, reuse flags, start_serving) in loop-core's form.
    pub fn server_options(&self) -> &ServerOptions {
        &self.server
    }
}

impl From<SocketAddr> for ListenOptions {
    fn from(addr: SocketAddr) -> Self {
        ListenOptions::new().addr(addr)
    }
}

impl From<(&str, u16)> for ListenOptions {
    fn from((host, port): (&str, u16)) -> Self {
        ListenOptions::new().host(host).port(port)
    }
}

impl From<(String, u16)> for ListenOptions {
    fn from((host, port): (String, u16)) -> Self {
        ListenOptions::new().host(host).port(port)
    }
}

impl From<HostPort> for ListenOptions {
    fn from(target: HostPort) -> Self {
        match target {
            HostPort::Addr(a) => ListenOptions::new().addr(a),
            HostPort::Name(h, p) => ListenOptions::new().host(h).port(p),
        }
    }
}

/// Whether a failed non-blocking `connect` is still going on.
fn in_progress(e: &io::Error, unix: bool) -> bool {
    // For a Unix-domain socket EAGAIN means "the listener's backlog is full", not
    // "started": the connection will never complete by itself.
    e.raw_os_error() == Some(libc::EINPROGRESS)
        || e.kind() == io::ErrorKind::Interrupted
        || (!unix && e.kind() == io::ErrorKind::WouldBlock)
}

/// Connect the non-blocking `sock` to `addr`, registered with `lp`, and cache both
/// names.
pub(crate) async fn connect_stream(
    lp: &NativeLoop,
    sock: Socket,
    addr: &SockAddr,
    unix: bool,
) -> Result<NativeStream> {
    let mut stream = NativeStream::register(lp, sock)?;
    let peer = match open(&stream)?.connect(addr) {
        Ok(()) => open(&stream)?.peer_addr().map_err(to_error)?,
        Err(e) if in_progress(&e, unix) => loop {
            wait_ready(lp.event_loop(), stream.token(), Interest::WRITABLE).await?;
            let s = open(&stream)?;
            if let Some(e) = s.take_error().map_err(to_error)? {
                return Err(to_error(e));
            }
            match s.peer_addr() {
                Ok(peer) => break peer,
                // A spurious report: still connecting.
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {}
                Err(e) => return Err(to_error(e)),
            }
        },
        Err(e) if unix && e.kind() == io::ErrorKind::WouldBlock => {
            return Err(Error::with_source(ErrorKind::Io, e));
        }
        Err(e) => return Err(to_error(e)),
    };
    let local = SockName::from_result(open(&stream)?.local_addr());
    stream.set_names(local, SockName::from_sockaddr(&peer));
    Ok(stream)
}

fn open(stream: &NativeStream) -> Result<&Socket> {
    stream
        .socket()
        .ok_or_else(|| Error::new(ErrorKind::NotConnected, "the socket is closed"))
}

/// Connect a new TCP socket to `addr`, first binding it to the first of `locals` of the
/// same family that binds.
pub(crate) async fn connect_addr(
    lp: &NativeLoop,
    addr: SocketAddr,
    locals: Option<&[SocketAddr]>,
) -> Result<NativeStream> {
    let domain = Domain::for_address(addr);
    let sock = new_socket(domain, Type::STREAM).map_err(to_error)?;
    if let Some(locals) = locals {
        let mut last = None;
        let mut bound = false;
        for local in locals.iter().filter(|l| Domain::for_address(**l) == domain) {
            match sock.bind(&SockAddr::from(*local)) {
                Ok(()) => {
                    bound = true;
                    break;
                }
                Err(e) => last = Some(bind_error(local, &e)),
            }
        }
        if !bound {
            return Err(last.unwrap_or_else(|| {
                Error::new(
                    ErrorKind::Io,
                    format!("no matching local address with family={domain:?} found"),
                )
            }));
        }
    }
    // asyncio sets TCP_NODELAY on every TCP transport; a failure only costs latency.
    let _ = sock.set_tcp_nodelay(true);
    connect_stream(lp, sock, &SockAddr::from(addr), false).await
}

/// Take over an existing connected stream socket (asyncio's `sock=` argument).
pub(crate) fn adopt_stream(lp: &NativeLoop, sock: Socket) -> Result<NativeStream> {
    if sock.r#type().map_err(to_error)? != Type::STREAM {
        return Err(invalid(format!(
            "a stream socket was expected, got {sock:?}"
        )));
    }
    sock.set_nonblocking(true).map_err(to_error)?;
    if matches!(sock.domain(), Ok(Domain::IPV4 | Domain::IPV6)) {
        let _ = sock.set_tcp_nodelay(true);
    }
    let local = SockName::from_result(sock.local_addr());
    let peer = SockName::from_result(sock.peer_addr());
    let mut stream = NativeStream::register(lp, sock)?;
    stream.set_names(local, peer);
    Ok(stream)
}

/// Bind a TCP listener to `addr` and listen.
pub(crate) fn listen_on(
    lp: &NativeLoop,
    addr: SocketAddr,
    options: &ServerOptions,
) -> Result<NativeListener> {
    let sock = new_socket(Domain::for_address(addr), Type::STREAM).map_err(to_error)?;
    configure_listener(&sock, addr, options)?;
    sock.bind(&SockAddr::from(addr))
        .map_err(|e| bind_error(addr, &e))?;
    listen(&sock, options.backlog).map_err(to_error)?;
    NativeListener::new(lp, sock, None)
}

fn configure_listener(sock: &Socket, addr: SocketAddr, options: &ServerOptions) -> Result<()> {
    if options.reuse_address.unwrap_or(true) {
        sock.set_reuse_address(true).map_err(to_error)?;
    }
    if options.reuse_port {
        set_reuse_port(sock)?;
    }
    if addr.is_ipv6() {
        // Otherwise `::` would also take the IPv4 port, which `0.0.0.0` wants.
        sock.set_only_v6(true).map_err(to_error)?;
    }
    Ok(())
}

#[cfg(not(any(target_os = "solaris", target_os = "illumos", target_os = "cygwin")))]
pub(crate) fn set_reuse_port(sock: &Socket) -> Result<()> {
    sock.set_reuse_port(true).map_err(to_error)
}

#[cfg(any(target_os = "solaris", target_os = "illumos", target_os = "cygwin"))]
pub(crate) fn set_reuse_port(_sock: &Socket) -> Result<()> {
    Err(Error::new(
        ErrorKind::Unsupported,
        "reuse_port not supported by socket module",
    ))
}

impl NativeLoop {
    /// Open a TCP connection and drive it with the protocol `factory` makes (asyncio's
    /// `create_connection`); returns once the protocol's `connection_made` has run.
    ///
    /// A host name is resolved off the loop thread; the addresses are tried in the
    /// resolver's order (no happy eyeballs) and the first that connects wins. The
    /// socket gets `TCP_NODELAY`. `factory` is called only once connected.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] for contradicting [`ConnectOptions`] (a socket
    /// together with an address, neither, …) or a socket that is not a stream socket;
    /// the resolver's failure; the connection's failure
    /// ([`ErrorKind::ConnectionRefused`], …) — when several addresses failed
    /// differently, one error listing them; [`ErrorKind::Runtime`] on a closed loop.
    pub async fn create_connection<P, F>(
        &self,
        factory: F,
        options: impl Into<ConnectOptions>,
    ) -> Result<(Rc<dyn Transport>, Rc<RefCell<P>>)>
    where
        P: Protocol,
        F: FnOnce() -> P,
    {
        let stream = self.open_stream(options.into()).await?;
        attach_stream(self.event_loop(), stream, factory).await
    }

    /// The connected (or adopted) raw stream [`create_connection`](Self::create_connection)
    /// drives.
    pub(crate) async fn open_stream(&self, options: ConnectOptions) -> Result<NativeStream> {
        match options.plan()? {
            ConnectPlan::Sock(sock) => adopt_stream(self, sock),
            ConnectPlan::Remote {
                host,
                port,
                addr,
                family,
                local,
            } => {
                let addrs = match addr {
                    Some(a) => {
                        resolve_host_port(self, &HostPort::Addr(a), family, Type::STREAM).await?
                    }
                    None => {
                        resolve(
                            self,
                            host.as_deref(),
                            port,
                            family,
                            Type::STREAM,
                            AddrInfoFlags::NONE,
                        )
                        .await?
                    }
                };
                let locals = match &local {
                    Some(l) => Some(resolve_host_port(self, l, family, Type::STREAM).await?),
                    None => None,
                };
                let mut errors = Vec::new();
                for addr in addrs {
                    match connect_addr(self, addr, locals.as_deref()).await {
                        Ok(stream) => return Ok(stream),
                        Err(e) => errors.push(e),
                    }
                }
                Err(combine_errors(errors))
            }
        }
    }

    /// Wrap a connection accepted outside the loop (asyncio's
    /// `connect_accepted_socket`): `sock` (a connected stream socket, made
    /// non-blocking) is driven by the protocol `factory` makes; returns once its
    /// `connection_made` has run.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] if `sock` is not a stream socket; the OS error of
    /// making it non-blocking; [`ErrorKind::Runtime`] on a closed loop.
    pub async fn connect_accepted_socket<P, F>(
        &self,
        factory: F,
        sock: impl Into<Socket>,
    ) -> Result<(Rc<dyn Transport>, Rc<RefCell<P>>)>
    where
        P: Protocol,
        F: FnOnce() -> P,
    {
        let stream = adopt_stream(self, sock.into())?;
        attach_stream(self.event_loop(), stream, factory).await
    }

    /// Listen for TCP connections and drive each with a protocol from `factory`
    /// (asyncio's `create_server`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] for contradicting [`ListenOptions`] (a socket
    /// together with an address, neither, a family or reuse option with a socket) or a
    /// socket that is not a stream socket; the resolver's failure; a bind failure
    /// ([`ErrorKind::AddrInUse`], …, naming the address); [`ErrorKind::Runtime`] on a
    /// closed loop. Listeners already created are closed on failure.
    pub async fn create_server<P, F>(
        &self,
        mut factory: F,
        options: impl Into<ListenOptions>,
    ) -> Result<Server>
    where
        P: Protocol,
        F: FnMut() -> P + 'static,
    {
        let options = options.into();
        let server_options = options.server.clone();
        let listeners = self.open_listeners(options).await?;
        Server::new(
            self.event_loop(),
            listeners,
            move || StreamProtocolRef::plain(Rc::new(RefCell::new(factory()))),
            &server_options,
        )
    }

    /// The listeners [`create_server`](Self::create_server) serves on.
    pub(crate) async fn open_listeners(
        &self,
        options: ListenOptions,
    ) -> Result<Vec<NativeListener>> {
        let ListenOptions {
            hosts,
            port,
            addr,
            family,
            sock,
            server,
        } = options;
        let addressed = hosts.is_some() || port.is_some() || addr.is_some();
        if let Some(sock) = sock {
            if addressed {
                return Err(invalid(
                    "host/port and sock can not be specified at the same time",
                ));
            }
            if family.is_some() || server.reuse_address.is_some() || server.reuse_port {
                return Err(invalid(
                    "family, reuse_address and reuse_port can not be specified together with sock",
                ));
            }
            if sock.r#type().map_err(to_error)? != Type::STREAM {
                return Err(invalid(format!(
                    "a stream socket was expected, got {sock:?}"
                )));
            }
            listen(&sock, server.backlog).map_err(to_error)?;
            return Ok(vec![NativeListener::new(self, sock, None)?]);
        }
        if !addressed {
            return Err(invalid("neither host/port nor sock were specified"));
        }
        if addr.is_some() && (hosts.is_some() || port.is_some()) {
            return Err(invalid(
                "addr and host/port can not be specified at the same time",
            ));
        }
        let addrs = match addr {
            Some(a) => resolve_host_port(self, &HostPort::Addr(a), family, Type::STREAM).await?,
            None => {
                let port = port.unwrap_or(0);
                let hosts = hosts.unwrap_or_default();
                let mut all: Vec<SocketAddr> = Vec::new();
                let every_interface = [None];
                let named: Vec<Option<&str>> = hosts
                    .iter()
                    .map(|h| if h.is_empty() { None } else { Some(h.as_str()) })
                    .collect();
                let queries: &[Option<&str>] = if named.is_empty() {
                    &every_interface
                } else {
                    &named
                };
                for host in queries {
                    let found = resolve(
                        self,
                        *host,
                        port,
                        family,
                        Type::STREAM,
                        AddrInfoFlags::PASSIVE,
                    )
                    .await?;
                    for a in found {
                        if !all.contains(&a) {
                            all.push(a);
                        }
                    }
                }
                all
            }
        };
        let mut listeners = Vec::with_capacity(addrs.len());
        let mut skipped = None;
        for a in addrs {
            match listen_on(self, a, &server) {
                Ok(l) => listeners.push(l),
                // This machine cannot make a socket of that family (IPv6 disabled):
                // asyncio skips the address.
                Err(e)
                    if e.downcast_ref::<io::Error>()
                        .and_then(io::Error::raw_os_error)
                        .is_some_and(|c| c == libc::EAFNOSUPPORT) =>
                {
                    skipped = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        match (listeners.is_empty(), skipped) {
            (true, Some(e)) => Err(e),
            _ => Ok(listeners),
        }
    }
}
