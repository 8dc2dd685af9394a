//! [`GuestNet`]: the [`Net`] backend of a guest, over `wasi:sockets`.

use alloc::rc::Rc;
use core::cell::RefCell;
use core::fmt;
use core::net::SocketAddr;

use loop_core::net::{Net, ServerOptions};
use loop_core::transport::wait_ready;
use loop_core::{Error, ErrorKind, EventLoop, Interest, Result, Token};
use wasip2::sockets::network::{ErrorCode, IpSocketAddress};
use wasip2::sockets::tcp_create_socket::create_tcp_socket;
use wasip2::sockets::udp_create_socket::create_udp_socket;

use crate::addr::{any_of_family, connect_target, family_of, from_wasi, to_wasi};
use crate::error::socket_error;
use crate::host::GuestHost;
use crate::reactor::{DatagramIo, Io, Reactor, SocketIo, StreamIo, UdpSocketIo};
use crate::tcp::{GuestListener, GuestStream};
use crate::udp::GuestDatagram;

/// What the raw objects share: the loop they register with and the host's reactor.
pub(crate) struct NetInner {
    pub(crate) lp: EventLoop,
    pub(crate) reactor: Rc<RefCell<Reactor>>,
}

impl NetInner {
    /// Register `io` with the loop and the reactor.
    pub(crate) fn register(&self, io: Io) -> Token {
        let token = self.lp.register_io();
        self.reactor.borrow_mut().insert(token, io);
        token
    }

    /// Release `token`'s resources (see [`Reactor::release`]) and forget the token.
    pub(crate) fn unregister(&self, token: Token) {
        self.reactor.borrow_mut().release(token);
        // Fails only in the host, which cannot fail to drop an interest.
        let _ = self.lp.deregister_io(token);
    }

    /// Run a WASI `finish-*` step of the socket registered under `token` until it stops
    /// answering `would-block`, waiting for the socket's pollable in between.
    async fn finish<T>(
        &self,
        token: Token,
        what: &dyn Fn() -> String,
        mut step: impl FnMut(&Io) -> Option<core::result::Result<T, ErrorCode>>,
    ) -> Result<T> {
        loop {
            let outcome = {
                let reactor = self.reactor.borrow();
                reactor.get(token).and_then(&mut step)
            };
            match outcome {
                Some(Ok(value)) => return Ok(value),
                Some(Err(ErrorCode::WouldBlock)) => {
                    wait_ready(&self.lp, token, Interest::WRITABLE).await?;
                }
                Some(Err(code)) => return Err(socket_error(code, what)),
                None => return Err(Error::new(ErrorKind::NotConnected, "the socket is closed")),
            }
        }
    }

    /// Start an operation that needs the network capability.
    fn start(
        &self,
        token: Token,
        what: &dyn Fn() -> String,
        step: impl FnOnce(
            &Io,
            &wasip2::sockets::network::Network,
        ) -> core::result::Result<(), ErrorCode>,
    ) -> Result<()> {
        match self.reactor.borrow_mut().with_network(token, step) {
            Some(outcome) => outcome.map_err(|code| socket_error(code, what)),
            None => Err(Error::new(ErrorKind::NotConnected, "the socket is closed")),
        }
    }
}

/// The network of a guest: a [`Net`] backend over `wasi:sockets` (TCP streams and
/// listeners, UDP sockets), so the protocol code written for the simulated network and
/// the native host runs unchanged in a `wasm32-wasip2` guest. Cloning gives another
/// handle to the same network.
///
/// What the guest may reach is the runtime's decision: a denied bind, listen, connect or
/// send fails with [`ErrorKind::PermissionDenied`] (WASI's `access-denied`) and the guest
/// keeps running. Backend notes:
/// - [`connect`](Net::connect) to an unspecified address goes to loopback (as on Linux
///   and the simulated network), and to port 0 fails with
///   [`ErrorKind::AddrNotAvailable`];
/// - [`listen`](Net::listen) binds one socket (WASI has no dual-stack option) and sets
///   the backlog; `reuse_address` and `reuse_port` have no WASI equivalent and are
///   ignored (runtimes reuse addresses of listening sockets);
/// - [`bind_datagram`](Net::bind_datagram) with only a remote address binds the
///   unspecified address of its family, port 0.
#[derive(Clone)]
pub struct GuestNet {
    inner: Rc<NetInner>,
}

impl fmt::Debug for GuestNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuestNet").finish_non_exhaustive()
    }
}

impl GuestNet {
    /// The network of `host`, whose sockets register with `lp` (a loop running on that
    /// host: sockets registered with another loop are never polled).
    pub fn new(lp: &EventLoop, host: &GuestHost) -> Self {
        GuestNet {
            inner: Rc::new(NetInner {
                lp: lp.clone(),
                reactor: host.reactor.clone(),
            }),
        }
    }
}

impl Net for GuestNet {
    type Stream = GuestStream;
    type Listener = GuestListener;
    type Datagram = GuestDatagram;

    fn event_loop(&self) -> &EventLoop {
        &self.inner.lp
    }

    async fn connect(&self, addr: SocketAddr) -> Result<GuestStream> {
        let inner = &self.inner;
        if addr.port() == 0 {
            return Err(Error::new(
                ErrorKind::AddrNotAvailable,
                "cannot connect to port 0",
            ));
        }
        let target = connect_target(addr);
        let what = || format!("connect to {target}");
        let socket = create_tcp_socket(family_of(target)).map_err(|c| socket_error(c, what))?;
        let token = inner.register(Io::Socket(SocketIo {
            ready: socket.subscribe(),
            socket,
        }));
        // Owns the registration from here on: dropping it (an error, a cancelled
        // connect) releases the socket.
        let mut stream = GuestStream::new(inner.clone(), token, any_of_family(target), target);
        inner.start(token, &what, |io, network| match io {
            Io::Socket(s) => s.socket.start_connect(network, to_wasi(target)),
            _ => Err(ErrorCode::InvalidState),
        })?;
        let (input, output) = inner
            .finish(token, &what, |io| match io {
                Io::Socket(s) => Some(s.socket.finish_connect()),
                _ => None,
            })
            .await?;
        let local = {
            let mut reactor = inner.reactor.borrow_mut();
            let slot = reactor
                .slot_mut(token)
                .expect("the connecting stream owns its registration");
            let Some(Io::Socket(SocketIo { ready, socket })) = slot.take() else {
                unreachable!("a connecting registration holds a socket");
            };
            // The socket's pollable goes first; the streams' replace it.
            drop(ready);
            let local = socket.local_address();
            *slot = Some(Io::Stream(StreamIo {
                readable: input.subscribe(),
                writable: output.subscribe(),
                input,
                output,
                socket,
            }));
            local
        };
        let local = local.map_err(|c| socket_error(c, what))?;
        stream.set_local(from_wasi(local));
        Ok(stream)
    }

    async fn listen(
        &self,
        addr: SocketAddr,
        options: &ServerOptions,
    ) -> Result<Vec<GuestListener>> {
        let inner = &self.inner;
        let what = || format!("listen on {addr}");
        let socket = create_tcp_socket(family_of(addr)).map_err(|c| socket_error(c, what))?;
        match socket.set_listen_backlog_size(u64::from(options.backlog.max(1))) {
            // A runtime may not let the backlog be chosen; its default then applies.
            Ok(()) | Err(ErrorCode::NotSupported) => {}
            Err(code) => return Err(socket_error(code, what)),
        }
        let token = inner.register(Io::Socket(SocketIo {
            ready: socket.subscribe(),
            socket,
        }));
        let mut listener = GuestListener::new(inner.clone(), token, addr);
        let bind_what = || format!("bind {addr}");
        inner.start(token, &bind_what, |io, network| match io {
            Io::Socket(s) => s.socket.start_bind(network, to_wasi(addr)),
            _ => Err(ErrorCode::InvalidState),
        })?;
        inner
            .finish(token, &bind_what, |io| match io {
                Io::Socket(s) => Some(s.socket.finish_bind()),
                _ => None,
            })
            .await?;
        inner.start(token, &what, |io, _| match io {
            Io::Socket(s) => s.socket.start_listen(),
            _ => Err(ErrorCode::InvalidState),
        })?;
        let bound = inner
            .finish(token, &what, |io| match io {
                Io::Socket(s) => Some(
                    s.socket
                        .finish_listen()
                        .and_then(|()| s.socket.local_address()),
                ),
                _ => None,
            })
            .await?;
        listener.set_addr(from_wasi(bound));
        Ok(alloc::vec![listener])
    }

    async fn bind_datagram(
        &self,
        local: Option<SocketAddr>,
        remote: Option<SocketAddr>,
    ) -> Result<GuestDatagram> {
        let inner = &self.inner;
        let local = match (local, remote) {
            (Some(l), _) => l,
            (None, Some(r)) => any_of_family(r),
            (None, None) => {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    "a datagram socket needs a local or a remote address",
                ));
            }
        };
        let what = || format!("bind a datagram socket to {local}");
        let socket = create_udp_socket(family_of(local)).map_err(|c| socket_error(c, what))?;
        let token = inner.register(Io::UdpSocket(UdpSocketIo {
            ready: socket.subscribe(),
            socket,
        }));
        let mut endpoint = GuestDatagram::new(inner.clone(), token, local, remote);
        inner.start(token, &what, |io, network| match io {
            Io::UdpSocket(s) => s.socket.start_bind(network, to_wasi(local)),
            _ => Err(ErrorCode::InvalidState),
        })?;
        inner
            .finish(token, &what, |io| match io {
                Io::UdpSocket(s) => Some(s.socket.finish_bind()),
                _ => None,
            })
            .await?;
        let connect_what = || match remote {
            Some(r) => format!("connect a datagram socket to {r}"),
            None => format!("open the datagram streams of {local}"),
        };
        let bound = {
            let mut reactor = inner.reactor.borrow_mut();
            let slot = reactor
                .slot_mut(token)
                .expect("the binding endpoint owns its registration");
            let Some(Io::UdpSocket(UdpSocketIo { ready, socket })) = slot.take() else {
                unreachable!("a binding registration holds a UDP socket");
            };
            drop(ready);
            let remote_wasi: Option<IpSocketAddress> = remote.map(to_wasi);
            match socket.stream(remote_wasi) {
                Ok((incoming, outgoing)) => {
                    let bound = socket.local_address();
                    *slot = Some(Io::Datagram(DatagramIo {
                        readable: incoming.subscribe(),
                        writable: outgoing.subscribe(),
                        incoming,
                        outgoing,
                        socket,
                    }));
                    bound
                }
                Err(code) => Err(code),
            }
        };
        let bound = bound.map_err(|c| socket_error(c, connect_what))?;
        endpoint.set_local(from_wasi(bound));
        Ok(endpoint)
    }
}
