//! Shared helpers for the transport and network tests: a simulated world, a recording
//! protocol, and a way to run the loop for a stretch of virtual time.
#![allow(dead_code, reason = "each test crate uses a different subset")]
#![allow(
    unreachable_pub,
    reason = "helpers shared by the test crates, not an API"
)]

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use loop_core::net::{Net, Server, ServerOptions};
use loop_core::sim::{NetConfig, SimHost, SimNet};
use loop_core::{Error, ErrorKind, EventLoop, ExtraInfo, Protocol, Transport};

/// A loop on a simulation host with a simulated network.
pub struct World {
    pub host: SimHost,
    pub lp: EventLoop,
    pub net: SimNet,
}

pub fn world(seed: u64) -> World {
    world_with(seed, NetConfig::default())
}

pub fn world_with(seed: u64, config: NetConfig) -> World {
    let host = SimHost::new(seed);
    let lp = EventLoop::new(host.clone());
    let net = SimNet::with_config(&lp, &host, config);
    World { host, lp, net }
}

impl World {
    /// Run the loop for `d` of virtual time (everything that can happen meanwhile does).
    pub fn run_for(&self, d: Duration) {
        let lp = self.lp.clone();
        self.lp.call_later(d, move || lp.stop()).unwrap();
        self.lp.run_forever().unwrap();
    }

    /// Run a little: enough for any number of zero-latency exchanges.
    pub fn settle(&self) {
        self.run_for(Duration::from_millis(1));
    }

    /// Run `fut` to completion.
    pub fn block_on<T: 'static>(&self, fut: impl std::future::Future<Output = T> + 'static) -> T {
        self.lp.run_until_complete(fut).unwrap()
    }

    /// A server on `addr` whose connections are driven by recorders named `name`; the
    /// recorders are collected in the returned list, in accept order.
    pub fn recording_server(
        &self,
        addr: SocketAddr,
        name: &'static str,
        log: &Log,
        setup: impl Fn(&mut Recorder) + 'static,
    ) -> (Server, Accepted) {
        let accepted: Accepted = Rc::default();
        let list = accepted.clone();
        let log = log.clone();
        let net = self.net.clone();
        let server = self.block_on(async move {
            // The factory returns a fresh protocol; the test keeps a handle to each one.
            let factory = move || {
                let r = Rc::new(RefCell::new(Recorder::new(name, &log)));
                setup(&mut r.borrow_mut());
                list.borrow_mut().push(r.clone());
                SharedRecorder(r)
            };
            net.create_server(factory, addr, ServerOptions::default())
                .await
                .unwrap()
        });
        (server, accepted)
    }

    /// Connect a recorder named `name` to `addr`.
    pub fn connect(
        &self,
        addr: SocketAddr,
        name: &'static str,
        log: &Log,
        setup: impl FnOnce(&mut Recorder) + 'static,
    ) -> (Rc<dyn Transport>, Rc<RefCell<Recorder>>) {
        let net = self.net.clone();
        let log = log.clone();
        self.block_on(async move {
            net.create_connection(
                move || {
                    let mut r = Recorder::new(name, &log);
                    setup(&mut r);
                    r
                },
                addr,
            )
            .await
            .unwrap()
        })
    }
}

/// The recorders of a server's connections, in accept order.
pub type Accepted = Rc<RefCell<Vec<Rc<RefCell<Recorder>>>>>;

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub type Log = Rc<RefCell<Vec<String>>>;

pub fn new_log() -> Log {
    Rc::default()
}

type DataHook = Box<dyn FnMut(&Rc<dyn Transport>, &[u8])>;
type TransportHook = Box<dyn FnMut(&Rc<dyn Transport>)>;

/// A protocol that records everything that happens to it and checks the callback order
/// (connection_made first and once, connection_lost last and once, no data after EOF).
pub struct Recorder {
    pub name: &'static str,
    pub log: Log,
    pub transport: Option<Rc<dyn Transport>>,
    pub keep_open: bool,
    pub received: Vec<u8>,
    pub reads: usize,
    pub made: usize,
    pub eof: usize,
    pub lost: Vec<Option<ErrorKind>>,
    pub paused: usize,
    pub resumed: usize,
    /// Write-buffer size seen at each pause / resume.
    pub pause_sizes: Vec<usize>,
    pub resume_sizes: Vec<usize>,
    pub violations: Vec<String>,
    pub on_made: Option<TransportHook>,
    pub on_data: Option<DataHook>,
    pub on_eof: Option<TransportHook>,
    pub on_pause: Option<TransportHook>,
    pub on_resume: Option<TransportHook>,
}

impl Recorder {
    pub fn new(name: &'static str, log: &Log) -> Self {
        Recorder {
            name,
            log: log.clone(),
            transport: None,
            keep_open: false,
            received: Vec::new(),
            reads: 0,
            made: 0,
            eof: 0,
            lost: Vec::new(),
            paused: 0,
            resumed: 0,
            pause_sizes: Vec::new(),
            resume_sizes: Vec::new(),
            violations: Vec::new(),
            on_made: None,
            on_data: None,
            on_eof: None,
            on_pause: None,
            on_resume: None,
        }
    }

    fn note(&self, what: String) {
        self.log.borrow_mut().push(format!("{}: {what}", self.name));
    }

    fn check_alive(&mut self, what: &str) {
        if self.made != 1 {
            self.violations
                .push(format!("{what} before connection_made"));
        }
        if !self.lost.is_empty() {
            self.violations
                .push(format!("{what} after connection_lost"));
        }
    }

    pub fn t(&self) -> Rc<dyn Transport> {
        self.transport.clone().expect("connection made")
    }

    /// The one `connection_lost` error kind (panics unless it was called exactly once).
    pub fn lost_kind(&self) -> Option<ErrorKind> {
        assert_eq!(self.lost.len(), 1, "{}: connection_lost calls", self.name);
        self.lost[0]
    }
}

impl Protocol for Recorder {
    fn connection_made(&mut self, transport: Rc<dyn Transport>) {
        if self.made > 0 {
            self.violations.push("connection_made twice".into());
        }
        self.made += 1;
        self.note("made".into());
        self.transport = Some(transport.clone());
        if let Some(mut hook) = self.on_made.take() {
            hook(&transport);
            self.on_made = Some(hook);
        }
    }

    fn data_received(&mut self, data: &[u8]) {
        self.check_alive("data_received");
        if self.eof > 0 {
            self.violations
                .push("data_received after eof_received".into());
        }
        if data.is_empty() {
            self.violations.push("empty data_received".into());
        }
        self.reads += 1;
        self.received.extend_from_slice(data);
        self.note(format!("data {}", data.len()));
        if let Some(mut hook) = self.on_data.take() {
            hook(&self.t(), data);
            self.on_data = Some(hook);
        }
    }

    fn eof_received(&mut self) -> bool {
        self.check_alive("eof_received");
        self.eof += 1;
        if self.eof > 1 {
            self.violations.push("eof_received twice".into());
        }
        self.note("eof".into());
        if let Some(mut hook) = self.on_eof.take() {
            hook(&self.t());
            self.on_eof = Some(hook);
        }
        self.keep_open
    }

    fn connection_lost(&mut self, error: Option<Error>) {
        self.check_alive("connection_lost");
        let kind = error.as_ref().map(Error::kind);
        self.lost.push(kind);
        self.note(format!("lost {kind:?}"));
    }

    fn pause_writing(&mut self) {
        self.check_alive("pause_writing");
        if self.paused != self.resumed {
            self.violations.push("pause_writing twice in a row".into());
        }
        self.paused += 1;
        let size = self.t().get_write_buffer_size();
        self.pause_sizes.push(size);
        self.note(format!("pause at {size}"));
        if let Some(mut hook) = self.on_pause.take() {
            hook(&self.t());
            self.on_pause = Some(hook);
        }
    }

    fn resume_writing(&mut self) {
        self.check_alive("resume_writing");
        if self.paused != self.resumed + 1 {
            self.violations
                .push("resume_writing without pause_writing".into());
        }
        self.resumed += 1;
        let size = self.t().get_write_buffer_size();
        self.resume_sizes.push(size);
        self.note(format!("resume at {size}"));
        if let Some(mut hook) = self.on_resume.take() {
            hook(&self.t());
            self.on_resume = Some(hook);
        }
    }
}

/// A recorder the test keeps a handle to (server factories create protocols the test
/// cannot otherwise reach).
pub struct SharedRecorder(pub Rc<RefCell<Recorder>>);

impl Protocol for SharedRecorder {
    fn connection_made(&mut self, transport: Rc<dyn Transport>) {
        self.0.borrow_mut().connection_made(transport);
    }
    fn data_received(&mut self, data: &[u8]) {
        self.0.borrow_mut().data_received(data);
    }
    fn eof_received(&mut self) -> bool {
        self.0.borrow_mut().eof_received()
    }
    fn connection_lost(&mut self, error: Option<Error>) {
        self.0.borrow_mut().connection_lost(error);
    }
    fn pause_writing(&mut self) {
        self.0.borrow_mut().pause_writing();
    }
    fn resume_writing(&mut self) {
        self.0.borrow_mut().resume_writing();
    }
}

/// The address a transport reports under `key`.
pub fn extra_addr(t: &Rc<dyn Transport>, key: &str) -> SocketAddr {
    match t.get_extra_info(key) {
        Some(ExtraInfo::Addr(a)) => a,
        other => panic!("{key}: {other:?}"),
    }
}

/// Assert that `r` saw no ordering violation.
pub fn assert_clean(r: &Recorder) {
    assert!(r.violations.is_empty(), "{}: {:?}", r.name, r.violations);
}
