//! A recording mock transport for the stream tests: counts pause/resume calls, keeps what
//! was written, and on `close` schedules `connection_lost(None)` on its protocol.

#![allow(
    dead_code,
    reason = "each test file uses a different part of the helpers"
)]
#![allow(unreachable_pub, reason = "a module shared by several test crates")]

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use loop_core::transport::{BaseTransport, ExtraInfo, Transport};
use loop_core::{Error, ErrorKind, EventLoop, Protocol, Result};

/// The loop and the protocol a [`MockTransport`] reports its close to.
type Peer = (EventLoop, Weak<RefCell<dyn Protocol>>);

/// A transport that records what the stream layer asks of it.
#[derive(Default)]
pub struct MockTransport {
    pub written: RefCell<Vec<u8>>,
    pub pauses: Cell<usize>,
    pub resumes: Cell<usize>,
    pub paused: Cell<bool>,
    pub closing: Cell<bool>,
    pub eof_written: Cell<bool>,
    pub closes: Cell<usize>,
    pub aborts: Cell<usize>,
    pub tls: Cell<bool>,
    /// Set with [`MockTransport::attach`]: the protocol told about `close`.
    peer: RefCell<Option<Peer>>,
}

impl MockTransport {
    pub fn new() -> Rc<Self> {
        Rc::new(MockTransport::default())
    }

    /// Make `close` schedule `connection_lost(None)` on `protocol` (as a real transport
    /// does once its buffer is flushed).
    pub fn attach(&self, lp: &EventLoop, protocol: &Rc<RefCell<dyn Protocol>>) {
        *self.peer.borrow_mut() = Some((lp.clone(), Rc::downgrade(protocol)));
    }

    pub fn written(&self) -> Vec<u8> {
        self.written.borrow().clone()
    }
}

impl BaseTransport for MockTransport {
    fn close(&self) {
        self.closes.set(self.closes.get() + 1);
        if self.closing.replace(true) {
            return;
        }
        if let Some((lp, protocol)) = self.peer.borrow().clone() {
            lp.call_soon(move || {
                if let Some(p) = protocol.upgrade() {
                    p.borrow_mut().connection_lost(None);
                }
            })
            .unwrap();
        }
    }

    fn is_closing(&self) -> bool {
        self.closing.get()
    }

    fn get_extra_info(&self, name: &str) -> Option<ExtraInfo> {
        match name {
            "peername" => Some(ExtraInfo::Addr("192.0.2.1:80".parse().unwrap())),
            "sslcontext" if self.tls.get() => Some(ExtraInfo::Text("tls".into())),
            _ => None,
        }
    }
}

impl Transport for MockTransport {
    fn write(&self, data: &[u8]) -> Result<()> {
        if self.closing.get() || self.eof_written.get() {
            return Err(Error::new(ErrorKind::Runtime, "write after close"));
        }
        self.written.borrow_mut().extend_from_slice(data);
        Ok(())
    }

    fn writelines(&self, data: &[&[u8]]) -> Result<()> {
        for d in data {
            self.write(d)?;
        }
        Ok(())
    }

    fn write_eof(&self) -> Result<()> {
        if self.closing.get() {
            return Err(Error::new(ErrorKind::Runtime, "closing"));
        }
        self.eof_written.set(true);
        Ok(())
    }

    fn can_write_eof(&self) -> bool {
        true
    }

    fn abort(&self) {
        self.aborts.set(self.aborts.get() + 1);
        self.closing.set(true);
    }

    fn pause_reading(&self) {
        self.pauses.set(self.pauses.get() + 1);
        self.paused.set(true);
    }

    fn resume_reading(&self) {
        self.resumes.set(self.resumes.get() + 1);
        self.paused.set(false);
    }

    fn is_reading(&self) -> bool {
        !self.paused.get() && !self.closing.get()
    }

    fn set_write_buffer_limits(&self, _high: Option<usize>, _low: Option<usize>) -> Result<()> {
        Ok(())
    }

    fn get_write_buffer_limits(&self) -> (usize, usize) {
        (16 * 1024, 64 * 1024)
    }

    fn get_write_buffer_size(&self) -> usize {
        0
    }
}

/// Poll `fut` once with a no-op waker: `Some(output)` if it completed at once.
pub fn poll_once<F: std::future::Future>(fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    match fut
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}
