//! [`Server`]: asyncio's `Server` over any backend's [`RawListener`]s.

use alloc::boxed::Box;
use alloc::rc::{Rc, Weak};
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::fmt;
use core::net::SocketAddr;
use core::time::Duration;

use slab::Slab;

use crate::error::{Error, ErrorKind, Result};
use crate::event_loop::EventLoop;
use crate::exception::ExceptionContext;
use crate::future::Future;
use crate::host::Token;
use crate::net::ServerOptions;
use crate::transport::{RawListener, StreamProtocolRef, StreamTransport, Transport};

/// asyncio's `ACCEPT_RETRY_DELAY`: how long a server stops accepting after a resource
/// error (out of file descriptors, …).
const ACCEPT_RETRY_DELAY: Duration = Duration::from_secs(1);

type Factory = Box<dyn FnMut() -> StreamProtocolRef>;

/// One listener, type-erased so that [`Server`] is one concrete type for every backend.
trait Listening {
    fn start(self: Rc<Self>, server: Rc<Shared>);
    fn stop(&self);
    fn close(&self);
    fn local_addr(&self) -> Option<SocketAddr>;
}

struct Acceptor<L: RawListener> {
    lp: EventLoop,
    token: Token,
    addr: Option<SocketAddr>,
    raw: RefCell<L>,
    reading: Cell<bool>,
    closed: Cell<bool>,
}

impl<L: RawListener> Acceptor<L> {
    fn accept_ready(self: &Rc<Self>, server: &Rc<Shared>) {
        for _ in 0..server.backlog.max(1) {
            if self.closed.get() || !server.serving.get() {
                return;
            }
            let accepted = self.raw.borrow_mut().try_accept();
            match accepted {
                Ok(stream) => server.accepted(&self.lp, stream),
                Err(e) if e.is_would_block() => return,
                // Went away before we accepted it: asyncio returns and waits for the
                // next readiness report.
                Err(e) if e.kind() == ErrorKind::ConnectionAborted => return,
                Err(e) => {
                    // Out of descriptors or memory: stop accepting for a while, as asyncio.
                    self.lp.call_exception_handler(
                        &ExceptionContext::new(
                            "error accepting a connection; the server pauses accepting for 1 second",
                        )
                        .with_error(e),
                    );
                    self.stop();
                    let this = self.clone();
                    let server = server.clone();
                    let _ = self.lp.call_later(ACCEPT_RETRY_DELAY, move || {
                        if server.serving.get() {
                            this.start(server);
                        }
                    });
                    return;
                }
            }
        }
    }
}

impl<L: RawListener> Listening for Acceptor<L> {
    fn start(self: Rc<Self>, server: Rc<Shared>) {
        if self.closed.get() || self.reading.replace(true) {
            return;
        }
        let this = self.clone();
        if let Err(e) = self
            .lp
            .add_reader(self.token, move || this.accept_ready(&server))
        {
            self.reading.set(false);
            self.lp.call_exception_handler(
                &ExceptionContext::new("cannot watch a listening socket").with_error(e),
            );
        }
    }

    fn stop(&self) {
        if self.reading.replace(false) {
            let _ = self.lp.remove_reader(self.token);
        }
    }

    fn close(&self) {
        self.stop();
        if !self.closed.replace(true) {
            self.raw.borrow_mut().close();
        }
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        self.addr
    }
}

struct Shared {
    lp: EventLoop,
    backlog: u32,
    factory: RefCell<Factory>,
    listeners: RefCell<Vec<Rc<dyn Listening>>>,
    serving: Cell<bool>,
    closed: Cell<bool>,
    /// Live connections (asyncio's `_active_count` and, since 3.13, `_clients`).
    clients: RefCell<Slab<Weak<dyn Transport>>>,
    waiters: RefCell<Vec<Future<()>>>,
    serving_forever: RefCell<Option<Future<()>>>,
}

impl Shared {
    fn accepted<S: crate::transport::RawStream>(self: &Rc<Self>, lp: &EventLoop, stream: S) {
        let protocol = {
            let mut factory = self.factory.borrow_mut();
            crate::panic::catch(&mut *factory)
        };
        let protocol = match protocol {
            Ok(p) => p,
            Err(e) => {
                // The stream is dropped (its backend releases it).
                lp.call_exception_handler(
                    &ExceptionContext::new("the server's protocol factory failed").with_error(e),
                );
                return;
            }
        };
        let transport = match StreamTransport::new(lp, stream, protocol) {
            Ok(t) => t,
            Err(_) => return,
        };
        let weak: Weak<StreamTransport<S>> = Rc::downgrade(&transport);
        let weak: Weak<dyn Transport> = weak;
        let key = self.clients.borrow_mut().insert(weak);
        let server = self.clone();
        transport.set_lost_hook(Box::new(move || server.detach(key)));
    }

    fn detach(&self, key: usize) {
        let mut clients = self.clients.borrow_mut();
        if clients.contains(key) {
            clients.remove(key);
        }
        let empty = clients.is_empty();
        drop(clients);
        if empty && self.closed.get() {
            self.wakeup();
        }
    }

    fn wakeup(&self) {
        let waiters = core::mem::take(&mut *self.waiters.borrow_mut());
        for w in waiters {
            if !w.done() {
                let _ = w.set_result(());
            }
        }
    }

    fn clients(&self) -> Vec<Rc<dyn Transport>> {
        self.clients
            .borrow()
            .iter()
            .filter_map(|(_, w)| w.upgrade())
            .collect()
    }
}

/// A listening server (asyncio's `Server`), created by
/// [`Net::create_server`](crate::net::Net::create_server).
///
/// Cloning gives another handle to the same server. The server keeps serving while its
/// listeners are registered with the loop, whether or not a handle is kept; call
/// [`close`](Self::close) to stop it.
#[derive(Clone)]
pub struct Server {
    shared: Rc<Shared>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("sockets", &self.sockets())
            .field("serving", &self.is_serving())
            .field("connections", &self.active_connections())
            .finish()
    }
}

impl Server {
    /// A server over `listeners`, calling `factory` for each accepted connection. Starts
    /// accepting at once if `options.start_serving`. Backends normally get one from
    /// [`Net::create_server`](crate::net::Net::create_server).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if the loop is closed (the listeners are closed).
    pub fn new<L: RawListener>(
        lp: &EventLoop,
        listeners: Vec<L>,
        factory: impl FnMut() -> StreamProtocolRef + 'static,
        options: &ServerOptions,
    ) -> Result<Server> {
        let listeners: Vec<Rc<dyn Listening>> = listeners
            .into_iter()
            .map(|raw| {
                Rc::new(Acceptor {
                    lp: lp.clone(),
                    token: raw.token(),
                    addr: raw.local_addr(),
                    raw: RefCell::new(raw),
                    reading: Cell::new(false),
                    closed: Cell::new(false),
                }) as Rc<dyn Listening>
            })
            .collect();
        let server = Server {
            shared: Rc::new(Shared {
                lp: lp.clone(),
                backlog: options.backlog,
                factory: RefCell::new(Box::new(factory)),
                listeners: RefCell::new(listeners),
                serving: Cell::new(false),
                closed: Cell::new(false),
                clients: RefCell::new(Slab::new()),
                waiters: RefCell::new(Vec::new()),
                serving_forever: RefCell::new(None),
            }),
        };
        if lp.is_closed() {
            server.close();
            return Err(Error::new(ErrorKind::Runtime, "event loop is closed"));
        }
        if options.start_serving {
            server.start_serving()?;
        }
        Ok(server)
    }

    /// The loop the server runs on.
    pub fn get_loop(&self) -> &EventLoop {
        &self.shared.lp
    }

    /// The addresses the server listens on; empty once closed (asyncio's `sockets`).
    /// Listeners without an IP socket address (Unix-domain sockets) are not listed.
    pub fn sockets(&self) -> Vec<SocketAddr> {
        self.shared
            .listeners
            .borrow()
            .iter()
            .filter_map(|l| l.local_addr())
            .collect()
    }

    /// Whether the server accepts new connections.
    pub fn is_serving(&self) -> bool {
        self.shared.serving.get()
    }

    /// Number of accepted connections whose `connection_lost` has not run yet.
    pub fn active_connections(&self) -> usize {
        self.shared.clients.borrow().len()
    }

    /// Start accepting connections (does nothing if already serving). Unlike asyncio's
    /// coroutine it takes effect at once: the listeners are watched from the next
    /// iteration.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if the server is closed.
    pub fn start_serving(&self) -> Result<()> {
        if self.shared.closed.get() {
            return Err(Error::new(ErrorKind::Runtime, "the server is closed"));
        }
        if self.shared.serving.replace(true) {
            return Ok(());
        }
        let listeners = self.shared.listeners.borrow().clone();
        for l in listeners {
            l.start(self.shared.clone());
        }
        Ok(())
    }

    /// Stop serving: close the listeners (connections not accepted yet are dropped).
    /// Accepted connections stay open; [`wait_closed`](Self::wait_closed) waits for them.
    /// A running [`serve_forever`](Self::serve_forever) ends with a cancellation. Closing
    /// twice does nothing.
    pub fn close(&self) {
        let shared = &self.shared;
        if shared.closed.replace(true) {
            return;
        }
        let listeners = core::mem::take(&mut *shared.listeners.borrow_mut());
        for l in &listeners {
            l.close();
        }
        shared.serving.set(false);
        if let Some(f) = shared.serving_forever.borrow_mut().take() {
            f.cancel();
        }
        if shared.clients.borrow().is_empty() {
            shared.wakeup();
        }
    }

    /// Close every accepted connection (flushing their buffers), as asyncio 3.13's
    /// `close_clients`.
    pub fn close_clients(&self) {
        for t in self.shared.clients() {
            t.close();
        }
    }

    /// Abort every accepted connection, as asyncio 3.13's `abort_clients`.
    pub fn abort_clients(&self) {
        for t in self.shared.clients() {
            t.abort();
        }
    }

    /// Wait until the server is closed **and** every accepted connection is gone (asyncio
    /// 3.12+). Returns at once if both already hold.
    pub async fn wait_closed(&self) {
        let shared = &self.shared;
        if shared.closed.get() && shared.clients.borrow().is_empty() {
            return;
        }
        let waiter = shared.lp.create_future::<()>();
        shared.waiters.borrow_mut().push(waiter.clone());
        // A cancellation of the awaiting task ends this wait; nothing else can fail it.
        let _ = waiter.await;
    }

    /// Start serving if needed and wait until the server is closed. Dropping the future
    /// (cancelling the task awaiting it) closes the server, as cancelling asyncio's
    /// `serve_forever` does.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if the server is closed or another `serve_forever` is
    /// running; [`ErrorKind::Cancelled`] once [`close`](Self::close) ends it (after its
    /// connections are gone, as asyncio awaits `wait_closed` there).
    pub async fn serve_forever(&self) -> Result<()> {
        if self.shared.serving_forever.borrow().is_some() {
            return Err(Error::new(
                ErrorKind::Runtime,
                "the server is already being awaited on serve_forever()",
            ));
        }
        if self.shared.closed.get() {
            return Err(Error::new(ErrorKind::Runtime, "the server is closed"));
        }
        self.start_serving()?;
        let fut = self.shared.lp.create_future::<()>();
        *self.shared.serving_forever.borrow_mut() = Some(fut.clone());

        struct CloseOnDrop<'a>(Option<&'a Server>);
        impl Drop for CloseOnDrop<'_> {
            fn drop(&mut self) {
                if let Some(s) = self.0.take() {
                    s.close();
                }
            }
        }
        let mut guard = CloseOnDrop(Some(self));
        let outcome = fut.await;
        guard.0 = None;
        self.close();
        self.wait_closed().await;
        match outcome {
            Err(e) => Err(e),
            Ok(()) => Err(Error::cancelled(None)),
        }
    }
}
