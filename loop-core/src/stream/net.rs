//! [`open_connection`] and [`start_server`]: streams over any [`Net`] backend.

use core::net::SocketAddr;

use super::protocol::{ClientConnected, StreamReaderProtocol};
use super::reader::StreamReader;
use super::writer::StreamWriter;
use crate::error::Result;
use crate::net::{Net, Server, ServerOptions};

/// Connect to `addr` and return the stream pair (asyncio's `open_connection`). `limit` is
/// the reader's buffer limit ([`DEFAULT_LIMIT`](super::DEFAULT_LIMIT) in asyncio).
///
/// # Errors
///
/// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for a zero `limit`; the
/// connection's failure ([`Net::create_connection`]).
///
/// # Examples
///
/// See the [module documentation](super).
pub async fn open_connection<N: Net>(
    net: &N,
    addr: SocketAddr,
    limit: usize,
) -> Result<(StreamReader, StreamWriter)> {
    let reader = StreamReader::with_limit(limit)?;
    let lp = net.event_loop().clone();
    let (transport, protocol) = net
        .create_connection(|| StreamReaderProtocol::new(&lp, &reader), addr)
        .await?;
    let writer = StreamWriter::new(transport, &protocol.borrow(), Some(reader.clone()));
    Ok((reader, writer))
}

/// Listen on `addr` and call `client_connected` with a stream pair for each accepted
/// connection (asyncio's `start_server`). `limit` is each reader's buffer limit
/// ([`DEFAULT_LIMIT`](super::DEFAULT_LIMIT) in asyncio).
///
/// # Errors
///
/// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for a zero `limit`; the
/// listening failure ([`Net::create_server`]).
///
/// # Examples
///
/// See the [module documentation](super).
pub async fn start_server<N: Net>(
    net: &N,
    client_connected: ClientConnected,
    addr: SocketAddr,
    limit: usize,
    options: ServerOptions,
) -> Result<Server> {
    // Check the limit once, before any connection exists.
    StreamReader::with_limit(limit)?;
    let lp = net.event_loop().clone();
    net.create_server(
        move || {
            StreamReaderProtocol::with_client_connected(
                &lp,
                StreamReader::with_valid_limit(limit),
                client_connected.clone(),
            )
        },
        addr,
        options,
    )
    .await
}
