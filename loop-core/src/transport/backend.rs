//! What a backend supplies: raw, non-blocking I/O objects.
//!
//! Each object owns one loop [`Token`] (from
//! [`EventLoop::register_io`](crate::EventLoop::register_io)) and its host reports the
//! object's readiness under it, **level-triggered** (see the [module docs](super)). The
//! machinery attaches and detaches reader / writer callbacks on that token; the object
//! itself never calls a protocol.
//!
//! Result conventions, as `std::io` on a non-blocking socket:
//! - `Err(e)` with [`ErrorKind::WouldBlock`](crate::ErrorKind::WouldBlock): not now, wait
//!   for readiness (never reported as a failure);
//! - any other `Err`: the operation failed (use the portable kinds —
//!   `ConnectionReset`, `BrokenPipe`, `ConnectionRefused`, … — so traces match across
//!   backends); interrupted system calls are retried inside the backend;
//! - reads return `Ok(0)` only at end of stream; writes of a non-empty buffer return
//!   `Ok(n)` with `n > 0` or an error.

use core::net::SocketAddr;

use crate::error::Result;
use crate::host::Token;
use crate::transport::ExtraInfo;

/// A connected byte stream (TCP socket, Unix socket, pipe, in-memory link), driven by
/// [`StreamTransport`](super::StreamTransport).
pub trait RawStream: 'static {
    /// The token this object's readiness is reported under.
    fn token(&self) -> Token;

    /// Read into `buf` (never empty). `Ok(0)`: the peer will send no more.
    ///
    /// # Errors
    ///
    /// `WouldBlock` when nothing is available; a reset or I/O failure otherwise.
    fn try_read(&mut self, buf: &mut [u8]) -> Result<usize>;

    /// Write a prefix of `buf` (never empty); returns how much was taken.
    ///
    /// # Errors
    ///
    /// `WouldBlock` when the channel cannot take anything now; a reset, broken pipe or
    /// I/O failure otherwise.
    fn try_write(&mut self, buf: &[u8]) -> Result<usize>;

    /// Write a prefix of the concatenation of `bufs` (at least one non-empty) in one
    /// operation where the channel allows it (`writev`); returns how much was taken.
    /// The default writes the first non-empty buffer only.
    ///
    /// # Errors
    ///
    /// As [`try_write`](Self::try_write).
    fn try_write_vectored(&mut self, bufs: &[&[u8]]) -> Result<usize> {
        match bufs.iter().find(|b| !b.is_empty()) {
            Some(b) => self.try_write(b),
            None => Ok(0),
        }
    }

    /// Close the write direction (the peer reads EOF); reading continues.
    ///
    /// # Errors
    ///
    /// The channel failed, or cannot half-close
    /// ([`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported)).
    fn shutdown_write(&mut self) -> Result<()>;

    /// Whether [`shutdown_write`](Self::shutdown_write) is supported (default `true`).
    fn can_write_eof(&self) -> bool {
        true
    }

    /// Release the channel: close the socket, drop the host's registration and
    /// [`deregister_io`](crate::EventLoop::deregister_io) the token. Called exactly once,
    /// after the protocol's `connection_lost`; nothing else is called afterwards except
    /// [`extra_info`](Self::extra_info) (so cache addresses at creation). A backend
    /// SHOULD also release in `Drop` when the object was never handed to a transport.
    fn close(&mut self);

    /// Transport information: `"peername"` and `"sockname"` for sockets, plus any
    /// backend-specific keys.
    fn extra_info(&self, name: &str) -> Option<ExtraInfo>;
}

/// A listening socket, driven by [`Server`](crate::net::Server).
pub trait RawListener: 'static {
    /// The streams it accepts.
    type Stream: RawStream;

    /// The token this listener's readiness is reported under (readable = a connection
    /// can be accepted).
    fn token(&self) -> Token;

    /// Accept one pending connection, already registered with the loop under its own
    /// token.
    ///
    /// # Errors
    ///
    /// `WouldBlock` when none is pending; `ConnectionAborted` for a connection that went
    /// away before it was accepted (the server just continues); anything else (out of
    /// file descriptors, …) makes the server pause accepting for a second, as asyncio
    /// does.
    fn try_accept(&mut self) -> Result<Self::Stream>;

    /// The address it listens on; `None` for a listener that has no IP socket address
    /// (a Unix-domain socket, whose path the backend reports its own way).
    fn local_addr(&self) -> Option<SocketAddr>;

    /// Stop listening and release the socket and the token (as
    /// [`RawStream::close`]). Connections not accepted yet are dropped.
    fn close(&mut self);
}

/// A datagram socket, driven by [`DatagramEndpoint`](super::DatagramEndpoint).
pub trait RawDatagram: 'static {
    /// The token this socket's readiness is reported under.
    fn token(&self) -> Token;

    /// Send one datagram to `addr`, or to the connected peer when `addr` is `None` (only
    /// then: the machinery validates addresses first). Returns the bytes sent.
    ///
    /// # Errors
    ///
    /// `WouldBlock` when the send buffer is full; a failure otherwise (reported to the
    /// protocol's `error_received`).
    fn try_send_to(&mut self, data: &[u8], addr: Option<SocketAddr>) -> Result<usize>;

    /// Receive one datagram into `buf` (truncated to its size): its length and sender.
    ///
    /// # Errors
    ///
    /// `WouldBlock` when none is waiting; a pending socket error otherwise (such as
    /// `ConnectionRefused` after an ICMP port-unreachable on a connected socket), which is
    /// reported to `error_received`.
    fn try_recv_from(&mut self, buf: &mut [u8]) -> Result<(usize, SocketAddr)>;

    /// The peer this socket is connected to, if any.
    fn peer_addr(&self) -> Option<SocketAddr>;

    /// Release the socket and the token (as [`RawStream::close`]).
    fn close(&mut self);

    /// Transport information: `"sockname"`, `"peername"` (connected sockets only), plus
    /// backend-specific keys.
    fn extra_info(&self, name: &str) -> Option<ExtraInfo>;
}
