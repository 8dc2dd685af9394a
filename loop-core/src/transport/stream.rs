//! [`StreamTransport`]: asyncio's selector socket transport over any [`RawStream`].
//!
//! # Life cycle
//!
//! 1. Creation schedules (`call_soon`) `connection_made`, then starts reading unless the
//!    protocol paused reading or closed the transport from `connection_made`.
//! 2. Each reader callback reads until the channel would block, a read comes back short,
//!    or [`READ_BUDGET`] bytes were read (level-triggered readiness brings the rest on
//!    the next iteration), handing each chunk to `data_received` (or reading straight
//!    into a [`BufferedProtocol`]'s buffer).
//! 3. A read of 0 bytes calls `eof_received` once; `true` keeps the connection
//!    half-open (reading stops), `false` closes the transport.
//! 4. `write` tries the channel at once when nothing is buffered and buffers only the
//!    rest; the writer callback drains the buffer. `pause_writing` / `resume_writing`
//!    follow [`WriteFlow`].
//! 5. `close` stops reading, flushes, then schedules `connection_lost(None)`; `abort`
//!    drops the buffer and schedules it at once; an I/O error (a reset) schedules
//!    `connection_lost(Some(error))`. Exactly once in every case, after which the raw
//!    channel is closed and the protocol released.

use alloc::boxed::Box;
use alloc::rc::{Rc, Weak};
use core::cell::{Cell, RefCell};
use core::fmt;

use crate::error::{Error, ErrorKind, Result};
use crate::event_loop::EventLoop;
use crate::exception::ExceptionContext;
use crate::host::Token;
use crate::protocol::{BufferedProtocol, Protocol};
use crate::transport::backend::RawStream;
use crate::transport::flow::WriteFlow;
use crate::transport::notice::{Notice, Notices};
use crate::transport::write_buffer::WriteBuffer;
use crate::transport::{BaseTransport, ExtraInfo, READ_BUDGET, Transport};

/// The protocol a [`StreamTransport`] drives: a plain [`Protocol`] (the transport reads
/// into a per-loop buffer and lends it to `data_received`) or a [`BufferedProtocol`]
/// (the transport reads straight into the protocol's buffer).
#[derive(Clone)]
pub enum StreamProtocolRef {
    /// A [`Protocol`].
    Plain(Rc<RefCell<dyn Protocol>>),
    /// A [`BufferedProtocol`].
    Buffered(Rc<RefCell<dyn BufferedProtocol>>),
}

impl StreamProtocolRef {
    /// Wrap a plain protocol.
    pub fn plain<P: Protocol>(protocol: Rc<RefCell<P>>) -> Self {
        StreamProtocolRef::Plain(protocol)
    }

    /// Wrap a buffered protocol.
    pub fn buffered<P: BufferedProtocol>(protocol: Rc<RefCell<P>>) -> Self {
        StreamProtocolRef::Buffered(protocol)
    }

    fn connection_made(&self, transport: Rc<dyn Transport>) {
        match self {
            StreamProtocolRef::Plain(p) => p.borrow_mut().connection_made(transport),
            StreamProtocolRef::Buffered(p) => p.borrow_mut().connection_made(transport),
        }
    }

    fn eof_received(&self) -> bool {
        match self {
            StreamProtocolRef::Plain(p) => p.borrow_mut().eof_received(),
            StreamProtocolRef::Buffered(p) => p.borrow_mut().eof_received(),
        }
    }

    fn connection_lost(&self, error: Option<Error>) {
        match self {
            StreamProtocolRef::Plain(p) => p.borrow_mut().connection_lost(error),
            StreamProtocolRef::Buffered(p) => p.borrow_mut().connection_lost(error),
        }
    }

    fn notice(&self, notice: Notice) {
        match (self, notice) {
            (StreamProtocolRef::Plain(p), Notice::PauseWriting) => p.borrow_mut().pause_writing(),
            (StreamProtocolRef::Plain(p), Notice::ResumeWriting) => {
                p.borrow_mut().resume_writing();
            }
            (StreamProtocolRef::Buffered(p), Notice::PauseWriting) => {
                p.borrow_mut().pause_writing();
            }
            (StreamProtocolRef::Buffered(p), Notice::ResumeWriting) => {
                p.borrow_mut().resume_writing();
            }
            (_, Notice::ErrorReceived(_)) => {}
        }
    }

    fn is_borrowed(&self) -> bool {
        match self {
            StreamProtocolRef::Plain(p) => p.try_borrow_mut().is_err(),
            StreamProtocolRef::Buffered(p) => p.try_borrow_mut().is_err(),
        }
    }
}

impl fmt::Debug for StreamProtocolRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamProtocolRef::Plain(_) => f.write_str("StreamProtocolRef::Plain"),
            StreamProtocolRef::Buffered(_) => f.write_str("StreamProtocolRef::Buffered"),
        }
    }
}

/// What one read attempt produced.
enum ReadOutcome {
    Data(usize),
    Eof,
    Blocked,
    Failed(Error),
}

struct Io<S> {
    raw: S,
    buf: WriteBuffer,
    /// `raw.close()` was called.
    closed: bool,
}

/// A stream transport over a backend's [`RawStream`]: everything in
/// [`Transport`] — buffering, the write fast path, flow control, the connection state
/// machine, protocol dispatch — with the backend supplying only the raw I/O.
///
/// Create it with [`new`](Self::new) once the channel is connected; it schedules
/// `connection_made` and starts reading. Protocol callbacks may call any transport method
/// (`write` from `data_received`, `close` from `eof_received`, `abort` anywhere);
/// `pause_writing` / `resume_writing` caused by such a call are delivered as soon as the
/// running callback returns.
///
/// A panic in a protocol callback (with the `std` feature) is reported to the loop's
/// exception handler and force-closes the transport with the panic as the error, as
/// asyncio's `_fatal_error` does.
pub struct StreamTransport<S: RawStream> {
    lp: EventLoop,
    me: Weak<StreamTransport<S>>,
    token: Token,
    buffered: bool,
    can_write_eof: bool,
    io: RefCell<Io<S>>,
    protocol: RefCell<Option<StreamProtocolRef>>,
    flow: Cell<WriteFlow>,
    notices: Notices,
    /// `close`, `abort` or a fatal error happened: no more reading.
    closing: Cell<bool>,
    /// `write_eof` was called.
    eof_written: Cell<bool>,
    /// `connection_lost` is scheduled.
    conn_lost: Cell<bool>,
    /// `connection_lost` ran.
    lost_done: Cell<bool>,
    /// `connection_made` ran.
    made: Cell<bool>,
    paused_reading: Cell<bool>,
    /// The channel reported end of stream.
    eof_seen: Cell<bool>,
    reader_on: Cell<bool>,
    writer_on: Cell<bool>,
    on_lost: Cell<Option<Box<dyn FnOnce()>>>,
}

impl<S: RawStream> fmt::Debug for StreamTransport<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamTransport")
            .field("token", &self.token)
            .field("closing", &self.closing.get())
            .field("eof_written", &self.eof_written.get())
            .field("lost", &self.conn_lost.get())
            .field("reading", &self.is_reading())
            .field(
                "buffered",
                &self.io.try_borrow().map(|io| io.buf.len()).ok(),
            )
            .finish()
    }
}

impl<S: RawStream> StreamTransport<S> {
    /// Drive `raw` (connected) with `protocol`: schedules `connection_made` with
    /// `call_soon`, then starts reading.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if the loop is closed (`raw` is dropped).
    pub fn new(lp: &EventLoop, raw: S, protocol: StreamProtocolRef) -> Result<Rc<Self>> {
        let token = raw.token();
        let can_write_eof = raw.can_write_eof();
        let buffered = matches!(protocol, StreamProtocolRef::Buffered(_));
        let t = Rc::new_cyclic(|me| StreamTransport {
            lp: lp.clone(),
            me: me.clone(),
            token,
            buffered,
            can_write_eof,
            io: RefCell::new(Io {
                raw,
                buf: WriteBuffer::default(),
                closed: false,
            }),
            protocol: RefCell::new(Some(protocol)),
            flow: Cell::new(WriteFlow::new()),
            notices: Notices::default(),
            closing: Cell::new(false),
            eof_written: Cell::new(false),
            conn_lost: Cell::new(false),
            lost_done: Cell::new(false),
            made: Cell::new(false),
            paused_reading: Cell::new(false),
            eof_seen: Cell::new(false),
            reader_on: Cell::new(false),
            writer_on: Cell::new(false),
            on_lost: Cell::new(None),
        });
        let this = t.clone();
        lp.call_soon(move || this.start())?;
        Ok(t)
    }

    /// The token of the raw channel.
    pub fn token(&self) -> Token {
        self.token
    }

    /// The protocol, until `connection_lost` has run (the transport releases it then).
    pub fn protocol(&self) -> Option<StreamProtocolRef> {
        self.protocol.borrow().clone()
    }

    /// Run `hook` once, right after `connection_lost` (servers count their connections
    /// with it).
    pub(crate) fn set_lost_hook(&self, hook: Box<dyn FnOnce()>) {
        self.on_lost.set(Some(hook));
    }

    fn rc(&self) -> Rc<Self> {
        // `self` is only reachable through an `Rc` (`new` returns one), so this holds
        // whenever a method runs.
        self.me
            .upgrade()
            .expect("a StreamTransport is always owned by an Rc")
    }

    // ----- protocol dispatch ------------------------------------------------------

    /// Run a protocol callback. `None` if the protocol is gone or the callback panicked
    /// (the transport is then force-closed with the panic as its error).
    #[inline]
    fn dispatch<R>(&self, f: impl FnOnce(&StreamProtocolRef) -> R) -> Option<R> {
        let slot = self.protocol.borrow();
        let p = slot.as_ref()?;
        let prev = self.notices.enter();
        let r = crate::panic::catch(|| f(p));
        self.notices.leave(prev);
        drop(slot);
        match r {
            Ok(v) => {
                if !prev && !self.notices.is_empty() {
                    self.flush_notices();
                }
                Some(v)
            }
            Err(e) => {
                self.fatal_error(e, "fatal error: a protocol callback failed");
                None
            }
        }
    }

    /// Queue a notification and deliver it now unless a callback of this transport is
    /// running (it is then delivered when that callback returns).
    fn notify(&self, n: Notice) {
        self.notices.push(n);
        if !self.notices.dispatching() {
            self.flush_notices();
        }
    }

    fn flush_notices(&self) {
        while let Some(n) = self.notices.pop() {
            let busy = match &*self.protocol.borrow() {
                None => {
                    self.notices.clear();
                    return;
                }
                Some(p) => p.is_borrowed(),
            };
            if busy {
                // Borrowed outside any callback of ours (user code holds it): retry
                // on the next iteration.
                self.notices.unpop(n);
                self.schedule_flush();
                return;
            }
            self.dispatch(|p| p.notice(n));
        }
    }

    fn schedule_flush(&self) {
        if self.notices.claim_flush() {
            let this = self.rc();
            let _ = self.lp.call_soon(move || {
                this.notices.flush_ran();
                this.flush_notices();
            });
        }
    }

    // ----- life cycle -------------------------------------------------------------

    fn start(&self) {
        self.made.set(true);
        let t: Rc<dyn Transport> = self.rc();
        if self.dispatch(|p| p.connection_made(t)).is_none() {
            return;
        }
        if self.reading_now() {
            self.start_reader();
        }
    }

    #[inline]
    fn reading_now(&self) -> bool {
        !self.closing.get() && !self.paused_reading.get() && !self.eof_seen.get()
    }

    fn fatal_error(&self, error: Error, message: &'static str) {
        // asyncio reports only errors that are not OS errors (a protocol that raised);
        // resets and broken pipes just end the connection.
        if !is_os_error(error.kind()) {
            self.lp
                .call_exception_handler(&ExceptionContext::new(message).with_error(error.clone()));
        }
        self.force_close(Some(error));
    }

    fn force_close(&self, error: Option<Error>) {
        if self.conn_lost.get() {
            return;
        }
        {
            let mut io = self.io.borrow_mut();
            if !io.buf.is_empty() {
                io.buf.clear();
            }
        }
        self.stop_writer();
        if !self.closing.replace(true) {
            self.stop_reader();
        }
        self.schedule_lost(error);
    }

    fn schedule_lost(&self, error: Option<Error>) {
        if self.conn_lost.replace(true) {
            return;
        }
        let this = self.rc();
        if self.lp.is_closed() {
            // Nothing else can run on a closed loop: finish at once.
            this.call_connection_lost(error);
        } else {
            let _ = self.lp.call_soon(move || this.call_connection_lost(error));
        }
    }

    fn call_connection_lost(&self, error: Option<Error>) {
        if self.lost_done.replace(true) {
            return;
        }
        self.stop_reader();
        self.stop_writer();
        if !self.notices.is_empty() {
            self.flush_notices();
        }
        if self.made.get() {
            self.dispatch(|p| p.connection_lost(error));
        }
        self.notices.clear();
        {
            let mut io = self.io.borrow_mut();
            io.buf.clear();
            if !io.closed {
                io.closed = true;
                io.raw.close();
            }
        }
        drop(self.protocol.borrow_mut().take());
        if let Some(hook) = self.on_lost.take() {
            hook();
        }
    }

    // ----- reading ----------------------------------------------------------------

    fn start_reader(&self) {
        if self.reader_on.replace(true) {
            return;
        }
        let this = self.rc();
        if let Err(e) = self.lp.add_reader(self.token, move || this.read_ready()) {
            self.reader_on.set(false);
            self.fatal_error(e, "fatal error: cannot watch the stream for reading");
        }
    }

    fn stop_reader(&self) {
        if self.reader_on.replace(false) {
            let _ = self.lp.remove_reader(self.token);
        }
    }

    fn read_ready(&self) {
        if !self.reading_now() || self.io.borrow().closed {
            return;
        }
        if self.buffered {
            self.read_buffered();
        } else {
            self.read_plain();
        }
    }

    fn read_plain(&self) {
        let mut buf = self.lp.take_read_buffer();
        let mut total = 0;
        loop {
            let r = self.io.borrow_mut().raw.try_read(&mut buf);
            match r {
                Ok(0) => {
                    self.on_eof();
                    break;
                }
                Ok(n) => {
                    let data = &buf[..n];
                    let delivered = self.dispatch(|p| {
                        if let StreamProtocolRef::Plain(p) = p {
                            p.borrow_mut().data_received(data);
                        }
                    });
                    total += n;
                    if delivered.is_none()
                        || n < buf.len()
                        || total >= READ_BUDGET
                        || !self.reading_now()
                    {
                        break;
                    }
                }
                Err(e) if e.is_would_block() => break,
                Err(e) => {
                    self.fatal_error(e, "fatal read error on a stream transport");
                    break;
                }
            }
        }
        self.lp.put_read_buffer(buf);
    }

    fn read_buffered(&self) {
        let mut total = 0;
        loop {
            let outcome = self.dispatch(|p| {
                let StreamProtocolRef::Buffered(p) = p else {
                    return ReadOutcome::Blocked;
                };
                let mut p = p.borrow_mut();
                let buf = p.get_buffer(0);
                if buf.is_empty() {
                    return ReadOutcome::Failed(Error::new(
                        ErrorKind::Runtime,
                        "get_buffer() returned an empty buffer",
                    ));
                }
                let r = self.io.borrow_mut().raw.try_read(buf);
                match r {
                    Ok(0) => ReadOutcome::Eof,
                    Ok(n) => {
                        p.buffer_updated(n);
                        ReadOutcome::Data(n)
                    }
                    Err(e) if e.is_would_block() => ReadOutcome::Blocked,
                    Err(e) => ReadOutcome::Failed(e),
                }
            });
            match outcome {
                None | Some(ReadOutcome::Blocked) => break,
                Some(ReadOutcome::Eof) => {
                    self.on_eof();
                    break;
                }
                Some(ReadOutcome::Failed(e)) => {
                    self.fatal_error(e, "fatal read error on a stream transport");
                    break;
                }
                Some(ReadOutcome::Data(n)) => {
                    total += n;
                    if total >= READ_BUDGET || !self.reading_now() {
                        break;
                    }
                }
            }
        }
    }

    fn on_eof(&self) {
        self.eof_seen.set(true);
        let Some(keep_open) = self.dispatch(StreamProtocolRef::eof_received) else {
            return;
        };
        if keep_open {
            self.stop_reader();
        } else {
            self.close();
        }
    }

    // ----- writing ----------------------------------------------------------------

    fn check_write(&self) -> Result<()> {
        if self.eof_written.get() {
            Err(Error::new(
                ErrorKind::Runtime,
                "cannot call write() after write_eof()",
            ))
        } else if self.lost_done.get() {
            Err(Error::new(ErrorKind::Runtime, "the connection is lost"))
        } else if self.closing.get() {
            Err(Error::new(ErrorKind::Runtime, "the transport is closing"))
        } else {
            Ok(())
        }
    }

    fn start_writer(&self) {
        if self.writer_on.replace(true) {
            return;
        }
        let this = self.rc();
        if let Err(e) = self.lp.add_writer(self.token, move || this.write_ready()) {
            self.writer_on.set(false);
            self.fatal_error(e, "fatal error: cannot watch the stream for writing");
        }
    }

    fn stop_writer(&self) {
        if self.writer_on.replace(false) {
            let _ = self.lp.remove_writer(self.token);
        }
    }

    fn write_ready(&self) {
        if self.conn_lost.get() {
            return;
        }
        let r = {
            let mut io = self.io.borrow_mut();
            let Io { raw, buf, .. } = &mut *io;
            if buf.is_empty() {
                Ok(())
            } else {
                raw.try_write(buf.as_slice()).map(|n| buf.consume(n))
            }
        };
        match r {
            Ok(()) => {}
            Err(e) if e.is_would_block() => return,
            Err(e) => {
                self.fatal_error(e, "fatal write error on a stream transport");
                return;
            }
        }
        // resume_writing may write more.
        self.maybe_resume();
        if self.conn_lost.get() || !self.io.borrow().buf.is_empty() {
            return;
        }
        self.stop_writer();
        if self.closing.get() {
            self.schedule_lost(None);
        } else if self.eof_written.get() {
            self.shutdown();
        }
    }

    fn shutdown(&self) {
        let r = self.io.borrow_mut().raw.shutdown_write();
        if let Err(e) = r {
            self.fatal_error(e, "fatal error while closing the write side");
        }
    }

    #[inline]
    fn maybe_pause(&self) {
        let size = self.io.borrow().buf.len();
        let mut flow = self.flow.get();
        if flow.check_pause(size) {
            self.flow.set(flow);
            self.notify(Notice::PauseWriting);
        }
    }

    #[inline]
    fn maybe_resume(&self) {
        let size = self.io.borrow().buf.len();
        let mut flow = self.flow.get();
        if flow.check_resume(size) {
            self.flow.set(flow);
            self.notify(Notice::ResumeWriting);
        }
    }
}

/// Errors that come from the channel rather than from code (asyncio's `OSError`).
fn is_os_error(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::ConnectionRefused
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::NotConnected
            | ErrorKind::AddrInUse
            | ErrorKind::AddrNotAvailable
            | ErrorKind::PermissionDenied
            | ErrorKind::Timeout
            | ErrorKind::Io
    )
}

impl<S: RawStream> BaseTransport for StreamTransport<S> {
    fn close(&self) {
        if self.closing.replace(true) {
            return;
        }
        self.stop_reader();
        if self.io.borrow().buf.is_empty() {
            self.stop_writer();
            self.schedule_lost(None);
        }
    }

    fn is_closing(&self) -> bool {
        self.closing.get()
    }

    fn get_extra_info(&self, name: &str) -> Option<ExtraInfo> {
        self.io.borrow().raw.extra_info(name)
    }
}

impl<S: RawStream> Transport for StreamTransport<S> {
    fn write(&self, data: &[u8]) -> Result<()> {
        self.check_write()?;
        if data.is_empty() {
            return Ok(());
        }
        let mut io = self.io.borrow_mut();
        if io.buf.is_empty() {
            // asyncio's fast path: try at once, buffer only what did not go out.
            let rest = match io.raw.try_write(data) {
                Ok(n) => &data[n.min(data.len())..],
                Err(e) if e.is_would_block() => data,
                Err(e) => {
                    drop(io);
                    self.fatal_error(e, "fatal write error on a stream transport");
                    return Ok(());
                }
            };
            if rest.is_empty() {
                return Ok(());
            }
            io.buf.extend(rest);
            drop(io);
            self.start_writer();
        } else {
            io.buf.extend(data);
            drop(io);
        }
        self.maybe_pause();
        Ok(())
    }

    fn writelines(&self, data: &[&[u8]]) -> Result<()> {
        self.check_write()?;
        let total: usize = data.iter().map(|d| d.len()).sum();
        if total == 0 {
            return Ok(());
        }
        let mut io = self.io.borrow_mut();
        let was_empty = io.buf.is_empty();
        let mut skip = 0;
        if was_empty {
            match io.raw.try_write_vectored(data) {
                Ok(n) => skip = n,
                Err(e) if e.is_would_block() => {}
                Err(e) => {
                    drop(io);
                    self.fatal_error(e, "fatal write error on a stream transport");
                    return Ok(());
                }
            }
            if skip >= total {
                return Ok(());
            }
        }
        for d in data {
            if skip >= d.len() {
                skip -= d.len();
                continue;
            }
            io.buf.extend(&d[skip..]);
            skip = 0;
        }
        drop(io);
        if was_empty {
            self.start_writer();
        }
        self.maybe_pause();
        Ok(())
    }

    fn write_eof(&self) -> Result<()> {
        if self.closing.get() || self.conn_lost.get() {
            return Err(Error::new(
                ErrorKind::Runtime,
                "write_eof() on a closing transport",
            ));
        }
        if !self.can_write_eof {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "this transport cannot half-close",
            ));
        }
        if self.eof_written.replace(true) {
            return Ok(());
        }
        if self.io.borrow().buf.is_empty() {
            self.shutdown();
        }
        Ok(())
    }

    fn can_write_eof(&self) -> bool {
        self.can_write_eof
    }

    fn abort(&self) {
        self.force_close(None);
    }

    fn pause_reading(&self) {
        if self.closing.get() || self.paused_reading.replace(true) {
            return;
        }
        self.stop_reader();
    }

    fn resume_reading(&self) {
        if self.closing.get() || !self.paused_reading.get() {
            return;
        }
        self.paused_reading.set(false);
        if self.made.get() && self.reading_now() {
            self.start_reader();
        }
    }

    fn is_reading(&self) -> bool {
        !self.paused_reading.get() && !self.closing.get()
    }

    fn set_write_buffer_limits(&self, high: Option<usize>, low: Option<usize>) -> Result<()> {
        let mut flow = self.flow.get();
        flow.set_limits(high, low)?;
        self.flow.set(flow);
        self.maybe_pause();
        self.maybe_resume();
        Ok(())
    }

    fn get_write_buffer_limits(&self) -> (usize, usize) {
        self.flow.get().limits()
    }

    fn get_write_buffer_size(&self) -> usize {
        self.io.borrow().buf.len()
    }
}
