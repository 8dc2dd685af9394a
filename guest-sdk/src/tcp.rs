//! TCP over `wasi:sockets/tcp`: [`GuestStream`] (a connected socket, [`RawStream`]) and
//! [`GuestListener`] (a listening socket, [`RawListener`]).

use alloc::rc::Rc;
use core::fmt;
use core::net::SocketAddr;

use loop_core::transport::{ExtraInfo, RawListener, RawStream};
use loop_core::{Error, ErrorKind, Result, Token};
use wasip2::io::streams::StreamError;
use wasip2::sockets::network::ErrorCode;
use wasip2::sockets::tcp::ShutdownType;

use crate::addr::from_wasi;
use crate::error::socket_error;
use crate::net::NetInner;
use crate::reactor::{Io, StreamIo};
use crate::read_size::ReadSize;

/// A failed stream operation. WASI 0.2 streams report failures as an opaque
/// `wasi:io/error` (`network-error-code`, which would classify it, is not part of the
/// stable interface), so a failure of a connected socket's stream is reported as
/// [`ErrorKind::ConnectionReset`] — its usual cause — with the runtime's description.
fn stream_failure(error: StreamError, op: &str) -> Error {
    match error {
        StreamError::Closed => Error::new(
            ErrorKind::BrokenPipe,
            "the connection is closed for writing",
        ),
        StreamError::LastOperationFailed(e) => Error::new(
            ErrorKind::ConnectionReset,
            format!("{op} failed: {}", e.to_debug_string()),
        ),
    }
}

fn closed() -> Error {
    Error::new(ErrorKind::NotConnected, "the socket is closed")
}

/// A connected TCP socket of a guest: the [`RawStream`] that
/// [`StreamTransport`](loop_core::transport::StreamTransport) drives.
///
/// - reads call `input-stream.read`, asking for a size that adapts to what reads return
///   (see `read_size`), and read again while reads come back full until the buffer is
///   full; an empty result is `WouldBlock`, a closed stream the end of stream;
/// - writes take only what `output-stream.check-write` permits (`WouldBlock` when it
///   permits nothing; the stream's pollable reports when it does again), then `flush`;
///   a vectored write is gathered into one `write`;
/// - [`shutdown_write`](RawStream::shutdown_write) is `shutdown(send)`: the runtime sends
///   what it accepted, then FIN;
/// - closing releases the pollables, the streams and the socket in that order, after the
///   runtime has sent the bytes it accepted (see [`GuestHost`](crate::GuestHost)).
pub struct GuestStream {
    net: Rc<NetInner>,
    token: Token,
    local: SocketAddr,
    peer: SocketAddr,
    closed: bool,
    /// Gathers a vectored write into one `write` call.
    gather: Vec<u8>,
    /// How much to ask of the next read.
    read_size: ReadSize,
    /// A read failure met after some bytes were read: reported by the next read (the
    /// runtime reports a closed stream after a failure, which would read as EOF).
    read_error: Option<Error>,
}

impl fmt::Debug for GuestStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuestStream")
            .field("local", &self.local)
            .field("peer", &self.peer)
            .field("closed", &self.closed)
            .finish()
    }
}

impl GuestStream {
    /// A handle to the stream registered under `token`.
    pub(crate) fn new(
        net: Rc<NetInner>,
        token: Token,
        local: SocketAddr,
        peer: SocketAddr,
    ) -> Self {
        GuestStream {
            net,
            token,
            local,
            peer,
            closed: false,
            gather: Vec::new(),
            read_size: ReadSize::default(),
            read_error: None,
        }
    }

    /// Record the local address once known (after a connect).
    pub(crate) fn set_local(&mut self, local: SocketAddr) {
        self.local = local;
    }

    fn with_stream<R>(&self, f: impl FnOnce(&StreamIo) -> Result<R>) -> Result<R> {
        let reactor = self.net.reactor.borrow();
        match reactor.get(self.token) {
            Some(Io::Stream(s)) => f(s),
            _ => Err(closed()),
        }
    }

    /// How many bytes the output accepts now: `WouldBlock` for none.
    fn permit(s: &StreamIo) -> Result<usize> {
        match s.output.check_write() {
            Ok(0) => Err(Error::from_kind(ErrorKind::WouldBlock)),
            Ok(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
            Err(e) => Err(stream_failure(e, "write")),
        }
    }

    fn write_permitted(s: &StreamIo, data: &[u8]) -> Result<()> {
        s.output
            .write(data)
            .and_then(|()| s.output.flush())
            .map_err(|e| stream_failure(e, "write"))
    }

    fn shut(&mut self) {
        if !self.closed {
            self.closed = true;
            self.net.unregister(self.token);
        }
    }
}

impl Drop for GuestStream {
    fn drop(&mut self) {
        self.shut();
    }
}

impl RawStream for GuestStream {
    fn token(&self) -> Token {
        self.token
    }

    fn try_read(&mut self, buf: &mut [u8]) -> Result<usize> {
        if let Some(e) = self.read_error.take() {
            return Err(e);
        }
        let reactor = self.net.reactor.borrow();
        let Some(Io::Stream(s)) = reactor.get(self.token) else {
            return Err(closed());
        };
        let mut total = 0;
        let mut eof = false;
        while total < buf.len() {
            let asked = self.read_size.request(buf.len() - total);
            match s.input.read(asked as u64) {
                Ok(data) => {
                    // A runtime never returns more than asked; stay safe if one did.
                    let n = data.len().min(asked);
                    buf[total..total + n].copy_from_slice(&data[..n]);
                    total += n;
                    self.read_size.observe(asked, n);
                    if n < asked {
                        break;
                    }
                }
                Err(StreamError::Closed) => {
                    eof = true;
                    break;
                }
                Err(e) if total == 0 => return Err(stream_failure(e, "read")),
                Err(e) => {
                    // Hand over the bytes read first; the runtime reports the stream as
                    // closed from now on, so keep the failure for the next read.
                    self.read_error = Some(stream_failure(e, "read"));
                    break;
                }
            }
        }
        match (total, eof) {
            // The stream stays closed: the next read reports the end.
            (0, false) => Err(Error::from_kind(ErrorKind::WouldBlock)),
            (n, _) => Ok(n),
        }
    }

    fn try_write(&mut self, buf: &[u8]) -> Result<usize> {
        self.with_stream(|s| {
            let n = buf.len().min(Self::permit(s)?);
            Self::write_permitted(s, &buf[..n])?;
            Ok(n)
        })
    }

    fn try_write_vectored(&mut self, bufs: &[&[u8]]) -> Result<usize> {
        let mut gather = core::mem::take(&mut self.gather);
        let written = self.with_stream(|s| {
            let permit = Self::permit(s)?;
            let total: usize = bufs.iter().map(|b| b.len()).sum();
            let n = total.min(permit);
            match bufs.iter().find(|b| !b.is_empty()) {
                None => return Ok(0),
                // The first buffer covers the write: no copy.
                Some(first) if first.len() >= n => Self::write_permitted(s, &first[..n])?,
                Some(_) => {
                    gather.clear();
                    for b in bufs {
                        let take = (n - gather.len()).min(b.len());
                        gather.extend_from_slice(&b[..take]);
                        if gather.len() == n {
                            break;
                        }
                    }
                    Self::write_permitted(s, &gather)?;
                }
            }
            Ok(n)
        });
        self.gather = gather;
        written
    }

    fn shutdown_write(&mut self) -> Result<()> {
        self.with_stream(|s| {
            // Ask for what was written to be sent; the runtime sends FIN after it.
            let _ = s.output.flush();
            s.socket
                .shutdown(ShutdownType::Send)
                .map_err(|c| socket_error(c, || "shut down the write side".into()))
        })
    }

    fn close(&mut self) {
        self.shut();
    }

    fn extra_info(&self, name: &str) -> Option<ExtraInfo> {
        match name {
            "peername" => Some(ExtraInfo::Addr(self.peer)),
            "sockname" => Some(ExtraInfo::Addr(self.local)),
            _ => None,
        }
    }
}

/// A listening TCP socket of a guest: the [`RawListener`] a
/// [`Server`](loop_core::net::Server) drives. Its pollable (`tcp-socket.subscribe`) is
/// ready while a connection waits to be accepted.
pub struct GuestListener {
    net: Rc<NetInner>,
    token: Token,
    addr: SocketAddr,
    closed: bool,
}

impl fmt::Debug for GuestListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuestListener")
            .field("addr", &self.addr)
            .field("closed", &self.closed)
            .finish()
    }
}

impl GuestListener {
    /// A handle to the socket registered under `token`.
    pub(crate) fn new(net: Rc<NetInner>, token: Token, addr: SocketAddr) -> Self {
        GuestListener {
            net,
            token,
            addr,
            closed: false,
        }
    }

    /// Record the bound address once known.
    pub(crate) fn set_addr(&mut self, addr: SocketAddr) {
        self.addr = addr;
    }

    fn shut(&mut self) {
        if !self.closed {
            self.closed = true;
            self.net.unregister(self.token);
        }
    }
}

impl Drop for GuestListener {
    fn drop(&mut self) {
        self.shut();
    }
}

impl RawListener for GuestListener {
    type Stream = GuestStream;

    fn token(&self) -> Token {
        self.token
    }

    fn try_accept(&mut self) -> Result<GuestStream> {
        let accepted = {
            let reactor = self.net.reactor.borrow();
            let Some(Io::Socket(s)) = reactor.get(self.token) else {
                return Err(Error::new(
                    ErrorKind::NotConnected,
                    "the listener is closed",
                ));
            };
            s.socket.accept()
        };
        let (socket, input, output) = match accepted {
            Ok(parts) => parts,
            // A runtime that refuses a peer has already dropped its connection: for the
            // server it went away before being accepted (wasmtime skips such peers).
            Err(ErrorCode::AccessDenied) => {
                return Err(Error::new(
                    ErrorKind::ConnectionAborted,
                    "the runtime refused the peer",
                ));
            }
            Err(code) => return Err(socket_error(code, || format!("accept on {}", self.addr))),
        };
        let io = StreamIo {
            readable: input.subscribe(),
            writable: output.subscribe(),
            input,
            output,
            socket,
        };
        let addrs = io.socket.local_address().and_then(|local| {
            io.socket
                .remote_address()
                .map(|peer| (from_wasi(local), from_wasi(peer)))
        });
        let Ok((local, peer)) = addrs else {
            // The peer is gone already (its address is unknown once reset).
            drop(io);
            return Err(Error::new(
                ErrorKind::ConnectionAborted,
                "the connection closed before it was accepted",
            ));
        };
        let token = self.net.register(Io::Stream(io));
        Ok(GuestStream::new(self.net.clone(), token, local, peer))
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        Some(self.addr)
    }

    fn close(&mut self) {
        self.shut();
    }
}
