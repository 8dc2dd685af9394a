//! [`DatagramEndpoint`]: asyncio's selector datagram transport over any [`RawDatagram`].

use alloc::collections::VecDeque;
use alloc::format;
use alloc::rc::{Rc, Weak};
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::fmt;
use core::net::SocketAddr;

use crate::error::{Error, ErrorKind, Result};
use crate::event_loop::EventLoop;
use crate::exception::ExceptionContext;
use crate::host::Token;
use crate::protocol::DatagramProtocol;
use crate::transport::backend::RawDatagram;
use crate::transport::flow::WriteFlow;
use crate::transport::notice::{Notice, Notices};
use crate::transport::{BaseTransport, DATAGRAM_BUDGET, DatagramTransport, ExtraInfo};

/// What each queued datagram adds to the write-buffer size besides its payload (asyncio's
/// `_header_size`), so that queued empty datagrams still count for flow control.
pub(crate) const DATAGRAM_HEADER_SIZE: usize = 8;

struct Io<D> {
    raw: D,
    queue: VecDeque<(Vec<u8>, Option<SocketAddr>)>,
    size: usize,
    closed: bool,
}

/// A datagram transport over a backend's [`RawDatagram`].
///
/// - `sendto` tries the socket at once when nothing is queued; datagrams that would block
///   are queued (copied) and sent when the socket is writable, with the same flow control
///   as stream transports ([`WriteFlow`]).
/// - Send and receive failures (an unreachable peer) go to the protocol's
///   `error_received`; the endpoint stays open. When `sendto` is called from inside a
///   protocol callback, `error_received` is delivered right after that callback returns.
/// - `close` flushes the queue then calls `connection_lost(None)`; `abort` drops it.
pub struct DatagramEndpoint<D: RawDatagram> {
    lp: EventLoop,
    me: Weak<DatagramEndpoint<D>>,
    token: Token,
    peer: Option<SocketAddr>,
    io: RefCell<Io<D>>,
    protocol: RefCell<Option<Rc<RefCell<dyn DatagramProtocol>>>>,
    flow: Cell<WriteFlow>,
    notices: Notices,
    closing: Cell<bool>,
    conn_lost: Cell<bool>,
    lost_done: Cell<bool>,
    made: Cell<bool>,
    reader_on: Cell<bool>,
    writer_on: Cell<bool>,
}

impl<D: RawDatagram> fmt::Debug for DatagramEndpoint<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatagramEndpoint")
            .field("token", &self.token)
            .field("peer", &self.peer)
            .field("closing", &self.closing.get())
            .field("lost", &self.conn_lost.get())
            .finish()
    }
}

impl<D: RawDatagram> DatagramEndpoint<D> {
    /// Drive `raw` (bound, and connected if it has a peer) with `protocol`: schedules
    /// `connection_made` with `call_soon`, then starts receiving.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if the loop is closed.
    pub fn new(
        lp: &EventLoop,
        raw: D,
        protocol: Rc<RefCell<dyn DatagramProtocol>>,
    ) -> Result<Rc<Self>> {
        let token = raw.token();
        let peer = raw.peer_addr();
        let t = Rc::new_cyclic(|me| DatagramEndpoint {
            lp: lp.clone(),
            me: me.clone(),
            token,
            peer,
            io: RefCell::new(Io {
                raw,
                queue: VecDeque::new(),
                size: 0,
                closed: false,
            }),
            protocol: RefCell::new(Some(protocol)),
            flow: Cell::new(WriteFlow::new()),
            notices: Notices::default(),
            closing: Cell::new(false),
            conn_lost: Cell::new(false),
            lost_done: Cell::new(false),
            made: Cell::new(false),
            reader_on: Cell::new(false),
            writer_on: Cell::new(false),
        });
        let this = t.clone();
        lp.call_soon(move || this.start())?;
        Ok(t)
    }

    /// The token of the raw socket.
    pub fn token(&self) -> Token {
        self.token
    }

    fn rc(&self) -> Rc<Self> {
        self.me
            .upgrade()
            .expect("a DatagramEndpoint is always owned by an Rc")
    }

    fn dispatch<R>(&self, f: impl FnOnce(&mut dyn DatagramProtocol) -> R) -> Option<R> {
        let slot = self.protocol.borrow();
        let p = slot.as_ref()?;
        let prev = self.notices.enter();
        let r = crate::panic::catch(|| f(&mut *p.borrow_mut()));
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
                self.lp.call_exception_handler(
                    &ExceptionContext::new("fatal error: a datagram protocol callback failed")
                        .with_error(e.clone()),
                );
                self.force_close(Some(e));
                None
            }
        }
    }

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
                Some(p) => p.try_borrow_mut().is_err(),
            };
            if busy {
                self.notices.unpop(n);
                if self.notices.claim_flush() {
                    let this = self.rc();
                    let _ = self.lp.call_soon(move || {
                        this.notices.flush_ran();
                        this.flush_notices();
                    });
                }
                return;
            }
            self.dispatch(|p| match n {
                Notice::PauseWriting => p.pause_writing(),
                Notice::ResumeWriting => p.resume_writing(),
                Notice::ErrorReceived(e) => p.error_received(e),
            });
        }
    }

    fn start(&self) {
        self.made.set(true);
        let t: Rc<dyn DatagramTransport> = self.rc();
        if self.dispatch(|p| p.connection_made(t)).is_none() {
            return;
        }
        if !self.closing.get() {
            self.reader_on.set(true);
            let this = self.rc();
            if let Err(e) = self.lp.add_reader(self.token, move || this.read_ready()) {
                self.reader_on.set(false);
                self.force_close(Some(e));
            }
        }
    }

    fn stop_reader(&self) {
        if self.reader_on.replace(false) {
            let _ = self.lp.remove_reader(self.token);
        }
    }

    fn start_writer(&self) {
        if self.writer_on.replace(true) {
            return;
        }
        let this = self.rc();
        if let Err(e) = self.lp.add_writer(self.token, move || this.send_ready()) {
            self.writer_on.set(false);
            self.force_close(Some(e));
        }
    }

    fn stop_writer(&self) {
        if self.writer_on.replace(false) {
            let _ = self.lp.remove_writer(self.token);
        }
    }

    fn read_ready(&self) {
        let mut buf = self.lp.take_read_buffer();
        for _ in 0..DATAGRAM_BUDGET {
            if self.closing.get() || self.io.borrow().closed {
                break;
            }
            let r = self.io.borrow_mut().raw.try_recv_from(&mut buf);
            match r {
                Ok((n, addr)) => {
                    let data = &buf[..n.min(buf.len())];
                    if self.dispatch(|p| p.datagram_received(data, addr)).is_none() {
                        break;
                    }
                }
                Err(e) if e.is_would_block() => break,
                Err(e) => {
                    self.dispatch(|p| p.error_received(e));
                    break;
                }
            }
        }
        self.lp.put_read_buffer(buf);
    }

    fn send_ready(&self) {
        if self.conn_lost.get() {
            return;
        }
        loop {
            let mut io = self.io.borrow_mut();
            let Some((data, addr)) = io.queue.pop_front() else {
                break;
            };
            io.size -= data.len() + DATAGRAM_HEADER_SIZE;
            match io.raw.try_send_to(&data, addr) {
                Ok(_) => {}
                Err(e) if e.is_would_block() => {
                    io.size += data.len() + DATAGRAM_HEADER_SIZE;
                    io.queue.push_front((data, addr));
                    break;
                }
                Err(e) => {
                    drop(io);
                    self.notify(Notice::ErrorReceived(e));
                    // asyncio stops here; the writer runs again on the next iteration.
                    self.maybe_resume();
                    return;
                }
            }
        }
        self.maybe_resume();
        if self.conn_lost.get() || !self.io.borrow().queue.is_empty() {
            return;
        }
        self.stop_writer();
        if self.closing.get() {
            self.schedule_lost(None);
        }
    }

    fn maybe_pause(&self) {
        let size = self.io.borrow().size;
        let mut flow = self.flow.get();
        if flow.check_pause(size) {
            self.flow.set(flow);
            self.notify(Notice::PauseWriting);
        }
    }

    fn maybe_resume(&self) {
        let size = self.io.borrow().size;
        let mut flow = self.flow.get();
        if flow.check_resume(size) {
            self.flow.set(flow);
            self.notify(Notice::ResumeWriting);
        }
    }

    fn force_close(&self, error: Option<Error>) {
        if self.conn_lost.get() {
            return;
        }
        {
            let mut io = self.io.borrow_mut();
            io.queue.clear();
            io.size = 0;
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
            io.queue.clear();
            io.size = 0;
            if !io.closed {
                io.closed = true;
                io.raw.close();
            }
        }
        drop(self.protocol.borrow_mut().take());
    }
}

impl<D: RawDatagram> BaseTransport for DatagramEndpoint<D> {
    fn close(&self) {
        if self.closing.replace(true) {
            return;
        }
        self.stop_reader();
        if self.io.borrow().queue.is_empty() {
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

impl<D: RawDatagram> DatagramTransport for DatagramEndpoint<D> {
    fn sendto(&self, data: &[u8], addr: Option<SocketAddr>) -> Result<()> {
        let target = match (self.peer, addr) {
            (Some(_), None) => None,
            (Some(peer), Some(a)) if a == peer => None,
            (Some(peer), Some(a)) => {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!("invalid address {a}: must be None or {peer}"),
                ));
            }
            (None, Some(a)) => Some(a),
            (None, None) => {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    "no destination address: the endpoint is not connected",
                ));
            }
        };
        if self.lost_done.get() {
            return Err(Error::new(ErrorKind::Runtime, "the endpoint is closed"));
        }
        if self.closing.get() {
            return Err(Error::new(ErrorKind::Runtime, "the endpoint is closing"));
        }
        let mut io = self.io.borrow_mut();
        if io.queue.is_empty() {
            match io.raw.try_send_to(data, target) {
                Ok(_) => return Ok(()),
                Err(e) if e.is_would_block() => {}
                Err(e) => {
                    drop(io);
                    self.notify(Notice::ErrorReceived(e));
                    return Ok(());
                }
            }
        }
        let was_empty = io.queue.is_empty();
        io.queue.push_back((data.to_vec(), target));
        io.size += data.len() + DATAGRAM_HEADER_SIZE;
        drop(io);
        if was_empty {
            self.start_writer();
        }
        self.maybe_pause();
        Ok(())
    }

    fn abort(&self) {
        self.force_close(None);
    }

    fn get_write_buffer_size(&self) -> usize {
        self.io.borrow().size
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
}
