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
//! A server that upper-cases lines, and a client, on the simulated network (any
//! [`Net`](crate::net::Net) backend works the same way):
//!
//! ```
//! use std::net::SocketAddr;
//! use loop_core::net::ServerOptions;
//! use loop_core::sim::{SimHost, SimNet};
//! use loop_core::stream::{
//!     ClientConnected, DEFAULT_LIMIT, StreamReader, StreamWriter, open_connection, start_server,
//! };
//! use loop_core::{Error, EventLoop};
//!
//! let host = SimHost::new(1);
//! let lp = EventLoop::new(host.clone());
//! let net = SimNet::new(&lp, &host);
//! let addr: SocketAddr = "127.0.0.1:8888".parse().unwrap();
//!
//! let shout = ClientConnected::task(|reader: StreamReader, writer: StreamWriter| async move {
//!     loop {
//!         let line = reader.readline().await?;
//!         if line.is_empty() {
//!             break; // EOF
//!         }
//!         writer.write(&line.to_ascii_uppercase())?;
//!         writer.drain().await?;
//!     }
//!     writer.close();
//!     Ok::<(), Error>(())
//! });
//!
//! let reply = lp.run_until_complete(async move {
//!     let server = start_server(&net, shout, addr, DEFAULT_LIMIT, ServerOptions::default()).await?;
//!     let (reader, writer) = open_connection(&net, addr, DEFAULT_LIMIT).await?;
//!     writer.write(b"hello\n")?;
//!     writer.write_eof()?;
//!     let reply = reader.read_to_end().await?;
//!     writer.close();
//!     server.close();
//!     Ok::<_, Error>(reply)
//! })??;
//! assert_eq!(reply, b"HELLO\n");
//! # Ok::<(), Error>(())
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
//! - [`open_connection`] and [`start_server`] take the backend ([`Net`](crate::net::Net))
//!   and one address; the reader limit is an explicit argument.
//! - The reader holds no loop; [`StreamReader::new`] takes no arguments.

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
