//! [`NativeStream`]: a connected TCP or Unix-domain stream socket as the shared
//! machinery's [`RawStream`].

use std::fmt;
use std::io::{self, IoSlice, Read};
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd};

use loop_core::transport::RawStream;
use loop_core::{Error, ErrorKind, ExtraInfo, Result, Token};
use socket2::Socket;

use crate::NativeLoop;
use crate::net::addr::SockName;
use crate::net::extra;
use crate::selector::Trigger;
use crate::sys::SEND_FLAGS;

/// Most buffers one vectored write hands to the OS (the rest waits for the next write;
/// the slices live on the stack, so a `writelines` never allocates for them).
const MAX_IOV: usize = 64;

/// A connected, non-blocking stream socket (TCP or Unix-domain) registered with a
/// [`NativeLoop`]: the raw channel a [`StreamTransport`](loop_core::transport::StreamTransport)
/// drives. Obtained from [`Net::connect`](loop_core::net::Net::connect) or a server;
/// most programs only see the transport built on it.
///
/// # Readiness
///
/// The socket is registered [edge-triggered](crate::Trigger::Edge) and keeps the
/// machinery's level-triggered contract itself: a read that fills the whole buffer (more
/// may be waiting) queues a re-arm, and the next read that comes back short or would
/// block withdraws it without a system call. A short read proves the socket drained, and
/// a partial write proves the send buffer full: the kernel reports new data, or freed
/// space, as a new edge. So the echo path costs one `recv` and one `send` per message
/// and no `epoll_ctl`.
///
/// # Extra information
///
/// | key | value |
/// | --- | --- |
/// | `"peername"` | [`ExtraInfo::Addr`] (TCP) or [`ExtraInfo::Text`] (Unix path; `"\0name"` for an abstract name; `""` when unnamed) |
/// | `"sockname"` | as `"peername"`, for this end |
/// | `"socket"` | [`ExtraInfo::Int`]: the file descriptor, until the transport is closed |
pub struct NativeStream {
    lp: NativeLoop,
    token: Token,
    sock: Option<Socket>,
    local: SockName,
    peer: SockName,
    /// A re-arm of `token` may be queued by this stream (a hint: the selector's record
    /// is the truth, so a stale `true` only costs a no-op withdrawal).
    rearm_queued: bool,
}

impl fmt::Debug for NativeStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NativeStream")
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

impl NativeStream {
    /// Register `sock` (non-blocking; connected, or connecting) with `lp`. The names are
    /// filled in later with [`set_names`](Self::set_names).
    pub(crate) fn register(lp: &NativeLoop, sock: Socket) -> Result<NativeStream> {
        let token = lp.register_fd(sock.as_fd(), Trigger::Edge)?;
        Ok(NativeStream {
            lp: lp.clone(),
            token,
            sock: Some(sock),
            local: SockName::Unknown,
            peer: SockName::Unknown,
            rearm_queued: false,
        })
    }

    pub(crate) fn set_names(&mut self, local: SockName, peer: SockName) {
        self.local = local;
        self.peer = peer;
    }

    /// The socket (until closed).
    pub(crate) fn socket(&self) -> Option<&Socket> {
        self.sock.as_ref()
    }

    /// The peer's address, for IP sockets.
    pub fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        self.peer.inet()
    }

    /// This end's address, for IP sockets.
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.local.inet()
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

    fn release(&mut self) {
        if let Some(sock) = self.sock.take() {
            // Forget the descriptor before closing it, so that the number, once
            // reused, is never mistaken for this registration.
            let _ = self.lp.deregister_fd(self.token);
            drop(sock);
        }
    }
}

impl Drop for NativeStream {
    fn drop(&mut self) {
        self.release();
    }
}

/// `io::Error` to the loop's error, keeping `WouldBlock` allocation-free.
#[inline]
pub(crate) fn to_error(e: io::Error) -> Error {
    Error::from(e)
}

impl RawStream for NativeStream {
    fn token(&self) -> Token {
        self.token
    }

    #[inline]
    fn try_read(&mut self, buf: &mut [u8]) -> Result<usize> {
        let Some(sock) = &self.sock else {
            return Err(closed_error());
        };
        loop {
            let mut s: &Socket = sock;
            match s.read(buf) {
                Ok(n) => {
                    if n == buf.len() {
                        self.more_may_wait();
                    } else {
                        // Short (or end of stream): the socket is drained.
                        self.drained();
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.drained();
                    return Err(Error::from_kind(ErrorKind::WouldBlock));
                }
                Err(e) => return Err(to_error(e)),
            }
        }
    }

    #[inline]
    fn try_write(&mut self, buf: &[u8]) -> Result<usize> {
        let Some(sock) = &self.sock else {
            return Err(closed_error());
        };
        loop {
            match sock.send_with_flags(buf, SEND_FLAGS) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(to_error(e)),
            }
        }
    }

    fn try_write_vectored(&mut self, bufs: &[&[u8]]) -> Result<usize> {
        let Some(sock) = &self.sock else {
            return Err(closed_error());
        };
        let mut iov = [IoSlice::new(&[]); MAX_IOV];
        let mut count = 0;
        for b in bufs.iter().filter(|b| !b.is_empty()).take(MAX_IOV) {
            iov[count] = IoSlice::new(b);
            count += 1;
        }
        if count == 0 {
            return Ok(0);
        }
        loop {
            match sock.send_vectored_with_flags(&iov[..count], SEND_FLAGS) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(to_error(e)),
            }
        }
    }

    fn shutdown_write(&mut self) -> Result<()> {
        let Some(sock) = &self.sock else {
            return Err(closed_error());
        };
        sock.shutdown(Shutdown::Write).map_err(to_error)
    }

    fn close(&mut self) {
        self.release();
    }

    fn extra_info(&self, name: &str) -> Option<ExtraInfo> {
        match name {
            extra::PEERNAME => self.peer.extra(),
            extra::SOCKNAME => self.local.extra(),
            extra::SOCKET => self
                .sock
                .as_ref()
                .map(|s| ExtraInfo::Int(i64::from(s.as_raw_fd()))),
            _ => None,
        }
    }
}
