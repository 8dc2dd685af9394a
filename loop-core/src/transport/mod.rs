//! Transports: what a protocol can ask of the channel that drives it, and the shared
//! machinery every backend reuses to provide it.
//!
//! Transports are handles (`Rc<dyn Transport>`) with interior mutability: a protocol keeps
//! the one it got in `connection_made` and calls it from any callback.
//!
//! # For backend implementers
//!
//! A backend (the native host, the WASI guest, the simulated network) supplies only raw,
//! non-blocking I/O objects — [`RawStream`], [`RawListener`], [`RawDatagram`] — and
//! reports their readiness from [`Host::poll`](crate::Host::poll) under the [`Token`]
//! each object registered with [`EventLoop::register_io`](crate::EventLoop::register_io).
//! Everything else — buffering, the write fast path, flow control, the connection state
//! machine, protocol dispatch, servers — is [`StreamTransport`], [`DatagramEndpoint`] and
//! [`Server`](crate::net::Server), identical on every backend.
//!
//! Readiness MUST be level-triggered: while a registration has interest, every poll
//! reports it ready as long as the operation would not block (data, EOF or an error is
//! pending for reading; buffer space or an error for writing). The machinery stops
//! reading after a bounded amount per callback and relies on the next poll to continue.
//!
//! [`Token`]: crate::Token

use alloc::string::String;
use core::net::SocketAddr;

use crate::error::Result;

mod backend;
mod datagram;
mod flow;
mod notice;
mod readiness;
mod stream;
mod write_buffer;

pub use backend::{RawDatagram, RawListener, RawStream};
pub use datagram::DatagramEndpoint;
pub use flow::WriteFlow;
pub use readiness::wait_ready;
pub use stream::{StreamProtocolRef, StreamTransport};

/// Most bytes a stream transport reads in one reader callback before letting other
/// callbacks run (it continues on the next iteration: readiness is level-triggered).
pub const READ_BUDGET: usize = 1024 * 1024;

/// Most datagrams a datagram endpoint receives in one reader callback.
pub const DATAGRAM_BUDGET: usize = 16;

/// asyncio's default high-water mark for write buffers (64 KiB).
pub const DEFAULT_HIGH_WATER: usize = 64 * 1024;

/// The low-water mark used when only the high one is given: a quarter of it.
pub const fn default_low_water(high: usize) -> usize {
    high / 4
}

/// A value from [`BaseTransport::get_extra_info`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExtraInfo {
    /// A socket address (`"peername"`, `"sockname"`).
    Addr(SocketAddr),
    /// A textual value (a Unix socket path, a TLS cipher name, …).
    Text(String),
    /// A number (a file descriptor, a process id, …).
    Int(i64),
}

/// Methods common to all transports.
pub trait BaseTransport {
    /// Close: flush buffered data, then call the protocol's `connection_lost(None)`.
    /// No more data is received. Closing twice does nothing.
    fn close(&self);

    /// Whether the transport is closing or closed.
    fn is_closing(&self) -> bool;

    /// Optional information about the channel: `"peername"` and `"sockname"` on sockets,
    /// plus backend-specific keys documented by each backend.
    fn get_extra_info(&self, name: &str) -> Option<ExtraInfo>;
}

/// A bidirectional streaming transport.
pub trait Transport: BaseTransport {
    /// Queue `data` for sending. Tries the channel at once when nothing is buffered and
    /// buffers only the rest. An empty write does nothing.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`](crate::ErrorKind::Runtime) after `close`, `abort` or
    /// `write_eof`, or once the connection is lost.
    fn write(&self, data: &[u8]) -> Result<()>;

    /// Write several buffers, as one vectored write where the channel allows it.
    ///
    /// # Errors
    ///
    /// As [`write`](Self::write).
    fn writelines(&self, data: &[&[u8]]) -> Result<()>;

    /// Close the write side after flushing the buffer; data may still be received.
    /// Calling it again does nothing.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`](crate::ErrorKind::Runtime) if the transport is closing;
    /// [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported) if it cannot half-close
    /// (see [`can_write_eof`](Self::can_write_eof)).
    fn write_eof(&self) -> Result<()>;

    /// Whether [`write_eof`](Self::write_eof) is supported.
    fn can_write_eof(&self) -> bool;

    /// Close at once: drop the buffer, then call `connection_lost(None)`.
    fn abort(&self);

    /// Stop calling `data_received` until [`resume_reading`](Self::resume_reading).
    fn pause_reading(&self);

    /// Resume calling `data_received` (at once if data is waiting).
    fn resume_reading(&self);

    /// Whether the transport is reading (not paused, not closing).
    fn is_reading(&self) -> bool;

    /// Set the write-buffer marks. `high` defaults to 64 KiB (or `4 * low` when only `low`
    /// is given); `low` to `high / 4`. Setting them may call `pause_writing` /
    /// `resume_writing` at once.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) if `low > high`.
    fn set_write_buffer_limits(&self, high: Option<usize>, low: Option<usize>) -> Result<()>;

    /// The `(low, high)` marks.
    fn get_write_buffer_limits(&self) -> (usize, usize);

    /// Bytes buffered and not yet handed to the channel.
    fn get_write_buffer_size(&self) -> usize;
}

/// A datagram transport.
pub trait DatagramTransport: BaseTransport {
    /// Send one datagram to `addr`, or to the endpoint's connected peer when `None`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for a missing address
    /// on an unconnected endpoint or a different one on a connected endpoint;
    /// [`ErrorKind::Runtime`](crate::ErrorKind::Runtime) once closing.
    fn sendto(&self, data: &[u8], addr: Option<SocketAddr>) -> Result<()>;

    /// Close at once, dropping queued datagrams; `connection_lost(None)` follows.
    fn abort(&self);

    /// Bytes of datagrams queued and not yet sent, plus a per-datagram header allowance
    /// (asyncio counts 8 bytes per queued datagram).
    fn get_write_buffer_size(&self) -> usize;

    /// Set the send-queue marks, as [`Transport::set_write_buffer_limits`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) if `low > high`.
    fn set_write_buffer_limits(&self, high: Option<usize>, low: Option<usize>) -> Result<()>;

    /// The `(low, high)` marks of the send queue.
    fn get_write_buffer_limits(&self) -> (usize, usize);
}

/// A transport for a child process.
pub trait SubprocessTransport: BaseTransport {
    /// The child's process id.
    fn get_pid(&self) -> u32;

    /// The exit code, `None` while the child runs (negative: killed by that signal).
    fn get_returncode(&self) -> Option<i32>;

    /// The pipe transport for `fd` (0 = stdin, 1 = stdout, 2 = stderr), if piped.
    fn get_pipe_transport(&self, fd: i32) -> Option<alloc::rc::Rc<dyn Transport>>;

    /// Send signal number `signal` to the child.
    ///
    /// # Errors
    ///
    /// The OS error (the child is gone, the signal is invalid).
    fn send_signal(&self, signal: i32) -> Result<()>;

    /// Ask the child to stop (SIGTERM on POSIX).
    ///
    /// # Errors
    ///
    /// As [`send_signal`](Self::send_signal).
    fn terminate(&self) -> Result<()>;

    /// Kill the child (SIGKILL on POSIX).
    ///
    /// # Errors
    ///
    /// As [`send_signal`](Self::send_signal).
    fn kill(&self) -> Result<()>;
}
