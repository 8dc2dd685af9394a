//! [`StreamReaderProtocol`]: the [`Protocol`] that joins a transport to a
//! [`StreamReader`] and a [`StreamWriter`] (asyncio's `StreamReaderProtocol` and its
//! `FlowControlMixin`).

use alloc::boxed::Box;
use alloc::rc::{Rc, Weak};
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::fmt;
use core::pin::Pin;

use super::reader::{ReaderInner, StreamReader};
use super::writer::StreamWriter;
use crate::error::{Error, ErrorKind, Result};
use crate::event_loop::EventLoop;
use crate::exception::ExceptionContext;
use crate::future::Future;
use crate::protocol::Protocol;
use crate::transport::Transport;

/// The error [`StreamWriter::drain`] fails with once the connection is gone and no other
/// error says why (asyncio's `ConnectionResetError('Connection lost')`).
pub(crate) fn connection_lost_error() -> Error {
    Error::new(ErrorKind::ConnectionReset, "connection lost")
}

/// Write-side flow control shared by the protocol and its writers (asyncio's
/// `FlowControlMixin`), plus the future [`StreamWriter::wait_closed`] waits on.
pub(crate) struct FlowControl {
    lp: EventLoop,
    paused: Cell<bool>,
    connection_lost: Cell<bool>,
    drain_waiters: RefCell<Vec<Future<()>>>,
    closed: Future<()>,
}

impl FlowControl {
    fn new(lp: &EventLoop) -> Self {
        FlowControl {
            lp: lp.clone(),
            paused: Cell::new(false),
            connection_lost: Cell::new(false),
            drain_waiters: RefCell::new(Vec::new()),
            closed: lp.create_future(),
        }
    }

    pub(crate) fn closed(&self) -> &Future<()> {
        &self.closed
    }

    fn pause_writing(&self) {
        self.paused.set(true);
    }

    fn resume_writing(&self) {
        self.paused.set(false);
        for waiter in self.drain_waiters.borrow().iter() {
            if !waiter.done() {
                let _ = waiter.set_result(());
            }
        }
    }

    fn connection_lost(&self, error: Option<&Error>) {
        self.connection_lost.set(true);
        if !self.paused.get() {
            return;
        }
        for waiter in self.drain_waiters.borrow().iter() {
            if !waiter.done() {
                let _ = match error {
                    None => waiter.set_result(()),
                    Some(e) => waiter.set_exception(e.clone()),
                };
            }
        }
    }

    /// asyncio's `_drain_helper`: fail if the connection is lost, return at once unless
    /// writing is paused, otherwise wait for `resume_writing` or `connection_lost`.
    pub(crate) async fn drain_helper(&self) -> Result<()> {
        if self.connection_lost.get() {
            return Err(connection_lost_error());
        }
        if !self.paused.get() {
            return Ok(());
        }
        let waiter = self.lp.create_future::<()>();
        self.drain_waiters.borrow_mut().push(waiter.clone());
        let _registered = DrainRegistration {
            flow: self,
            waiter: &waiter,
        };
        (&waiter).await
    }
}

/// Removes a drain waiter from the list when its `drain` finishes or is dropped.
struct DrainRegistration<'a> {
    flow: &'a FlowControl,
    waiter: &'a Future<()>,
}

impl Drop for DrainRegistration<'_> {
    fn drop(&mut self) {
        self.flow
            .drain_waiters
            .borrow_mut()
            .retain(|w| !w.ptr_eq(self.waiter));
    }
}

/// What a [`ClientConnected::task`] handler's future may return: `()` or a `Result`
/// whose error converts into [`Error`].
pub trait ClientOutcome {
    /// The outcome as the handler task's result.
    ///
    /// # Errors
    ///
    /// The handler's error.
    fn into_result(self) -> Result<()>;
}

impl ClientOutcome for () {
    fn into_result(self) -> Result<()> {
        Ok(())
    }
}

impl<E: Into<Error>> ClientOutcome for core::result::Result<(), E> {
    fn into_result(self) -> Result<()> {
        self.map_err(Into::into)
    }
}

type HandlerFuture = Pin<Box<dyn core::future::Future<Output = Result<()>>>>;

/// The callback a stream server calls for each accepted connection (asyncio's
/// `client_connected_cb`): either a plain function, called from `connection_made`, or an
/// async one, whose future is run as a task.
///
/// When the task fails, the error goes to the loop's exception handler ("Unhandled
/// exception in client_connected_cb") and the transport is closed; when it is cancelled,
/// the transport is closed.
#[derive(Clone)]
pub struct ClientConnected(Rc<dyn Fn(StreamReader, StreamWriter) -> Option<HandlerFuture>>);

impl ClientConnected {
    /// A plain callback, run inside the protocol's `connection_made`.
    pub fn plain(f: impl Fn(StreamReader, StreamWriter) + 'static) -> Self {
        ClientConnected(Rc::new(move |reader, writer| {
            f(reader, writer);
            None
        }))
    }

    /// An async callback: the future it returns runs as a task.
    pub fn task<F, Fut>(f: F) -> Self
    where
        F: Fn(StreamReader, StreamWriter) -> Fut + 'static,
        Fut: core::future::Future + 'static,
        Fut::Output: ClientOutcome,
    {
        ClientConnected(Rc::new(move |reader, writer| {
            let fut = f(reader, writer);
            Some(Box::pin(async move { fut.await.into_result() }))
        }))
    }
}

impl fmt::Debug for ClientConnected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientConnected(..)")
    }
}

/// The protocol behind a stream pair (asyncio's `StreamReaderProtocol`).
///
/// - `connection_made` gives the transport to the reader (for read flow control) and, on
///   the server side, creates the [`StreamWriter`] and runs the [`ClientConnected`]
///   callback;
/// - `data_received` and `eof_received` feed the reader; `eof_received` returns `true`
///   (keep the connection half-open so the writer can still write) unless the transport
///   is TLS (`get_extra_info("sslcontext")` present), where half-close is not possible;
/// - `connection_lost` feeds EOF to the reader after a clean close or sets the error on
///   it, completes [`StreamWriter::wait_closed`] and wakes blocked
///   [`drain`](StreamWriter::drain)s;
/// - `pause_writing` / `resume_writing` gate `drain`.
///
/// The protocol holds its reader weakly (as asyncio does with a weak reference): once
/// every reader handle and writer is dropped, received data is discarded.
///
/// # Examples
///
/// Driven by hand, as a transport would drive it:
///
/// ```
/// use loop_core::{EventLoop, Protocol, sim::SimHost};
/// use loop_core::stream::{StreamReader, StreamReaderProtocol};
///
/// let lp = EventLoop::new(SimHost::new(7));
/// let reader = StreamReader::new();
/// let mut protocol = StreamReaderProtocol::new(&lp, &reader);
/// protocol.data_received(b"hello\nwor");
/// protocol.data_received(b"ld\n");
/// assert!(protocol.eof_received(), "half-open: the writer may still write");
/// let lines = lp.run_until_complete(async move {
///     let mut lines = Vec::new();
///     loop {
///         let line = reader.readline().await?;
///         if line.is_empty() {
///             break;
///         }
///         lines.push(line);
///     }
///     Ok::<_, loop_core::Error>(lines)
/// })??;
/// assert_eq!(lines, [b"hello\n".to_vec(), b"world\n".to_vec()]);
/// # Ok::<(), loop_core::Error>(())
/// ```
pub struct StreamReaderProtocol {
    lp: EventLoop,
    reader: Option<Weak<ReaderInner>>,
    /// Keeps a server-side reader alive until the connection is made and the callback
    /// owns it.
    strong_reader: Option<StreamReader>,
    flow: Rc<FlowControl>,
    client_connected: Option<ClientConnected>,
    over_ssl: bool,
}

impl StreamReaderProtocol {
    /// The client-side protocol feeding `reader`; build the writer with
    /// [`StreamWriter::new`] once the transport exists.
    pub fn new(lp: &EventLoop, reader: &StreamReader) -> Self {
        StreamReaderProtocol {
            lp: lp.clone(),
            reader: Some(reader.downgrade()),
            strong_reader: None,
            flow: Rc::new(FlowControl::new(lp)),
            client_connected: None,
            over_ssl: false,
        }
    }

    /// The server-side protocol: on `connection_made` it creates the writer and calls
    /// `client_connected` with the reader and the writer.
    pub fn with_client_connected(
        lp: &EventLoop,
        reader: StreamReader,
        client_connected: ClientConnected,
    ) -> Self {
        let mut protocol = StreamReaderProtocol::new(lp, &reader);
        protocol.strong_reader = Some(reader);
        protocol.client_connected = Some(client_connected);
        protocol
    }

    pub(crate) fn flow(&self) -> &Rc<FlowControl> {
        &self.flow
    }

    fn reader(&self) -> Option<StreamReader> {
        self.reader.as_ref().and_then(StreamReader::upgrade)
    }

    fn run_client_connected(
        &self,
        cb: &ClientConnected,
        reader: StreamReader,
        transport: Rc<dyn Transport>,
    ) {
        let writer = StreamWriter::new(transport.clone(), self, Some(reader.clone()));
        let Some(fut) = (cb.0)(reader, writer) else {
            return;
        };
        let task = self.lp.create_try_task(fut);
        let task_ref = task.task_ref().clone();
        let lp = self.lp.clone();
        task.add_done_callback(move |done| {
            if done.cancelled() {
                transport.close();
                return;
            }
            if let Ok(Some(error)) = done.exception() {
                let ctx = ExceptionContext::new("Unhandled exception in client_connected_cb")
                    .with_error(error)
                    .with_task(task_ref);
                lp.call_exception_handler(&ctx);
                transport.close();
            }
        });
    }
}

impl Protocol for StreamReaderProtocol {
    fn connection_made(&mut self, transport: Rc<dyn Transport>) {
        let reader = self.reader();
        if let Some(reader) = &reader
            && let Err(error) = reader.set_transport(transport.clone())
        {
            // The reader was already used with another connection: report it, and keep
            // going without read flow control, as the data still belongs to it.
            let ctx =
                ExceptionContext::new("StreamReaderProtocol: reader reused").with_error(error);
            self.lp.call_exception_handler(&ctx);
        }
        self.over_ssl = transport.get_extra_info("sslcontext").is_some();
        if let Some(cb) = self.client_connected.take()
            && let Some(reader) = reader
        {
            self.run_client_connected(&cb, reader, transport);
        }
        self.strong_reader = None;
    }

    fn data_received(&mut self, data: &[u8]) {
        if let Some(reader) = self.reader() {
            // A transport never delivers data after EOF, the only case feed_data
            // rejects.
            let _ = reader.feed_data(data);
        }
    }

    fn eof_received(&mut self) -> bool {
        if let Some(reader) = self.reader() {
            reader.feed_eof();
        }
        !self.over_ssl
    }

    fn connection_lost(&mut self, error: Option<Error>) {
        if let Some(reader) = self.reader() {
            match &error {
                None => reader.feed_eof(),
                Some(e) => reader.set_exception(e.clone()),
            }
        }
        let closed = self.flow.closed();
        if !closed.done() {
            let _ = match &error {
                None => closed.set_result(()),
                Some(e) => closed.set_exception(e.clone()),
            };
        }
        self.flow.connection_lost(error.as_ref());
        self.reader = None;
        self.strong_reader = None;
    }

    fn pause_writing(&mut self) {
        self.flow.pause_writing();
    }

    fn resume_writing(&mut self) {
        self.flow.resume_writing();
    }
}

impl fmt::Debug for StreamReaderProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamReaderProtocol")
            .field("reader", &self.reader())
            .field("paused", &self.flow.paused.get())
            .field("connection_lost", &self.flow.connection_lost.get())
            .field("callback_pending", &self.client_connected.is_some())
            .finish()
    }
}
