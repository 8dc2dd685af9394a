//! UDP: [`NativeDatagram`], the shared machinery's [`RawDatagram`] on a UDP socket, and
//! asyncio's `create_datagram_endpoint` with its options.

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::rc::Rc;

use loop_core::transport::{DatagramEndpoint, RawDatagram};
use loop_core::{DatagramProtocol, DatagramTransport, Error, ErrorKind, ExtraInfo, Result, Token};
use socket2::{Domain, SockAddr, Socket, Type};

use crate::NativeLoop;
use crate::net::addr::{HostPort, resolve_host_port};
use crate::net::stream::to_error;
use crate::net::tcp::set_reuse_port;
use crate::net::{after_scheduled, bind_error, extra, invalid, new_socket};
use crate::selector::Trigger;

/// A non-blocking UDP socket registered with a [`NativeLoop`]: the raw socket a
/// [`DatagramEndpoint`] drives.
///
/// Registered [edge-triggered](crate::Trigger::Edge): each datagram received queues a
/// re-arm that the receive that would block withdraws (no system call), so the
/// endpoint's budget of datagrams per callback keeps level-triggered behaviour.
///
/// Extra information: `"sockname"` and `"peername"` ([`ExtraInfo::Addr`], the latter
/// for an endpoint with a remote address), `"socket"` ([`ExtraInfo::Int`], the file
/// descriptor, until closed).
pub struct NativeDatagram {
    lp: NativeLoop,
    token: Token,
    sock: Option<UdpSocket>,
    local: Option<SocketAddr>,
    peer: Option<SocketAddr>,
    /// The socket is connected to `peer` (not with `allow_broadcast`, where `peer` is
    /// only the default destination, as in asyncio).
    connected: bool,
    rearm_queued: bool,
}

impl fmt::Debug for NativeDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NativeDatagram")
            .field("token", &self.token)
            .field("fd", &self.sock.as_ref().map(AsRawFd::as_raw_fd))
            .field("local", &self.local)
            .field("peer", &self.peer)
            .finish()
    }
}

fn closed_error() -> Error {
    Error::new(ErrorKind::NotConnected, "the socket is closed")
}

impl NativeDatagram {
    /// Register `sock` (a non-blocking UDP socket, bound or not, connected to `peer`
    /// when `connected`).
    fn new(
        lp: &NativeLoop,
        sock: Socket,
        peer: Option<SocketAddr>,
        connected: bool,
    ) -> Result<NativeDatagram> {
        // An unbound socket (port 0) is bound by the OS on its first send: ask again
        // then (see `extra_info`).
        let local = sock
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .filter(|a| a.port() != 0);
        let sock = UdpSocket::from(OwnedFd::from(sock));
        let token = lp.register_fd(sock.as_fd(), Trigger::Edge)?;
        Ok(NativeDatagram {
            lp: lp.clone(),
            token,
            sock: Some(sock),
            local,
            peer,
            connected,
            rearm_queued: false,
        })
    }

    /// This socket's address (for a socket created unbound, the one the OS picked on
    /// its first send; `0.0.0.0:0` or `[::]:0` before).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local
            .or_else(|| self.sock.as_ref().and_then(|s| s.local_addr().ok()))
    }

    fn release(&mut self) {
        if let Some(sock) = self.sock.take() {
            let _ = self.lp.deregister_fd(self.token);
            drop(sock);
        }
    }

    #[inline]
    fn more_may_wait(&mut self) {
        self.rearm_queued = true;
        self.lp.selector().queue_rearm(self.token);
    }

    #[inline]
    fn drained(&mut self) {
        if self.rearm_queued {
            self.rearm_queued = false;
            self.lp.selector().cancel_rearm(self.token);
        }
    }
}

impl Drop for NativeDatagram {
    fn drop(&mut self) {
        self.release();
    }
}

impl RawDatagram for NativeDatagram {
    fn token(&self) -> Token {
        self.token
    }

    fn try_send_to(&mut self, data: &[u8], addr: Option<SocketAddr>) -> Result<usize> {
        let Some(sock) = &self.sock else {
            return Err(closed_error());
        };
        loop {
            let r = match (self.connected, addr.or(self.peer)) {
                (true, _) => sock.send(data),
                (false, Some(to)) => sock.send_to(data, to),
                (false, None) => {
                    return Err(Error::new(
                        ErrorKind::InvalidInput,
                        "no address given and the endpoint has no remote address",
                    ));
                }
            };
            match r {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(to_error(e)),
            }
        }
    }

    fn try_recv_from(&mut self, buf: &mut [u8]) -> Result<(usize, SocketAddr)> {
        let Some(sock) = &self.sock else {
            return Err(closed_error());
        };
        loop {
            match sock.recv_from(buf) {
                Ok(got) => {
                    self.more_may_wait();
                    return Ok(got);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.drained();
                    return Err(Error::from_kind(ErrorKind::WouldBlock));
                }
                Err(e) => {
                    // The endpoint stops after reporting it; more may be waiting.
                    self.more_may_wait();
                    return Err(to_error(e));
                }
            }
        }
    }

    fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    fn close(&mut self) {
        self.release();
    }

    fn extra_info(&self, name: &str) -> Option<ExtraInfo> {
        match name {
            extra::SOCKNAME => self.local_addr().map(ExtraInfo::Addr),
            extra::PEERNAME => self.peer.map(ExtraInfo::Addr),
            extra::SOCKET => self
                .sock
                .as_ref()
                .map(|s| ExtraInfo::Int(i64::from(s.as_raw_fd()))),
            _ => None,
        }
    }
}

/// How [`NativeLoop::create_datagram_endpoint`] sets its socket up (asyncio's arguments
/// of `create_datagram_endpoint`). Build it with the chained setters.
///
/// Give `local_addr` and/or `remote_addr` (or only a `family`, for an unbound socket),
/// or an existing socket (`sock`) with none of the other options. Defaults
/// ([`new`](Self::new)): no address, any family, `reuse_port` and `allow_broadcast`
/// off, no socket.
#[derive(Debug, Default)]
pub struct DatagramOptions {
    local_addr: Option<HostPort>,
    remote_addr: Option<HostPort>,
    family: Option<Domain>,
    reuse_port: bool,
    allow_broadcast: bool,
    sock: Option<Socket>,
}

impl DatagramOptions {
    /// No option set (see the type's docs).
    pub fn new() -> Self {
        DatagramOptions::default()
    }

    /// Bind to this address (port 0 picks a free port).
    #[must_use]
    pub fn local_addr(mut self, addr: impl Into<HostPort>) -> Self {
        self.local_addr = Some(addr.into());
        self
    }

    /// Connect to this address: `sendto` without an address goes there, and only its
    /// datagrams are received.
    #[must_use]
    pub fn remote_addr(mut self, addr: impl Into<HostPort>) -> Self {
        self.remote_addr = Some(addr.into());
        self
    }

    /// Only addresses of this family; alone, an unbound socket of this family.
    #[must_use]
    pub fn family(mut self, family: Domain) -> Self {
        self.family = Some(family);
        self
    }

    /// `SO_REUSEPORT`: several endpoints may bind the same address.
    #[must_use]
    pub fn reuse_port(mut self, reuse: bool) -> Self {
        self.reuse_port = reuse;
        self
    }

    /// `SO_BROADCAST`. As in asyncio, a `remote_addr` is then only the default
    /// destination: the socket is not connected, so datagrams from anywhere arrive.
    #[must_use]
    pub fn allow_broadcast(mut self, allow: bool) -> Self {
        self.allow_broadcast = allow;
        self
    }

    /// Use this UDP socket (made non-blocking) instead of creating one.
    #[must_use]
    pub fn sock(mut self, sock: impl Into<Socket>) -> Self {
        self.sock = Some(sock.into());
        self
    }
}

/// A UDP socket of `domain` with the options set.
fn udp_socket(domain: Domain, reuse_port: bool, broadcast: bool) -> Result<Socket> {
    let sock = new_socket(domain, Type::DGRAM).map_err(to_error)?;
    if reuse_port {
        set_reuse_port(&sock)?;
    }
    if broadcast {
        sock.set_broadcast(true).map_err(to_error)?;
    }
    Ok(sock)
}

/// [`Net::bind_datagram`](loop_core::net::Net::bind_datagram): bind to `local` (the
/// wildcard address of `remote`'s family when `None`), connect to `remote`.
pub(crate) fn bind_pair(
    lp: &NativeLoop,
    local: Option<SocketAddr>,
    remote: Option<SocketAddr>,
) -> Result<NativeDatagram> {
    let local = match (local, remote) {
        (Some(l), _) => l,
        (None, Some(SocketAddr::V4(_))) => SocketAddr::from(([0, 0, 0, 0], 0)),
        (None, Some(SocketAddr::V6(_))) => SocketAddr::from(([0u16; 8], 0)),
        (None, None) => {
            return Err(invalid(
                "a datagram endpoint needs a local or a remote address",
            ));
        }
    };
    open_udp(
        lp,
        Domain::for_address(local),
        Some(local),
        remote,
        false,
        false,
    )
}

/// A UDP socket of `domain`, bound to `local`, connected to (or, with `broadcast`,
/// defaulting to) `remote`.
fn open_udp(
    lp: &NativeLoop,
    domain: Domain,
    local: Option<SocketAddr>,
    remote: Option<SocketAddr>,
    reuse_port: bool,
    broadcast: bool,
) -> Result<NativeDatagram> {
    let sock = udp_socket(domain, reuse_port, broadcast)?;
    if let Some(l) = local {
        sock.bind(&SockAddr::from(l))
            .map_err(|e| bind_error(l, &e))?;
    }
    let connected = match remote {
        Some(r) if !broadcast => {
            // A UDP connect only records the peer: it completes at once.
            sock.connect(&SockAddr::from(r)).map_err(to_error)?;
            true
        }
        _ => false,
    };
    NativeDatagram::new(lp, sock, remote, connected)
}

impl NativeLoop {
    /// Create a UDP endpoint driven by the protocol `factory` makes (asyncio's
    /// `create_datagram_endpoint`); returns once the protocol's `connection_made` has
    /// run.
    ///
    /// Addresses are resolved off the loop thread (numeric ones directly); for each
    /// address family that both given addresses resolve to, in order, a socket is
    /// tried until one binds and connects.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] for contradicting [`DatagramOptions`] (a socket with
    /// any other option; no address, family nor socket; addresses of no common family)
    /// or a socket that is not an IPv4/IPv6 datagram socket; the resolver's failure; the
    /// first socket's failure ([`ErrorKind::AddrInUse`], …); [`ErrorKind::Runtime`] on a
    /// closed loop.
    pub async fn create_datagram_endpoint<P, F>(
        &self,
        factory: F,
        options: DatagramOptions,
    ) -> Result<(Rc<dyn DatagramTransport>, Rc<RefCell<P>>)>
    where
        P: DatagramProtocol,
        F: FnOnce() -> P,
    {
        let raw = self.open_datagram(options).await?;
        let protocol = Rc::new(RefCell::new(factory()));
        let endpoint: Rc<dyn DatagramTransport> =
            DatagramEndpoint::new(self.event_loop(), raw, protocol.clone())?;
        let mut guard = CloseOnDrop(Some(endpoint.clone()));
        after_scheduled(self.event_loop()).await?;
        guard.0 = None;
        Ok((endpoint, protocol))
    }

    async fn open_datagram(&self, options: DatagramOptions) -> Result<NativeDatagram> {
        let DatagramOptions {
            local_addr,
            remote_addr,
            family,
            reuse_port,
            allow_broadcast,
            sock,
        } = options;
        if let Some(sock) = sock {
            let mut given = Vec::new();
            for (set, name) in [
                (local_addr.is_some(), "local_addr"),
                (remote_addr.is_some(), "remote_addr"),
                (family.is_some(), "family"),
                (reuse_port, "reuse_port"),
                (allow_broadcast, "allow_broadcast"),
            ] {
                if set {
                    given.push(name);
                }
            }
            if !given.is_empty() {
                return Err(invalid(format!(
                    "socket modifier keyword arguments can not be used when sock is specified: {}",
                    given.join(", ")
                )));
            }
            return adopt_datagram(self, sock);
        }
        if local_addr.is_none() && remote_addr.is_none() {
            let Some(family) = family else {
                return Err(invalid(
                    "unexpected address family: give local_addr, remote_addr, family or sock",
                ));
            };
            return open_udp(self, family, None, None, reuse_port, allow_broadcast);
        }
        let locals = match &local_addr {
            Some(l) => Some(resolve_host_port(self, l, family, Type::DGRAM).await?),
            None => None,
        };
        let remotes = match &remote_addr {
            Some(r) => Some(resolve_host_port(self, r, family, Type::DGRAM).await?),
            None => None,
        };
        // Pair the addresses by family, in the order the resolver gave them.
        let mut families: Vec<Domain> = Vec::new();
        for a in locals.iter().chain(remotes.iter()).flatten() {
            let d = Domain::for_address(*a);
            if !families.contains(&d) {
                families.push(d);
            }
        }
        let pick = |list: &Option<Vec<SocketAddr>>, d: Domain| -> Option<Option<SocketAddr>> {
            match list {
                None => Some(None),
                Some(l) => l
                    .iter()
                    .find(|a| Domain::for_address(**a) == d)
                    .map(|a| Some(*a)),
            }
        };
        let mut errors = Vec::new();
        let mut tried = false;
        for d in families {
            let (Some(local), Some(remote)) = (pick(&locals, d), pick(&remotes, d)) else {
                continue;
            };
            tried = true;
            match open_udp(self, d, local, remote, reuse_port, allow_broadcast) {
                Ok(raw) => return Ok(raw),
                Err(e) => errors.push(e),
            }
        }
        if !tried {
            return Err(invalid("can not get address information"));
        }
        Err(errors.swap_remove(0))
    }
}

/// Closes an endpoint if the operation creating it is dropped first.
struct CloseOnDrop(Option<Rc<dyn DatagramTransport>>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            t.close();
        }
    }
}

/// Take over an existing UDP socket (asyncio's `sock=`).
fn adopt_datagram(lp: &NativeLoop, sock: Socket) -> Result<NativeDatagram> {
    if sock.r#type().map_err(to_error)? != Type::DGRAM
        || !matches!(sock.domain(), Ok(Domain::IPV4 | Domain::IPV6))
    {
        return Err(invalid(format!(
            "an IPv4 or IPv6 datagram socket was expected, got {sock:?}"
        )));
    }
    sock.set_nonblocking(true).map_err(to_error)?;
    let peer = sock.peer_addr().ok().and_then(|a| a.as_socket());
    let connected = peer.is_some();
    NativeDatagram::new(lp, sock, peer, connected)
}
