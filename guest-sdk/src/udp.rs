//! UDP over `wasi:sockets/udp`: [`GuestDatagram`] ([`RawDatagram`]).

use alloc::rc::Rc;
use core::fmt;
use core::net::SocketAddr;

use loop_core::transport::{ExtraInfo, RawDatagram};
use loop_core::{Error, ErrorKind, Result, Token};
use wasip2::sockets::udp::OutgoingDatagram;

use crate::addr::{from_wasi, to_wasi};
use crate::error::socket_error;
use crate::net::NetInner;
use crate::reactor::{DatagramIo, Io};

/// A bound UDP socket of a guest: the [`RawDatagram`] a
/// [`DatagramEndpoint`](loop_core::transport::DatagramEndpoint) drives.
///
/// Sending asks `outgoing-datagram-stream.check-send` for a permit first (`WouldBlock`
/// without one; the stream's pollable reports when one is available) and sends one
/// datagram per call; receiving takes one datagram per call from the incoming stream,
/// truncated to the buffer. A connected socket (a remote address given to
/// [`GuestNet::bind_datagram`](loop_core::net::Net::bind_datagram)) sends only to, and
/// receives only from, its peer.
pub struct GuestDatagram {
    net: Rc<NetInner>,
    token: Token,
    local: SocketAddr,
    remote: Option<SocketAddr>,
    closed: bool,
}

impl fmt::Debug for GuestDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuestDatagram")
            .field("local", &self.local)
            .field("remote", &self.remote)
            .field("closed", &self.closed)
            .finish()
    }
}

impl GuestDatagram {
    /// A handle to the socket registered under `token`.
    pub(crate) fn new(
        net: Rc<NetInner>,
        token: Token,
        local: SocketAddr,
        remote: Option<SocketAddr>,
    ) -> Self {
        GuestDatagram {
            net,
            token,
            local,
            remote,
            closed: false,
        }
    }

    /// Record the bound address once known.
    pub(crate) fn set_local(&mut self, local: SocketAddr) {
        self.local = local;
    }

    fn with_io<R>(&self, f: impl FnOnce(&DatagramIo) -> Result<R>) -> Result<R> {
        let reactor = self.net.reactor.borrow();
        match reactor.get(self.token) {
            Some(Io::Datagram(s)) => f(s),
            _ => Err(Error::new(ErrorKind::NotConnected, "the socket is closed")),
        }
    }

    fn shut(&mut self) {
        if !self.closed {
            self.closed = true;
            self.net.unregister(self.token);
        }
    }
}

impl Drop for GuestDatagram {
    fn drop(&mut self) {
        self.shut();
    }
}

impl RawDatagram for GuestDatagram {
    fn token(&self) -> Token {
        self.token
    }

    fn try_send_to(&mut self, data: &[u8], addr: Option<SocketAddr>) -> Result<usize> {
        let Some(dst) = addr.or(self.remote) else {
            return Err(Error::new(
                ErrorKind::NotConnected,
                "no destination for an unconnected socket",
            ));
        };
        let what = || format!("send a datagram to {dst}");
        self.with_io(|s| {
            match s.outgoing.check_send() {
                Ok(0) => return Err(Error::from_kind(ErrorKind::WouldBlock)),
                Ok(_) => {}
                Err(code) => return Err(socket_error(code, what)),
            }
            let datagram = OutgoingDatagram {
                data: data.to_vec(),
                // A connected socket sends to its peer without naming it.
                remote_address: addr.map(to_wasi),
            };
            match s.outgoing.send(core::slice::from_ref(&datagram)) {
                Ok(0) => Err(Error::from_kind(ErrorKind::WouldBlock)),
                Ok(_) => Ok(data.len()),
                Err(code) => Err(socket_error(code, what)),
            }
        })
    }

    fn try_recv_from(&mut self, buf: &mut [u8]) -> Result<(usize, SocketAddr)> {
        self.with_io(|s| match s.incoming.receive(1) {
            Ok(mut received) => {
                let Some(datagram) = received.pop() else {
                    return Err(Error::from_kind(ErrorKind::WouldBlock));
                };
                let n = datagram.data.len().min(buf.len());
                buf[..n].copy_from_slice(&datagram.data[..n]);
                Ok((n, from_wasi(datagram.remote_address)))
            }
            Err(code) => Err(socket_error(code, || "receive a datagram".into())),
        })
    }

    fn peer_addr(&self) -> Option<SocketAddr> {
        self.remote
    }

    fn close(&mut self) {
        self.shut();
    }

    fn extra_info(&self, name: &str) -> Option<ExtraInfo> {
        match name {
            "sockname" => Some(ExtraInfo::Addr(self.local)),
            "peername" => self.remote.map(ExtraInfo::Addr),
            _ => None,
        }
    }
}
