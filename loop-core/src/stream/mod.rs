//! Streams: asyncio's high-level reader/writer pair over a transport.
//!
//! - [`StreamReader`] buffers what the connection receives and offers `read(n)`,
//!   [`read_to_end`](StreamReader::read_to_end), [`readline`](StreamReader::readline),
//!   [`readuntil`](StreamReader::readuntil) and [`readexactly`](StreamReader::readexactly);
//! - [`StreamWriter`] writes to the transport and paces the producer with
//!   [`drain`](StreamWriter::drain);
//! - [`StreamReaderProtocol`] is the [`Protocol`](crate::Protocol) that joins them to a
//!   transport; on a server it hands each connection's pair to a [`ClientConnected`]
//!   callback.
//!
//! Reads that stop short return the crate's [`Error`](crate::Error) with kind
//! [`IncompleteRead`](crate::ErrorKind::IncompleteRead) or
//! [`LimitOverrun`](crate::ErrorKind::LimitOverrun); the details ([`IncompleteReadError`]
//! with the partial bytes, [`LimitOverrunError`]) are its source, reachable with
//! [`Error::downcast_ref`](crate::Error::downcast_ref).
//!
//! # Examples
//!
//! A protocol and its pair driven by hand (a network backend does the driving in real
//! use):
//!
//! ```
//! use loop_core::{EventLoop, Protocol, sim::SimHost};
//! use loop_core::stream::{StreamReader, StreamReaderProtocol};
//!
//! let lp = EventLoop::new(SimHost::new(7));
//! let reader = StreamReader::new();
//! let mut protocol = StreamReaderProtocol::new(&lp, &reader);
//! protocol.data_received(b"hello\nwor");
//! protocol.data_received(b"ld\n");
//! protocol.eof_received();
//! let lines = lp.run_until_complete(async move {
//!     let mut lines = Vec::new();
//!     loop {
//!         let line = reader.readline().await?;
//!         if line.is_empty() {
//!             break;
//!         }
//!         lines.push(line);
//!     }
//!     Ok::<_, loop_core::Error>(lines)
//! })??;
//! assert_eq!(lines, [b"hello\n".to_vec(), b"world\n".to_vec()]);
//! # Ok::<(), loop_core::Error>(())
//! ```
//!
//! # Differences from asyncio
//!
//! - `read(-1)` is [`read_to_end`](StreamReader::read_to_end); `read(n)` takes a
//!   `usize`.
//! - An error set on the reader also fails a read that was already waiting when data had
//!   arrived just before it (asyncio would keep that read waiting).
//! - The client-connected callback is a [`ClientConnected`], built from a plain or an
//!   async function.

mod buffer;
mod error;
mod net;
mod protocol;
mod reader;
mod writer;

pub use error::{IncompleteReadError, LimitOverrunError};
pub use net::{open_connection, start_server};
pub use protocol::{ClientConnected, ClientOutcome, StreamReaderProtocol};
pub use reader::{DEFAULT_LIMIT, StreamReader};
pub use writer::StreamWriter;
