//! Protocol callback traits: what a transport calls on the protocol it drives.
//!
//! Every method has an empty default, so a protocol implements only the events it cares
//! about. The order is fixed by the shared transport machinery
//! ([`transport`](crate::transport)): `connection_made` exactly once first,
//! `connection_lost` exactly once last, `data_received` never after `eof_received`, and
//! `pause_writing` / `resume_writing` always paired.
//!
//! Callbacks take `&mut self` and may call back into the transport (write from
//! `data_received`, close from `eof_received`, …). A flow-control notification caused by
//! such a call (`pause_writing` from a `write` inside `data_received`) is delivered as
//! soon as the running callback returns, never re-entrantly.

use alloc::rc::Rc;
use core::net::SocketAddr;

use crate::error::Error;
use crate::transport::{DatagramTransport, SubprocessTransport, Transport};

/// A streaming protocol (TCP, Unix sockets, pipes, TLS).
pub trait Protocol: 'static {
    /// The connection is established; keep `transport` to write and close.
    fn connection_made(&mut self, transport: Rc<dyn Transport>) {
        let _ = transport;
    }

    /// Some bytes arrived (never empty; any split of the peer's writes is possible).
    fn data_received(&mut self, data: &[u8]) {
        let _ = data;
    }

    /// The peer will send no more. Return `true` to keep the connection half-open
    /// (closing is then up to the protocol); `false` (the default) closes the transport.
    fn eof_received(&mut self) -> bool {
        false
    }

    /// The connection is closed: `None` after a clean close, EOF or abort by this side,
    /// `Some(error)` when it failed (a reset by the peer, an I/O error).
    fn connection_lost(&mut self, error: Option<Error>) {
        let _ = error;
    }

    /// The transport's write buffer went strictly above the high-water mark.
    fn pause_writing(&mut self) {}

    /// The transport's write buffer drained to the low-water mark or below.
    fn resume_writing(&mut self) {}
}

/// A streaming protocol that hands the transport its own buffer to read into (asyncio's
/// `BufferedProtocol`), avoiding a copy per read.
pub trait BufferedProtocol: 'static {
    /// As [`Protocol::connection_made`].
    fn connection_made(&mut self, transport: Rc<dyn Transport>) {
        let _ = transport;
    }

    /// A buffer to read into. `size_hint` is the amount the transport would like (0 when
    /// it has no preference). MUST return a non-empty buffer.
    fn get_buffer(&mut self, size_hint: usize) -> &mut [u8];

    /// `nbytes` bytes were written at the start of the last buffer returned by
    /// [`get_buffer`](Self::get_buffer).
    fn buffer_updated(&mut self, nbytes: usize);

    /// As [`Protocol::eof_received`].
    fn eof_received(&mut self) -> bool {
        false
    }

    /// As [`Protocol::connection_lost`].
    fn connection_lost(&mut self, error: Option<Error>) {
        let _ = error;
    }

    /// As [`Protocol::pause_writing`].
    fn pause_writing(&mut self) {}

    /// As [`Protocol::resume_writing`].
    fn resume_writing(&mut self) {}
}

/// A datagram protocol (UDP).
pub trait DatagramProtocol: 'static {
    /// The endpoint is ready.
    fn connection_made(&mut self, transport: Rc<dyn DatagramTransport>) {
        let _ = transport;
    }

    /// A datagram arrived from `addr`.
    fn datagram_received(&mut self, data: &[u8], addr: SocketAddr) {
        let _ = (data, addr);
    }

    /// A previous send or receive failed (for example, the peer is unreachable).
    fn error_received(&mut self, error: Error) {
        let _ = error;
    }

    /// The endpoint is closed.
    fn connection_lost(&mut self, error: Option<Error>) {
        let _ = error;
    }

    /// The send buffer went strictly above the high-water mark.
    fn pause_writing(&mut self) {}

    /// The send buffer drained to the low-water mark or below.
    fn resume_writing(&mut self) {}
}

/// A protocol talking to a child process through its pipes.
pub trait SubprocessProtocol: 'static {
    /// The process started.
    fn connection_made(&mut self, transport: Rc<dyn SubprocessTransport>) {
        let _ = transport;
    }

    /// The child wrote `data` (never empty) to its pipe `fd` (1 = stdout, 2 = stderr).
    fn pipe_data_received(&mut self, fd: i32, data: &[u8]) {
        let _ = (fd, data);
    }

    /// The pipe `fd` was closed, with the error if it failed.
    fn pipe_connection_lost(&mut self, fd: i32, error: Option<Error>) {
        let _ = (fd, error);
    }

    /// The child exited.
    fn process_exited(&mut self) {}

    /// All pipes are closed and the child has exited.
    fn connection_lost(&mut self, error: Option<Error>) {
        let _ = error;
    }

    /// The stdin buffer went strictly above the high-water mark.
    fn pause_writing(&mut self) {}

    /// The stdin buffer drained to the low-water mark or below.
    fn resume_writing(&mut self) {}
}
