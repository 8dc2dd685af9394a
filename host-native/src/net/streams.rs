//! Streams on the native loop: asyncio's `open_connection`, `start_server`,
//! `open_unix_connection` and `start_unix_server`, with the options of the
//! `create_*` methods they build on. The reader / writer pair itself is loop-core's
//! ([`StreamReader`], [`StreamWriter`]).

use loop_core::Result;
use loop_core::net::Server;
use loop_core::stream::{ClientConnected, StreamReader, StreamReaderProtocol, StreamWriter};

use crate::NativeLoop;
use crate::net::attach_stream;
use crate::net::stream::NativeStream;
use crate::net::{ConnectOptions, ListenOptions, UnixConnectOptions, UnixListenOptions};

/// A reader with `limit`, already checked (falls back to the default, never reached).
fn reader(limit: usize) -> StreamReader {
    StreamReader::with_limit(limit).unwrap_or_default()
}

impl NativeLoop {
    /// Open a TCP connection and return its reader and writer (asyncio's
    /// `open_connection`). `limit` is the reader's buffer limit
    /// ([`DEFAULT_LIMIT`](loop_core::stream::DEFAULT_LIMIT), 64 KiB, in asyncio); the
    /// options are [`create_connection`](Self::create_connection)'s.
    ///
    /// ```
    /// use host_native::NativeLoop;
    /// use loop_core::stream::{ClientConnected, DEFAULT_LIMIT, StreamReader, StreamWriter};
    ///
    /// let lp = NativeLoop::new()?;
    /// let l = lp.clone();
    /// let reply = lp.run_until_complete(async move {
    ///     let echo = ClientConnected::task(|r: StreamReader, w: StreamWriter| async move {
    ///         let line = r.readline().await?;
    ///         w.write(&line)?;
    ///         w.drain().await?;
    ///         w.close();
    ///         Ok::<(), loop_core::Error>(())
    ///     });
    ///     let server = l.start_server(echo, ("127.0.0.1", 0), DEFAULT_LIMIT).await?;
    ///     let (reader, writer) = l.open_connection(server.sockets()[0], DEFAULT_LIMIT).await?;
    ///     writer.write(b"hello\n")?;
    ///     let reply = reader.read_to_end().await?;
    ///     server.close();
    ///     Ok::<_, loop_core::Error>(reply)
    /// })??;
    /// assert_eq!(reply, b"hello\n");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](loop_core::ErrorKind::InvalidInput) for a zero
    /// `limit`; as [`create_connection`](Self::create_connection).
    pub async fn open_connection(
        &self,
        options: impl Into<ConnectOptions>,
        limit: usize,
    ) -> Result<(StreamReader, StreamWriter)> {
        let reader = StreamReader::with_limit(limit)?;
        let raw = self.open_stream(options.into()).await?;
        self.stream_pair(raw, reader).await
    }

    /// Listen for TCP connections and call `client_connected` with each one's reader and
    /// writer (asyncio's `start_server`; the callback is a plain function,
    /// [`ClientConnected::plain`], or an async one run as a task,
    /// [`ClientConnected::task`]). `limit` is each reader's buffer limit; the options
    /// are [`create_server`](Self::create_server)'s.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](loop_core::ErrorKind::InvalidInput) for a zero
    /// `limit`; as [`create_server`](Self::create_server).
    pub async fn start_server(
        &self,
        client_connected: ClientConnected,
        options: impl Into<ListenOptions>,
        limit: usize,
    ) -> Result<Server> {
        StreamReader::with_limit(limit)?;
        let lp = self.event_loop().clone();
        self.create_server(
            move || {
                StreamReaderProtocol::with_client_connected(
                    &lp,
                    reader(limit),
                    client_connected.clone(),
                )
            },
            options,
        )
        .await
    }

    /// [`open_connection`](Self::open_connection) over a Unix-domain socket (asyncio's
    /// `open_unix_connection`); the options are
    /// [`create_unix_connection`](Self::create_unix_connection)'s.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](loop_core::ErrorKind::InvalidInput) for a zero
    /// `limit`; as [`create_unix_connection`](Self::create_unix_connection).
    pub async fn open_unix_connection(
        &self,
        options: impl Into<UnixConnectOptions>,
        limit: usize,
    ) -> Result<(StreamReader, StreamWriter)> {
        let reader = StreamReader::with_limit(limit)?;
        let raw = self.open_unix_stream(options.into()).await?;
        self.stream_pair(raw, reader).await
    }

    /// [`start_server`](Self::start_server) on a Unix-domain socket (asyncio's
    /// `start_unix_server`); the options are
    /// [`create_unix_server`](Self::create_unix_server)'s.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](loop_core::ErrorKind::InvalidInput) for a zero
    /// `limit`; as [`create_unix_server`](Self::create_unix_server).
    pub async fn start_unix_server(
        &self,
        client_connected: ClientConnected,
        options: impl Into<UnixListenOptions>,
        limit: usize,
    ) -> Result<Server> {
        StreamReader::with_limit(limit)?;
        let lp = self.event_loop().clone();
        self.create_unix_server(
            move || {
                StreamReaderProtocol::with_client_connected(
                    &lp,
                    reader(limit),
                    client_connected.clone(),
                )
            },
            options,
        )
        .await
    }

    async fn stream_pair(
        &self,
        raw: NativeStream,
        reader: StreamReader,
    ) -> Result<(StreamReader, StreamWriter)> {
        let lp = self.event_loop();
        let (transport, protocol) =
            attach_stream(lp, raw, || StreamReaderProtocol::new(lp, &reader)).await?;
        let writer = StreamWriter::new(transport, &protocol.borrow(), Some(reader.clone()));
        Ok((reader, writer))
    }
}
