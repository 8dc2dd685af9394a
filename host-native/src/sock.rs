//! Low-level socket operations on non-blocking sockets (asyncio's `sock_recv`,
//! `sock_recv_into`, `sock_sendall`, `sock_connect`, `sock_accept`).
//!
//! Each tries the system call first and waits (through a level-triggered reader or
//! writer on the socket, as asyncio does) only when it would block. One operation per
//! direction per socket at a time: a second reader replaces the first one's wait, as in
//! asyncio.

use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd};

use socket2::{SockAddr, SockRef, Socket};

use crate::NativeLoop;
use crate::sys;
use crate::watch::Direction;

/// Whether a failed call means "try again when ready".
fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

fn interrupted(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Interrupted
}

/// `connect(2)` on a non-blocking socket: started, finishes when writable.
fn connect_in_progress(e: &io::Error) -> bool {
    would_block(e) || interrupted(e) || e.raw_os_error() == Some(libc::EINPROGRESS)
}

impl NativeLoop {
    /// In debug mode, refuse blocking sockets, which would block the whole loop (asyncio
    /// checks this in debug mode only, as it costs a system call).
    fn check_nonblocking(&self, sock: &SockRef<'_>) -> io::Result<()> {
        if self.get_debug() && !sock.nonblocking()? {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the socket must be non-blocking",
            ));
        }
        Ok(())
    }

    /// Receive up to `nbytes` bytes from the connected, non-blocking socket `sock`
    /// (asyncio's `sock_recv`). An empty vector means the peer closed its side.
    ///
    /// # Errors
    ///
    /// The socket's error (`ConnectionReset`, …); `InvalidInput` for a blocking socket in
    /// debug mode.
    pub async fn sock_recv(&self, sock: &impl AsFd, nbytes: usize) -> io::Result<Vec<u8>> {
        let s = SockRef::from(sock);
        self.check_nonblocking(&s)?;
        loop {
            match sys::recv_to_vec(&s, nbytes) {
                Err(e) if would_block(&e) => {}
                Err(e) if interrupted(&e) => continue,
                other => return other,
            }
            self.wait_fd(s.as_raw_fd(), Direction::Read).await?;
        }
    }

    /// Receive into `buf` from the connected, non-blocking socket `sock` (asyncio's
    /// `sock_recv_into`); returns how many bytes were written, 0 when the peer closed
    /// its side.
    ///
    /// # Errors
    ///
    /// As [`sock_recv`](Self::sock_recv).
    pub async fn sock_recv_into(&self, sock: &impl AsFd, buf: &mut [u8]) -> io::Result<usize> {
        let s = SockRef::from(sock);
        self.check_nonblocking(&s)?;
        loop {
            match (&*s).read(buf) {
                Err(e) if would_block(&e) => {}
                Err(e) if interrupted(&e) => continue,
                other => return other,
            }
            self.wait_fd(s.as_raw_fd(), Direction::Read).await?;
        }
    }

    /// Send all of `data` on the connected, non-blocking socket `sock` (asyncio's
    /// `sock_sendall`), waiting for the socket to drain as often as needed.
    ///
    /// # Errors
    ///
    /// The socket's error (`BrokenPipe`, `ConnectionReset`, …). As in asyncio there is
    /// then no way to tell how much of `data` the peer received.
    pub async fn sock_sendall(&self, sock: &impl AsFd, data: &[u8]) -> io::Result<()> {
        let s = SockRef::from(sock);
        self.check_nonblocking(&s)?;
        let mut sent = 0;
        while sent < data.len() {
            match s.send_with_flags(&data[sent..], sys::SEND_FLAGS) {
                Ok(n) => {
                    sent += n;
                    continue;
                }
                Err(e) if would_block(&e) => {}
                Err(e) if interrupted(&e) => continue,
                Err(e) => return Err(e),
            }
            self.wait_fd(s.as_raw_fd(), Direction::Write).await?;
        }
        Ok(())
    }

    /// Connect the non-blocking socket `sock` to `address` (asyncio's `sock_connect`).
    /// The address must already be resolved (see [`getaddrinfo`](Self::getaddrinfo)).
    ///
    /// # Errors
    ///
    /// The connection's error: `ConnectionRefused`, `TimedOut`, `HostUnreachable`, ….
    pub async fn sock_connect(
        &self,
        sock: &impl AsFd,
        address: impl Into<SockAddr>,
    ) -> io::Result<()> {
        let s = SockRef::from(sock);
        self.check_nonblocking(&s)?;
        match s.connect(&address.into()) {
            Ok(()) => return Ok(()),
            Err(e) if connect_in_progress(&e) => {}
            Err(e) => return Err(e),
        }
        loop {
            self.wait_fd(s.as_raw_fd(), Direction::Write).await?;
            match s.take_error()? {
                None => return Ok(()),
                Some(e) if connect_in_progress(&e) => {}
                Some(e) => return Err(e),
            }
        }
    }

    /// Accept a connection on the listening, non-blocking socket `sock` (asyncio's
    /// `sock_accept`): the new socket, already non-blocking, and the peer's address.
    ///
    /// # Errors
    ///
    /// The socket's error (`EMFILE` when out of descriptors, …).
    pub async fn sock_accept(&self, sock: &impl AsFd) -> io::Result<(Socket, SockAddr)> {
        let s = SockRef::from(sock);
        self.check_nonblocking(&s)?;
        loop {
            match s.accept() {
                Ok((conn, addr)) => {
                    conn.set_nonblocking(true)?;
                    return Ok((conn, addr));
                }
                Err(e) if would_block(&e) => {}
                Err(e) if interrupted(&e) => continue,
                Err(e) => return Err(e),
            }
            self.wait_fd(s.as_raw_fd(), Direction::Read).await?;
        }
    }
}
