//! Unix-domain stream sockets: asyncio's `create_unix_connection` and
//! `create_unix_server` on the native loop, with filesystem and (Linux) abstract names.

use std::cell::RefCell;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use loop_core::net::{Server, ServerOptions};
use loop_core::transport::StreamProtocolRef;
use loop_core::{Error, ErrorKind, Protocol, Result, Transport};
use socket2::{Domain, SockAddr, Socket, Type};

use crate::NativeLoop;
use crate::net::listener::{NativeListener, SocketFile, listen};
use crate::net::stream::{NativeStream, to_error};
use crate::net::tcp::{adopt_stream, connect_stream};
use crate::net::{attach_stream, invalid, new_socket};

/// Where [`NativeLoop::create_unix_connection`] connects: a path or an existing
/// connected Unix-domain stream socket. A path (`&str`, `&Path`, `PathBuf`, `String`)
/// converts into one.
///
/// A path whose first byte is NUL (`"\0name"`) names a Linux abstract socket.
/// Defaults ([`new`](Self::new)): neither path nor socket.
#[derive(Debug, Default)]
pub struct UnixConnectOptions {
    path: Option<PathBuf>,
    sock: Option<Socket>,
}

impl UnixConnectOptions {
    /// No option set.
    pub fn new() -> Self {
        UnixConnectOptions::default()
    }

    /// The socket path to connect to.
    #[must_use]
    pub fn path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Use this connected Unix-domain stream socket (made non-blocking).
    #[must_use]
    pub fn sock(mut self, sock: impl Into<Socket>) -> Self {
        self.sock = Some(sock.into());
        self
    }
}

/// Where and how [`NativeLoop::create_unix_server`] listens: a path or an existing
/// bound Unix-domain stream socket, plus the server options. A path converts into one.
///
/// For a filesystem path, a stale socket file left there is removed before binding
/// (a file of another type is left alone, and binding then fails), and — with
/// `cleanup_socket`, the default — the file is removed when the server closes, if it
/// is still the one the server created (asyncio 3.13). Defaults ([`new`](Self::new)):
/// no path nor socket, `backlog` 100, `start_serving` on, `cleanup_socket` on.
#[derive(Debug)]
pub struct UnixListenOptions {
    path: Option<PathBuf>,
    sock: Option<Socket>,
    server: ServerOptions,
    cleanup_socket: bool,
}

impl Default for UnixListenOptions {
    fn default() -> Self {
        UnixListenOptions {
            path: None,
            sock: None,
            server: ServerOptions::default(),
            cleanup_socket: true,
        }
    }
}

impl UnixListenOptions {
    /// Asyncio's defaults (see the type's docs).
    pub fn new() -> Self {
        UnixListenOptions::default()
    }

    /// The socket path to listen on.
    #[must_use]
    pub fn path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Serve on this bound Unix-domain stream socket instead (put in listening mode).
    #[must_use]
    pub fn sock(mut self, sock: impl Into<Socket>) -> Self {
        self.sock = Some(sock.into());
        self
    }

    /// `listen()` backlog (default 100).
    #[must_use]
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.server.backlog = backlog;
        self
    }

    /// Start accepting at once (default).
    #[must_use]
    pub fn start_serving(mut self, start: bool) -> Self {
        self.server.start_serving = start;
        self
    }

    /// Remove the socket file when the server closes (default on).
    #[must_use]
    pub fn cleanup_socket(mut self, cleanup: bool) -> Self {
        self.cleanup_socket = cleanup;
        self
    }
}

macro_rules! from_path {
    ($($t:ty),*) => {$(
        impl From<$t> for UnixConnectOptions {
            fn from(path: $t) -> Self {
                UnixConnectOptions::new().path(path)
            }
        }
        impl From<$t> for UnixListenOptions {
            fn from(path: $t) -> Self {
                UnixListenOptions::new().path(path)
            }
        }
    )*};
}

from_path!(&str, String, &Path, PathBuf);

/// Whether `path` names an abstract socket (first byte NUL).
fn is_abstract(path: &Path) -> bool {
    path.as_os_str().as_bytes().first() == Some(&0)
}

fn unix_addr(path: &Path) -> Result<SockAddr> {
    SockAddr::unix(path).map_err(|e| Error::with_source(ErrorKind::InvalidInput, e))
}

fn check_unix_stream(sock: &Socket) -> Result<()> {
    let ok = sock.domain().map_err(to_error)? == Domain::UNIX
        && sock.r#type().map_err(to_error)? == Type::STREAM;
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "a UNIX domain stream socket was expected, got {sock:?}"
        )))
    }
}

/// Remove a socket file left by an earlier server at `path` (asyncio does the same
/// before binding). Anything that is not a socket stays.
fn remove_stale_socket(path: &Path) {
    if let Ok(meta) = std::fs::metadata(path)
        && meta.file_type().is_socket()
    {
        let _ = std::fs::remove_file(path);
    }
}

impl NativeLoop {
    /// Connect to a Unix-domain stream socket and drive the connection with the
    /// protocol `factory` makes (asyncio's `create_unix_connection`); returns once the
    /// protocol's `connection_made` has run.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] for both or neither of path and socket, a socket
    /// that is not a Unix-domain stream socket, or a path too long for a socket
    /// address; the connection's failure (`ConnectionRefused` when nothing listens,
    /// `Io` when the path does not exist, or — with a `WouldBlock` source — when the
    /// listener's backlog is full); [`ErrorKind::Runtime`] on a closed loop.
    pub async fn create_unix_connection<P, F>(
        &self,
        factory: F,
        options: impl Into<UnixConnectOptions>,
    ) -> Result<(Rc<dyn Transport>, Rc<RefCell<P>>)>
    where
        P: Protocol,
        F: FnOnce() -> P,
    {
        let stream = self.open_unix_stream(options.into()).await?;
        attach_stream(self.event_loop(), stream, factory).await
    }

    pub(crate) async fn open_unix_stream(
        &self,
        options: UnixConnectOptions,
    ) -> Result<NativeStream> {
        match (options.path, options.sock) {
            (Some(_), Some(_)) => Err(invalid(
                "path and sock can not be specified at the same time",
            )),
            (None, None) => Err(invalid("no path and sock were specified")),
            (None, Some(sock)) => {
                check_unix_stream(&sock)?;
                adopt_stream(self, sock)
            }
            (Some(path), None) => {
                let addr = unix_addr(&path)?;
                let sock = new_socket(Domain::UNIX, Type::STREAM).map_err(to_error)?;
                connect_stream(self, sock, &addr, true).await
            }
        }
    }

    /// Listen on a Unix-domain stream socket and drive each connection with a protocol
    /// from `factory` (asyncio's `create_unix_server`).
    ///
    /// [`Server::sockets`] is empty for a Unix server (it lists IP addresses); the
    /// accepted transports report the path as `"sockname"`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] for both or neither of path and socket, a socket
    /// that is not a Unix-domain stream socket, or a path too long;
    /// [`ErrorKind::AddrInUse`] if another live socket has the name; the OS error of
    /// binding otherwise; [`ErrorKind::Runtime`] on a closed loop.
    pub async fn create_unix_server<P, F>(
        &self,
        mut factory: F,
        options: impl Into<UnixListenOptions>,
    ) -> Result<Server>
    where
        P: Protocol,
        F: FnMut() -> P + 'static,
    {
        let options = options.into();
        let server_options = options.server.clone();
        let listener = self.open_unix_listener(options)?;
        Server::new(
            self.event_loop(),
            vec![listener],
            move || StreamProtocolRef::plain(Rc::new(RefCell::new(factory()))),
            &server_options,
        )
    }

    pub(crate) fn open_unix_listener(&self, options: UnixListenOptions) -> Result<NativeListener> {
        let UnixListenOptions {
            path,
            sock,
            server,
            cleanup_socket,
        } = options;
        let sock = match (path, sock) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "path and sock can not be specified at the same time",
                ));
            }
            (None, None) => return Err(invalid("path was not specified, and no sock specified")),
            (None, Some(sock)) => {
                check_unix_stream(&sock)?;
                sock
            }
            (Some(path), None) => {
                let addr = unix_addr(&path)?;
                if !is_abstract(&path) {
                    remove_stale_socket(&path);
                }
                let sock = new_socket(Domain::UNIX, Type::STREAM).map_err(to_error)?;
                if let Err(e) = sock.bind(&addr) {
                    if e.kind() == io::ErrorKind::AddrInUse {
                        return Err(Error::from(io::Error::new(
                            io::ErrorKind::AddrInUse,
                            format!("address {path:?} is already in use"),
                        )));
                    }
                    return Err(to_error(e));
                }
                sock
            }
        };
        let cleanup = if cleanup_socket {
            sock.local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(Path::to_path_buf))
                .and_then(SocketFile::identify)
        } else {
            None
        };
        listen(&sock, server.backlog).map_err(to_error)?;
        NativeListener::new(self, sock, cleanup)
    }
}
