//! A recording protocol for the transport tests: what the transport told it, with
//! loop futures to await each milestone.

use std::cell::RefCell;
use std::rc::Rc;

use loop_core::{Error, EventLoop, Future, Protocol, Transport};

/// What one connection's protocol saw, shared with the test.
#[derive(Default)]
pub(crate) struct Log {
    pub(crate) data: Vec<u8>,
    pub(crate) eof: bool,
    pub(crate) lost: Option<Option<Error>>,
    pub(crate) paused: usize,
    pub(crate) resumed: usize,
    pub(crate) transport: Option<Rc<dyn Transport>>,
    want: Option<(usize, Future<()>)>,
}

/// The test's handle on one connection.
#[derive(Clone)]
pub(crate) struct Conn {
    pub(crate) log: Rc<RefCell<Log>>,
    pub(crate) made: Future<()>,
    pub(crate) eof: Future<()>,
    pub(crate) lost: Future<Option<Error>>,
    pub(crate) paused: Future<()>,
    pub(crate) resumed: Future<()>,
}

impl Conn {
    pub(crate) fn new(lp: &EventLoop) -> Conn {
        Conn {
            log: Rc::default(),
            made: lp.create_future(),
            eof: lp.create_future(),
            lost: lp.create_future(),
            paused: lp.create_future(),
            resumed: lp.create_future(),
        }
    }

    pub(crate) fn transport(&self) -> Rc<dyn Transport> {
        self.log
            .borrow()
            .transport
            .clone()
            .expect("connection_made ran")
    }

    pub(crate) fn data(&self) -> Vec<u8> {
        self.log.borrow().data.clone()
    }

    /// Completes once `n` bytes in total were received.
    pub(crate) fn received(&self, lp: &EventLoop, n: usize) -> Future<()> {
        let f = lp.create_future::<()>();
        let mut log = self.log.borrow_mut();
        if log.data.len() >= n {
            f.set_result(()).unwrap();
        } else {
            log.want = Some((n, f.clone()));
        }
        f
    }
}

/// What the protocol does besides recording.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Record only; `eof_received` returns `false` (the transport closes).
    #[default]
    Record,
    /// Write back what it receives; close on end of stream.
    Echo,
    /// Record; `eof_received` returns `true` (half-open).
    KeepOpen,
}

/// The recording protocol.
pub(crate) struct Rec {
    conn: Conn,
    mode: Mode,
}

impl Rec {
    pub(crate) fn new(conn: Conn, mode: Mode) -> Rec {
        Rec { conn, mode }
    }
}

impl Protocol for Rec {
    fn connection_made(&mut self, transport: Rc<dyn Transport>) {
        self.conn.log.borrow_mut().transport = Some(transport);
        self.conn.made.set_result(()).unwrap();
    }

    fn data_received(&mut self, data: &[u8]) {
        let mut log = self.conn.log.borrow_mut();
        log.data.extend_from_slice(data);
        if log.want.as_ref().is_some_and(|(n, _)| log.data.len() >= *n) {
            let (_, f) = log.want.take().unwrap();
            f.set_result(()).unwrap();
        }
        if self.mode == Mode::Echo {
            log.transport.as_ref().unwrap().write(data).unwrap();
        }
    }

    fn eof_received(&mut self) -> bool {
        self.conn.log.borrow_mut().eof = true;
        self.conn.eof.set_result(()).unwrap();
        self.mode == Mode::KeepOpen
    }

    fn connection_lost(&mut self, error: Option<Error>) {
        self.conn.log.borrow_mut().lost = Some(error.clone());
        self.conn.lost.set_result(error).unwrap();
    }

    fn pause_writing(&mut self) {
        self.conn.log.borrow_mut().paused += 1;
        if !self.conn.paused.done() {
            self.conn.paused.set_result(()).unwrap();
        }
    }

    fn resume_writing(&mut self) {
        self.conn.log.borrow_mut().resumed += 1;
        if !self.conn.resumed.done() {
            self.conn.resumed.set_result(()).unwrap();
        }
    }
}

/// The connections a server accepted, in order.
#[derive(Default)]
pub(crate) struct Accepted {
    conns: RefCell<Vec<Conn>>,
    waiting: RefCell<Vec<(usize, Future<()>)>>,
}

impl Accepted {
    /// The `i`-th accepted connection, once its `connection_made` ran.
    pub(crate) async fn nth(&self, lp: &EventLoop, i: usize) -> Conn {
        if self.conns.borrow().len() <= i {
            let f = lp.create_future::<()>();
            self.waiting.borrow_mut().push((i, f.clone()));
            f.await.unwrap();
        }
        let conn = self.conns.borrow()[i].clone();
        conn.made.clone().await.unwrap();
        conn
    }

    pub(crate) fn len(&self) -> usize {
        self.conns.borrow().len()
    }

    fn push(&self, conn: Conn) {
        self.conns.borrow_mut().push(conn);
        let len = self.conns.borrow().len();
        self.waiting.borrow_mut().retain(|(i, f)| {
            if *i < len {
                f.set_result(()).unwrap();
                false
            } else {
                true
            }
        });
    }
}

/// A server-side factory: each connection's [`Conn`] is recorded in the returned
/// [`Accepted`].
pub(crate) fn recorder_factory(
    lp: &EventLoop,
    mode: Mode,
) -> (Rc<Accepted>, impl FnMut() -> Rec + 'static) {
    let accepted: Rc<Accepted> = Rc::default();
    let (list, lp) = (accepted.clone(), lp.clone());
    let factory = move || {
        let conn = Conn::new(&lp);
        list.push(conn.clone());
        Rec::new(conn, mode)
    };
    (accepted, factory)
}

/// Bytes of a recognisable pattern (position-dependent, so a lost or repeated chunk
/// shows).
pub(crate) fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}
