//! [`NativeListener`]: a listening TCP or Unix-domain socket as the shared machinery's
//! [`RawListener`].

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::rc::Rc;

use loop_core::transport::RawListener;
use loop_core::{Error, ErrorKind, Result, Token};
use socket2::{Domain, SockRef, Socket};

use crate::NativeLoop;
use crate::net::addr::{SockName, std_unix_name};
use crate::net::stream::{NativeStream, to_error};
use crate::selector::Trigger;

enum Listening {
    Tcp(mio::net::TcpListener),
    Unix(mio::net::UnixListener),
}

impl Listening {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Listening::Tcp(l) => l.as_fd(),
            Listening::Unix(l) => l.as_fd(),
        }
    }
}

/// The file a Unix server created, removed when the server closes if it is still the
/// same file (asyncio 3.13's `cleanup_socket`).
#[derive(Debug)]
pub(crate) struct SocketFile {
    pub(crate) path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    /// Identify the socket file at `path` (`None` if it cannot be found).
    pub(crate) fn identify(path: PathBuf) -> Option<SocketFile> {
        let meta = std::fs::metadata(&path).ok()?;
        Some(SocketFile {
            path,
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    /// Remove the file if nobody replaced it since.
    fn remove(&self) {
        if let Ok(meta) = std::fs::metadata(&self.path)
            && meta.dev() == self.dev
            && meta.ino() == self.ino
        {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A listening, non-blocking TCP or Unix-domain socket registered with a [`NativeLoop`]:
/// what a [`Server`](loop_core::net::Server) accepts connections from.
///
/// Registered [level-triggered](crate::Trigger::Level): the server accepts up to its
/// backlog per report and relies on the next report for the rest. Accepted connections
/// are non-blocking from the start (`accept4`), with `TCP_NODELAY` set as asyncio does.
pub struct NativeListener {
    lp: NativeLoop,
    token: Token,
    sock: Option<Listening>,
    local: SockName,
    /// For TCP: whether accepted sockets must ask the OS for their local address (the
    /// listener is bound to a wildcard address).
    ask_local: bool,
    cleanup: Option<SocketFile>,
}

impl fmt::Debug for NativeListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NativeListener")
            .field("token", &self.token)
            .field("fd", &self.sock.as_ref().map(|s| s.as_fd().as_raw_fd()))
            .field("local", &self.local)
            .finish()
    }
}

impl NativeListener {
    /// Take over `sock` (bound and listening, any stream family), make it non-blocking
    /// and register it with `lp`.
    pub(crate) fn new(
        lp: &NativeLoop,
        sock: Socket,
        cleanup: Option<SocketFile>,
    ) -> Result<NativeListener> {
        sock.set_nonblocking(true).map_err(to_error)?;
        let local = SockName::from_result(sock.local_addr());
        let unix = sock.domain().map_err(to_error)? == Domain::UNIX;
        let fd = OwnedFd::from(sock);
        let listening = if unix {
            Listening::Unix(mio::net::UnixListener::from_std(fd.into()))
        } else {
            Listening::Tcp(mio::net::TcpListener::from_std(fd.into()))
        };
        let token = lp.register_fd(listening.as_fd(), Trigger::Level)?;
        let ask_local = local.inet().is_none_or(|a| a.ip().is_unspecified());
        Ok(NativeListener {
            lp: lp.clone(),
            token,
            sock: Some(listening),
            local,
            ask_local,
            cleanup,
        })
    }

    fn accept_tcp(&self, l: &mio::net::TcpListener) -> io::Result<(Socket, SockName, SockName)> {
        let (stream, peer) = l.accept()?;
        let sock = Socket::from(OwnedFd::from(stream));
        // asyncio sets TCP_NODELAY on every TCP transport; a failure only costs latency.
        let _ = sock.set_tcp_nodelay(true);
        let local = if self.ask_local {
            SockName::from_result(sock.local_addr())
        } else {
            self.local.clone()
        };
        Ok((sock, local, SockName::Inet(peer)))
    }

    fn accept_unix(&self, l: &mio::net::UnixListener) -> io::Result<(Socket, SockName, SockName)> {
        let (stream, peer) = l.accept()?;
        let sock = Socket::from(OwnedFd::from(stream));
        let peer = std_unix_name(&peer);
        let peer = if peer.is_empty() {
            SockName::Unix(Rc::from(""))
        } else {
            SockName::Unix(peer.into())
        };
        Ok((sock, self.local.clone(), peer))
    }
}

impl Drop for NativeListener {
    fn drop(&mut self) {
        RawListener::close(self);
    }
}

impl RawListener for NativeListener {
    type Stream = NativeStream;

    fn token(&self) -> Token {
        self.token
    }

    fn try_accept(&mut self) -> Result<NativeStream> {
        let Some(sock) = &self.sock else {
            return Err(Error::new(
                ErrorKind::NotConnected,
                "the listener is closed",
            ));
        };
        let accepted = loop {
            let r = match sock {
                Listening::Tcp(l) => self.accept_tcp(l),
                Listening::Unix(l) => self.accept_unix(l),
            };
            match r {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other,
            }
        };
        let (sock, local, peer) = accepted.map_err(to_error)?;
        let mut stream = NativeStream::register(&self.lp, sock)?;
        stream.set_names(local, peer);
        Ok(stream)
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        self.local.inet()
    }

    fn close(&mut self) {
        if let Some(sock) = self.sock.take() {
            let _ = self.lp.deregister_fd(self.token);
            drop(sock);
            if let Some(file) = self.cleanup.take() {
                file.remove();
            }
        }
    }
}

/// Put `sock` (bound) in listening mode with `backlog`.
pub(crate) fn listen(sock: &Socket, backlog: u32) -> io::Result<()> {
    let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
    SockRef::from(sock).listen(backlog)
}
