//! The `Net` abstraction: the network operations a backend offers, so that a protocol
//! and a test scenario are written once and run on every backend (the simulated network,
//! the native host, a WASI guest).
//!
//! A backend implements the three primitives of [`Net`] — [`connect`](Net::connect),
//! [`listen`](Net::listen), [`bind_datagram`](Net::bind_datagram) — returning raw,
//! non-blocking objects ([`RawStream`], [`RawListener`], [`RawDatagram`]). The asyncio
//! operations ([`create_connection`](Net::create_connection),
//! [`create_server`](Net::create_server),
//! [`create_datagram_endpoint`](Net::create_datagram_endpoint)) are provided on top of
//! them with the shared machinery ([`StreamTransport`], [`Server`],
//! [`DatagramEndpoint`]), so they behave identically everywhere.
//!
//! ```
//! use core::net::SocketAddr;
//! use std::rc::Rc;
//! use loop_core::{EventLoop, Protocol, Transport, net::{Net, ServerOptions}, sim::{SimHost, SimNet}};
//!
//! #[derive(Default)]
//! struct Echo(Option<Rc<dyn Transport>>);
//! impl Protocol for Echo {
//!     fn connection_made(&mut self, t: Rc<dyn Transport>) { self.0 = Some(t); }
//!     fn data_received(&mut self, data: &[u8]) { self.0.as_ref().unwrap().write(data).unwrap(); }
//! }
//!
//! let host = SimHost::new(1);
//! let lp = EventLoop::new(host.clone());
//! let net = SimNet::new(&lp, &host);
//! let addr: SocketAddr = "127.0.0.1:7".parse()?;
//! let n = net.clone();
//! let server = lp.run_until_complete(async move {
//!     n.create_server(Echo::default, addr, ServerOptions::default()).await
//! })??;
//! assert_eq!(server.sockets(), vec![addr]);
//! server.close();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::net::SocketAddr;

use crate::error::{Error, ErrorKind, Result};
use crate::event_loop::EventLoop;
use crate::protocol::{BufferedProtocol, DatagramProtocol, Protocol};
use crate::transport::{
    BaseTransport, DatagramEndpoint, DatagramTransport, RawDatagram, RawListener, RawStream,
    StreamProtocolRef, StreamTransport, Transport,
};

mod server;

pub use server::Server;

/// Options of [`Net::create_server`], with asyncio's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerOptions {
    /// Most connections waiting to be accepted (`listen(backlog)`); also how many the
    /// server accepts per readiness report. Default 100.
    pub backlog: u32,
    /// Start accepting at once; otherwise call [`Server::start_serving`] or
    /// [`Server::serve_forever`]. Default `true`.
    pub start_serving: bool,
    /// `SO_REUSEADDR`; `None` lets the backend choose (on by default on Unix, as in
    /// asyncio). Backends without the notion ignore it.
    pub reuse_address: Option<bool>,
    /// `SO_REUSEPORT`. Default `false`. Backends without the notion ignore it.
    pub reuse_port: bool,
}

impl Default for ServerOptions {
    /// `backlog` 100, `start_serving` true, `reuse_address` backend default,
    /// `reuse_port` false.
    fn default() -> Self {
        ServerOptions {
            backlog: 100,
            start_serving: true,
            reuse_address: None,
            reuse_port: false,
        }
    }
}

impl ServerOptions {
    /// Set [`backlog`](Self::backlog).
    #[must_use]
    pub fn with_backlog(mut self, backlog: u32) -> Self {
        self.backlog = backlog;
        self
    }

    /// Set [`start_serving`](Self::start_serving).
    #[must_use]
    pub fn with_start_serving(mut self, start: bool) -> Self {
        self.start_serving = start;
        self
    }

    /// Set [`reuse_address`](Self::reuse_address).
    #[must_use]
    pub fn with_reuse_address(mut self, reuse: bool) -> Self {
        self.reuse_address = Some(reuse);
        self
    }

    /// Set [`reuse_port`](Self::reuse_port).
    #[must_use]
    pub fn with_reuse_port(mut self, reuse: bool) -> Self {
        self.reuse_port = reuse;
        self
    }
}

/// Closes a transport if the operation creating it is dropped (cancelled) before it
/// returns, as asyncio closes the transport when `create_connection` fails while waiting.
struct CloseOnDrop(Option<Rc<dyn BaseTransport>>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            t.close();
        }
    }
}

/// Wait until the callbacks already scheduled (`connection_made`) have run: a future
/// completed by a `call_soon` queued after them.
async fn after_scheduled(lp: &EventLoop) -> Result<()> {
    let waiter = lp.create_future::<()>();
    let w = waiter.clone();
    lp.call_soon(move || {
        let _ = w.set_result(());
    })?;
    waiter.await
}

/// The network operations of a backend. Generic (its futures are not boxed): write
/// scenarios as `async fn scenario<N: Net>(net: &N)`.
///
/// Implementors supply the associated raw types and the three primitives; the
/// `create_*` methods are provided and SHOULD NOT be overridden, so every backend shares
/// the same behaviour.
#[allow(
    async_fn_in_trait,
    reason = "the loop is single-threaded: these futures are never sent to other threads"
)]
pub trait Net {
    /// A connected stream.
    type Stream: RawStream;
    /// A listening socket accepting [`Self::Stream`]s.
    type Listener: RawListener<Stream = Self::Stream>;
    /// A datagram socket.
    type Datagram: RawDatagram;

    /// The loop the backend's objects are registered with.
    fn event_loop(&self) -> &EventLoop;

    /// Connect a stream to `addr`, registered with the loop.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ConnectionRefused`] when nothing listens there; other
    /// backend-specific failures (unreachable network, timeout, permission denied).
    async fn connect(&self, addr: SocketAddr) -> Result<Self::Stream>;

    /// Bind and listen on `addr` (port 0 picks a free port). A backend may return several
    /// listeners (for instance one per address family for an unspecified address).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::AddrInUse`], [`ErrorKind::AddrNotAvailable`], or a
    /// backend-specific failure.
    async fn listen(
        &self,
        addr: SocketAddr,
        options: &ServerOptions,
    ) -> Result<Vec<Self::Listener>>;

    /// Bind a datagram socket to `local` (an unspecified address of the remote's family
    /// when `None`) and connect it to `remote` if given.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] when both are `None`; [`ErrorKind::AddrInUse`]; or
    /// a backend-specific failure.
    async fn bind_datagram(
        &self,
        local: Option<SocketAddr>,
        remote: Option<SocketAddr>,
    ) -> Result<Self::Datagram>;

    /// asyncio's `create_connection`: connect to `addr`, call `factory` for the protocol,
    /// and return once its `connection_made` has run.
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect); [`ErrorKind::Runtime`] on a closed loop.
    async fn create_connection<P, F>(
        &self,
        factory: F,
        addr: SocketAddr,
    ) -> Result<(Rc<dyn Transport>, Rc<RefCell<P>>)>
    where
        P: Protocol,
        F: FnOnce() -> P,
    {
        let raw = self.connect(addr).await?;
        let protocol = Rc::new(RefCell::new(factory()));
        let transport = StreamTransport::new(
            self.event_loop(),
            raw,
            StreamProtocolRef::plain(protocol.clone()),
        )?;
        let transport: Rc<dyn Transport> = transport;
        let mut guard = CloseOnDrop(Some(transport.clone()));
        after_scheduled(self.event_loop()).await?;
        guard.0 = None;
        Ok((transport, protocol))
    }

    /// [`create_connection`](Self::create_connection) for a [`BufferedProtocol`]: the
    /// transport reads straight into the protocol's buffer.
    ///
    /// # Errors
    ///
    /// As [`create_connection`](Self::create_connection).
    async fn create_buffered_connection<P, F>(
        &self,
        factory: F,
        addr: SocketAddr,
    ) -> Result<(Rc<dyn Transport>, Rc<RefCell<P>>)>
    where
        P: BufferedProtocol,
        F: FnOnce() -> P,
    {
        let raw = self.connect(addr).await?;
        let protocol = Rc::new(RefCell::new(factory()));
        let transport = StreamTransport::new(
            self.event_loop(),
            raw,
            StreamProtocolRef::buffered(protocol.clone()),
        )?;
        let transport: Rc<dyn Transport> = transport;
        let mut guard = CloseOnDrop(Some(transport.clone()));
        after_scheduled(self.event_loop()).await?;
        guard.0 = None;
        Ok((transport, protocol))
    }

    /// asyncio's `create_server`: listen on `addr`; `factory` is called once per accepted
    /// connection.
    ///
    /// # Errors
    ///
    /// As [`listen`](Self::listen).
    async fn create_server<P, F>(
        &self,
        mut factory: F,
        addr: SocketAddr,
        options: ServerOptions,
    ) -> Result<Server>
    where
        P: Protocol,
        F: FnMut() -> P + 'static,
    {
        let listeners = self.listen(addr, &options).await?;
        Server::new(
            self.event_loop(),
            listeners,
            move || StreamProtocolRef::plain(Rc::new(RefCell::new(factory()))),
            &options,
        )
    }

    /// [`create_server`](Self::create_server) for [`BufferedProtocol`]s.
    ///
    /// # Errors
    ///
    /// As [`listen`](Self::listen).
    async fn create_buffered_server<P, F>(
        &self,
        mut factory: F,
        addr: SocketAddr,
        options: ServerOptions,
    ) -> Result<Server>
    where
        P: BufferedProtocol,
        F: FnMut() -> P + 'static,
    {
        let listeners = self.listen(addr, &options).await?;
        Server::new(
            self.event_loop(),
            listeners,
            move || StreamProtocolRef::buffered(Rc::new(RefCell::new(factory()))),
            &options,
        )
    }

    /// asyncio's `create_datagram_endpoint`: bind to `local`, connect to `remote` if
    /// given, and return once the protocol's `connection_made` has run.
    ///
    /// # Errors
    ///
    /// As [`bind_datagram`](Self::bind_datagram).
    async fn create_datagram_endpoint<P, F>(
        &self,
        factory: F,
        local: Option<SocketAddr>,
        remote: Option<SocketAddr>,
    ) -> Result<(Rc<dyn DatagramTransport>, Rc<RefCell<P>>)>
    where
        P: DatagramProtocol,
        F: FnOnce() -> P,
    {
        if local.is_none() && remote.is_none() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "a datagram endpoint needs a local or a remote address",
            ));
        }
        let raw = self.bind_datagram(local, remote).await?;
        let protocol = Rc::new(RefCell::new(factory()));
        let endpoint = DatagramEndpoint::new(self.event_loop(), raw, protocol.clone())?;
        let endpoint: Rc<dyn DatagramTransport> = endpoint;
        let mut guard = CloseOnDrop(Some(endpoint.clone()));
        after_scheduled(self.event_loop()).await?;
        guard.0 = None;
        Ok((endpoint, protocol))
    }
}
