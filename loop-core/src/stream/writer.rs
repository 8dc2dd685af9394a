//! [`StreamWriter`]: a transport's write side with asyncio's `drain` and `wait_closed`.

use alloc::rc::Rc;
use core::fmt;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::protocol::{FlowControl, StreamReaderProtocol};
use super::reader::StreamReader;
use crate::error::Result;
use crate::transport::{ExtraInfo, Transport};

/// A stream's write side (asyncio's `StreamWriter`): the transport's write methods plus
/// [`drain`](Self::drain), which waits while the transport's write buffer is above its
/// high-water mark, and [`wait_closed`](Self::wait_closed).
///
/// `StreamWriter` is a cheap handle; clones write to the same transport.
///
/// # Examples
///
/// The usual write loop: write, then let the transport's flow control pace the producer.
///
/// ```
/// use loop_core::stream::StreamWriter;
///
/// # #[allow(dead_code, reason = "shown, not run")]
/// async fn send_all(writer: &StreamWriter, chunks: &[&[u8]]) -> loop_core::Result<()> {
///     for chunk in chunks {
///         writer.write(chunk)?;
///         writer.drain().await?;
///     }
///     writer.close();
///     writer.wait_closed().await
/// }
/// ```
#[derive(Clone)]
pub struct StreamWriter {
    transport: Rc<dyn Transport>,
    flow: Rc<FlowControl>,
    reader: Option<StreamReader>,
}

impl StreamWriter {
    /// A writer for `transport`, whose events `protocol` receives. `reader`, when given,
    /// lets [`drain`](Self::drain) report the connection's error.
    pub fn new(
        transport: Rc<dyn Transport>,
        protocol: &StreamReaderProtocol,
        reader: Option<StreamReader>,
    ) -> Self {
        StreamWriter {
            transport,
            flow: protocol.flow().clone(),
            reader,
        }
    }

    /// The transport.
    pub fn transport(&self) -> &Rc<dyn Transport> {
        &self.transport
    }

    /// Queue `data` on the transport (see [`Transport::write`]).
    ///
    /// # Errors
    ///
    /// The transport's: writing after close, abort or `write_eof`, or once the connection
    /// is lost.
    pub fn write(&self, data: &[u8]) -> Result<()> {
        self.transport.write(data)
    }

    /// Queue several buffers (see [`Transport::writelines`]).
    ///
    /// # Errors
    ///
    /// As [`write`](Self::write).
    pub fn writelines(&self, data: &[&[u8]]) -> Result<()> {
        self.transport.writelines(data)
    }

    /// Close the write side after the buffer is flushed (see [`Transport::write_eof`]).
    ///
    /// # Errors
    ///
    /// The transport's: it cannot half-close, or it is closing.
    pub fn write_eof(&self) -> Result<()> {
        self.transport.write_eof()
    }

    /// Whether the transport supports [`write_eof`](Self::write_eof).
    pub fn can_write_eof(&self) -> bool {
        self.transport.can_write_eof()
    }

    /// Close the transport (see [`BaseTransport::close`](crate::BaseTransport::close)).
    pub fn close(&self) {
        self.transport.close();
    }

    /// Whether the transport is closing or closed.
    pub fn is_closing(&self) -> bool {
        self.transport.is_closing()
    }

    /// Information about the transport (see
    /// [`BaseTransport::get_extra_info`](crate::BaseTransport::get_extra_info)).
    pub fn get_extra_info(&self, name: &str) -> Option<ExtraInfo> {
        self.transport.get_extra_info(name)
    }

    /// The reader paired with this writer, if any.
    pub fn reader(&self) -> Option<&StreamReader> {
        self.reader.as_ref()
    }

    /// Wait until it is appropriate to write more (asyncio's `drain`).
    ///
    /// Returns at once unless the transport paused writing (its buffer went above the
    /// high-water mark); then waits until it resumes. Any number of tasks may wait; all
    /// wake together. When the transport is closing, yields to the loop once first so
    /// that a pending `connection_lost` is seen.
    ///
    /// # Errors
    ///
    /// - the connection's error, once it failed (the reader's exception);
    /// - [`ErrorKind::ConnectionReset`](crate::ErrorKind::ConnectionReset) "connection
    ///   lost" once the connection is closed (asyncio's `ConnectionResetError`);
    /// - a drain waiting when the connection fails gets the failure. (As in asyncio, a
    ///   drain waiting when the connection closes cleanly returns `Ok`.)
    pub async fn drain(&self) -> Result<()> {
        if let Some(error) = self.reader.as_ref().and_then(StreamReader::exception) {
            return Err(error);
        }
        if self.transport.is_closing() {
            YieldNow { yielded: false }.await;
        }
        self.flow.drain_helper().await
    }

    /// Wait until the connection is closed (`connection_lost` was called).
    ///
    /// # Errors
    ///
    /// The error the connection was lost with, if any.
    pub async fn wait_closed(&self) -> Result<()> {
        self.flow.closed().await
    }
}

impl fmt::Debug for StreamWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamWriter")
            .field("closing", &self.transport.is_closing())
            .field("reader", &self.reader)
            .finish()
    }
}

/// `asyncio.sleep(0)`: give the loop one turn.
struct YieldNow {
    yielded: bool,
}

impl core::future::Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
