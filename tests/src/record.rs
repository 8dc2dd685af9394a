//! Recording protocols: [`Peer`] (a stream endpoint) and [`DgramPeer`] (a datagram
//! endpoint) record every callback in their lane and let a scenario wait for what they
//! observed; [`Accepted`] collects a server's peers.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::rc::Rc;

use loop_core::sync::Event as Signal;
use loop_core::transport::ExtraInfo;
use loop_core::{
    BufferedProtocol, DatagramProtocol, DatagramTransport, Error, ErrorKind, Protocol, Transport,
};

use crate::trace::{Event, Kind, Lane, Payload, Trace};

type PeerHook = Box<dyn FnMut(&Peer)>;
type DataHook = Box<dyn FnMut(&Peer, &[u8])>;

/// How a [`Peer`] reacts, besides recording.
#[derive(Default)]
pub struct Behaviour {
    /// `eof_received` returns this (`true`: stay half-open). Default `false`.
    pub keep_open_on_eof: bool,
    /// Call `pause_reading` in `connection_made`. Default `false`.
    pub pause_reading_on_made: bool,
    /// Write back what is received. Default `false`.
    pub echo: bool,
    /// Do not record received bytes in the lane (for amounts that depend on the backend's
    /// buffers; the scenario records a check instead). Default `false`.
    pub quiet_data: bool,
    /// Do not record `pause_writing` / `resume_writing` in the lane (for counts that
    /// depend on the backend's buffers; [`Peer::flow_counts`] still counts them).
    /// Default `false`.
    pub quiet_flow: bool,
    /// `set_write_buffer_limits(high, low)` in `connection_made`. Default none.
    pub limits: Option<(Option<usize>, Option<usize>)>,
    /// Run after recording `connection_made`.
    pub on_made: Option<PeerHook>,
    /// Run after recording received bytes.
    pub on_data: Option<DataHook>,
    /// Run after recording `eof_received` (before it returns).
    pub on_eof: Option<PeerHook>,
}

impl fmt::Debug for Behaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Behaviour")
            .field("keep_open_on_eof", &self.keep_open_on_eof)
            .field("pause_reading_on_made", &self.pause_reading_on_made)
            .field("echo", &self.echo)
            .field("quiet_data", &self.quiet_data)
            .field("quiet_flow", &self.quiet_flow)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Behaviour {
    /// Echo what is received.
    pub fn echo() -> Self {
        Behaviour {
            echo: true,
            ..Behaviour::default()
        }
    }

    /// Set [`keep_open_on_eof`](Self::keep_open_on_eof).
    #[must_use]
    pub fn keep_open(mut self) -> Self {
        self.keep_open_on_eof = true;
        self
    }

    /// Set [`pause_reading_on_made`](Self::pause_reading_on_made).
    #[must_use]
    pub fn paused(mut self) -> Self {
        self.pause_reading_on_made = true;
        self
    }

    /// Set [`quiet_data`](Self::quiet_data).
    #[must_use]
    pub fn quiet(mut self) -> Self {
        self.quiet_data = true;
        self
    }

    /// Set [`quiet_flow`](Self::quiet_flow).
    #[must_use]
    pub fn quiet_flow(mut self) -> Self {
        self.quiet_flow = true;
        self
    }

    /// Set [`limits`](Self::limits).
    #[must_use]
    pub fn limits(mut self, high: Option<usize>, low: Option<usize>) -> Self {
        self.limits = Some((high, low));
        self
    }

    /// Set [`on_made`](Self::on_made).
    #[must_use]
    pub fn on_made(mut self, f: impl FnMut(&Peer) + 'static) -> Self {
        self.on_made = Some(Box::new(f));
        self
    }

    /// Set [`on_data`](Self::on_data).
    #[must_use]
    pub fn on_data(mut self, f: impl FnMut(&Peer, &[u8]) + 'static) -> Self {
        self.on_data = Some(Box::new(f));
        self
    }

    /// Set [`on_eof`](Self::on_eof).
    #[must_use]
    pub fn on_eof(mut self, f: impl FnMut(&Peer) + 'static) -> Self {
        self.on_eof = Some(Box::new(f));
        self
    }
}

struct PeerState {
    lane: Lane,
    transport: RefCell<Option<Rc<dyn Transport>>>,
    received: RefCell<Vec<u8>>,
    made: Cell<bool>,
    eof: Cell<bool>,
    lost: Cell<bool>,
    lost_error: RefCell<Option<Error>>,
    paused: Cell<bool>,
    pauses: Cell<usize>,
    resumes: Cell<usize>,
    changed: Signal,
    /// Another signal pulsed with `changed` (the server's, for [`Accepted`]).
    also: RefCell<Option<Signal>>,
    behaviour: RefCell<Behaviour>,
}

/// A stream endpoint that records its callbacks in its lane: `made`, `data` (coalesced),
/// `eof`, `lost`, `pause`, `resume`. Cloning gives another handle to the same endpoint;
/// [`protocol`](Self::protocol) gives the [`Protocol`] to hand to a transport.
#[derive(Clone)]
pub struct Peer(Rc<PeerState>);

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer")
            .field("lane", &self.0.lane)
            .field("received", &self.0.received.borrow().len())
            .field("eof", &self.0.eof.get())
            .field("lost", &self.0.lost.get())
            .finish()
    }
}

impl Peer {
    /// An endpoint recording in `lane`.
    pub fn new(lane: Lane, behaviour: Behaviour) -> Self {
        Peer(Rc::new(PeerState {
            lane,
            transport: RefCell::new(None),
            received: RefCell::new(Vec::new()),
            made: Cell::new(false),
            eof: Cell::new(false),
            lost: Cell::new(false),
            lost_error: RefCell::new(None),
            paused: Cell::new(false),
            pauses: Cell::new(0),
            resumes: Cell::new(0),
            changed: Signal::new(),
            also: RefCell::new(None),
            behaviour: RefCell::new(behaviour),
        }))
    }

    /// The protocol driving this endpoint.
    pub fn protocol(&self) -> Recorder {
        Recorder(self.clone())
    }

    /// A buffered protocol driving this endpoint, lending a buffer of `capacity` bytes
    /// (at least 1) per read.
    pub fn buffered_protocol(&self, capacity: usize) -> BufferedRecorder {
        BufferedRecorder {
            peer: self.clone(),
            buf: vec![0; capacity.max(1)],
        }
    }

    /// The lane it records in.
    pub fn lane(&self) -> &Lane {
        &self.0.lane
    }

    /// The transport, once `connection_made` ran.
    ///
    /// # Panics
    ///
    /// Before `connection_made`: a scenario bug.
    pub fn transport(&self) -> Rc<dyn Transport> {
        self.0
            .transport
            .borrow()
            .clone()
            .expect("the transport exists once connection_made has run")
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<u8> {
        self.0.received.borrow().clone()
    }

    /// Number of bytes received so far.
    pub fn received_len(&self) -> usize {
        self.0.received.borrow().len()
    }

    /// Whether `connection_made` ran.
    pub fn is_made(&self) -> bool {
        self.0.made.get()
    }

    /// Whether `eof_received` ran.
    pub fn is_eof(&self) -> bool {
        self.0.eof.get()
    }

    /// Whether `connection_lost` ran.
    pub fn is_lost(&self) -> bool {
        self.0.lost.get()
    }

    /// The error `connection_lost` got.
    pub fn lost_error(&self) -> Option<Error> {
        self.0.lost_error.borrow().clone()
    }

    /// Whether writing is paused (`pause_writing` without a later `resume_writing`).
    pub fn is_paused(&self) -> bool {
        self.0.paused.get()
    }

    /// `(pause_writing, resume_writing)` calls so far.
    pub fn flow_counts(&self) -> (usize, usize) {
        (self.0.pauses.get(), self.0.resumes.get())
    }

    /// The transport's `"sockname"`.
    pub fn sockname(&self) -> Option<SocketAddr> {
        addr_info(self.transport().get_extra_info("sockname"))
    }

    /// The transport's `"peername"`.
    pub fn peername(&self) -> Option<SocketAddr> {
        addr_info(self.transport().get_extra_info("peername"))
    }

    /// Wait until `cond` holds (checked now and after every callback of this endpoint).
    pub async fn until(&self, mut cond: impl FnMut(&Peer) -> bool) {
        while !cond(self) {
            let changed = self.0.changed.clone();
            changed.wait().await;
        }
    }

    /// Wait until `connection_made` ran.
    pub async fn made(&self) {
        self.until(Peer::is_made).await;
    }

    /// Wait until at least `n` bytes were received.
    pub async fn received_at_least(&self, n: usize) {
        self.until(|p| p.received_len() >= n).await;
    }

    /// Wait until `eof_received` ran.
    pub async fn eof(&self) {
        self.until(Peer::is_eof).await;
    }

    /// Wait until `connection_lost` ran.
    pub async fn lost(&self) {
        self.until(Peer::is_lost).await;
    }

    /// Wait until writing is paused.
    pub async fn paused(&self) {
        self.until(Peer::is_paused).await;
    }

    /// Wait until writing is not paused.
    pub async fn resumed(&self) {
        self.until(|p| !p.is_paused()).await;
    }

    fn pulse(&self) {
        self.0.changed.set();
        self.0.changed.clear();
        if let Some(also) = &*self.0.also.borrow() {
            also.set();
            also.clear();
        }
    }

    fn with_hook<H>(
        &self,
        take: impl FnOnce(&mut Behaviour) -> Option<H>,
        put: impl FnOnce(&mut Behaviour, H),
        run: impl FnOnce(&mut H),
    ) {
        let hook = take(&mut self.0.behaviour.borrow_mut());
        if let Some(mut h) = hook {
            run(&mut h);
            put(&mut self.0.behaviour.borrow_mut(), h);
        }
    }

    fn on_made(&self, transport: Rc<dyn Transport>) {
        *self.0.transport.borrow_mut() = Some(transport.clone());
        self.0.made.set(true);
        self.0.lane.push(Event::Made);
        let (limits, pause) = {
            let b = self.0.behaviour.borrow();
            (b.limits, b.pause_reading_on_made)
        };
        if let Some((high, low)) = limits {
            let set = transport.set_write_buffer_limits(high, low);
            if set.is_err() {
                self.0.lane.status("set_write_buffer_limits", &set);
            }
        }
        if pause {
            transport.pause_reading();
        }
        let me = self.clone();
        self.with_hook(|b| b.on_made.take(), |b, h| b.on_made = Some(h), |h| h(&me));
        self.pulse();
    }

    fn on_data(&self, data: &[u8]) {
        let (quiet, echo) = {
            let b = self.0.behaviour.borrow();
            (b.quiet_data, b.echo)
        };
        if !quiet {
            self.0.lane.data(data);
        }
        self.0.received.borrow_mut().extend_from_slice(data);
        if echo {
            let echoed = self.transport().write(data);
            if echoed.is_err() {
                self.0.lane.status("echo", &echoed);
            }
        }
        let me = self.clone();
        self.with_hook(
            |b| b.on_data.take(),
            |b, h| b.on_data = Some(h),
            |h| h(&me, data),
        );
        self.pulse();
    }

    fn on_eof(&self) -> bool {
        self.0.eof.set(true);
        self.0.lane.push(Event::Eof);
        let me = self.clone();
        self.with_hook(|b| b.on_eof.take(), |b, h| b.on_eof = Some(h), |h| h(&me));
        self.pulse();
        self.0.behaviour.borrow().keep_open_on_eof
    }

    fn on_lost(&self, error: Option<Error>) {
        self.0.lane.lost(error.as_ref());
        *self.0.lost_error.borrow_mut() = error;
        self.0.lost.set(true);
        self.pulse();
    }

    fn on_pause(&self) {
        if !self.0.behaviour.borrow().quiet_flow {
            self.0.lane.push(Event::Pause);
        }
        self.0.paused.set(true);
        self.0.pauses.set(self.0.pauses.get() + 1);
        self.pulse();
    }

    fn on_resume(&self) {
        if !self.0.behaviour.borrow().quiet_flow {
            self.0.lane.push(Event::Resume);
        }
        self.0.paused.set(false);
        self.0.resumes.set(self.0.resumes.get() + 1);
        self.pulse();
    }
}

fn addr_info(info: Option<ExtraInfo>) -> Option<SocketAddr> {
    match info {
        Some(ExtraInfo::Addr(a)) => Some(a),
        _ => None,
    }
}

/// The [`Protocol`] of a [`Peer`].
#[derive(Debug)]
pub struct Recorder(Peer);

impl Protocol for Recorder {
    fn connection_made(&mut self, transport: Rc<dyn Transport>) {
        self.0.on_made(transport);
    }
    fn data_received(&mut self, data: &[u8]) {
        self.0.on_data(data);
    }
    fn eof_received(&mut self) -> bool {
        self.0.on_eof()
    }
    fn connection_lost(&mut self, error: Option<Error>) {
        self.0.on_lost(error);
    }
    fn pause_writing(&mut self) {
        self.0.on_pause();
    }
    fn resume_writing(&mut self) {
        self.0.on_resume();
    }
}

/// The [`BufferedProtocol`] of a [`Peer`]: the transport reads into its fixed buffer.
#[derive(Debug)]
pub struct BufferedRecorder {
    peer: Peer,
    buf: Vec<u8>,
}

impl BufferedProtocol for BufferedRecorder {
    fn connection_made(&mut self, transport: Rc<dyn Transport>) {
        self.peer.on_made(transport);
    }
    fn get_buffer(&mut self, _size_hint: usize) -> &mut [u8] {
        &mut self.buf
    }
    fn buffer_updated(&mut self, nbytes: usize) {
        let data = self.buf[..nbytes].to_vec();
        self.peer.on_data(&data);
    }
    fn eof_received(&mut self) -> bool {
        self.peer.on_eof()
    }
    fn connection_lost(&mut self, error: Option<Error>) {
        self.peer.on_lost(error);
    }
    fn pause_writing(&mut self) {
        self.peer.on_pause();
    }
    fn resume_writing(&mut self) {
        self.peer.on_resume();
    }
}

/// The peers a server accepted, in accept order, each recording in lane
/// `PREFIX` + its accept number (from 1).
#[derive(Clone)]
pub struct Accepted {
    trace: Trace,
    prefix: Rc<str>,
    peers: Rc<RefCell<Vec<Peer>>>,
    changed: Signal,
}

impl fmt::Debug for Accepted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Accepted")
            .field("prefix", &self.prefix)
            .field("peers", &self.peers.borrow().len())
            .finish()
    }
}

impl Accepted {
    /// Peers recording in lanes `PREFIX1`, `PREFIX2`, … of `trace`.
    pub fn new(trace: &Trace, prefix: &str) -> Self {
        Accepted {
            trace: trace.clone(),
            prefix: Rc::from(prefix),
            peers: Rc::default(),
            changed: Signal::new(),
        }
    }

    /// A protocol factory for `create_server`: each call makes the next peer, with the
    /// behaviour `behaviour` returns.
    pub fn factory(
        &self,
        behaviour: impl Fn() -> Behaviour + 'static,
    ) -> impl FnMut() -> Recorder + 'static {
        let this = self.clone();
        move || {
            let n = this.peers.borrow().len() + 1;
            let peer = Peer::new(this.trace.lane(format!("{}{n}", this.prefix)), behaviour());
            this.peers.borrow_mut().push(peer.clone());
            // Waiters on the server learn when the peer's connection is made.
            *peer.0.also.borrow_mut() = Some(this.changed.clone());
            this.changed.set();
            this.changed.clear();
            peer.protocol()
        }
    }

    /// Number of peers accepted so far.
    pub fn len(&self) -> usize {
        self.peers.borrow().len()
    }

    /// Whether none was accepted yet.
    pub fn is_empty(&self) -> bool {
        self.peers.borrow().is_empty()
    }

    /// The `n`-th accepted peer (from 1).
    ///
    /// # Panics
    ///
    /// If fewer were accepted: await [`made`](Self::made) first.
    pub fn peer(&self, n: usize) -> Peer {
        self.peers.borrow()[n - 1].clone()
    }

    /// Wait until `n` peers were accepted and their `connection_made` ran; returns the
    /// `n`-th.
    pub async fn made(&self, n: usize) -> Peer {
        loop {
            let ready = {
                let peers = self.peers.borrow();
                peers.len() >= n && peers[..n].iter().all(Peer::is_made)
            };
            if ready {
                return self.peer(n);
            }
            let changed = self.changed.clone();
            changed.wait().await;
        }
    }
}

struct DgramState {
    lane: Lane,
    labels: Labels,
    transport: RefCell<Option<Rc<dyn DatagramTransport>>>,
    received: RefCell<Vec<(Vec<u8>, SocketAddr)>>,
    errors: RefCell<Vec<Kind>>,
    lost: Cell<bool>,
    changed: Signal,
    echo: bool,
}

/// Names for socket addresses, so that traces say who sent a datagram without showing
/// addresses (ports differ between backends). Shared by a scenario's endpoints.
#[derive(Clone, Default, Debug)]
pub struct Labels(Rc<RefCell<BTreeMap<SocketAddr, String>>>);

impl Labels {
    /// No names yet.
    pub fn new() -> Self {
        Labels::default()
    }

    /// Call `addr` `name`.
    pub fn name(&self, addr: SocketAddr, name: &str) {
        self.0.borrow_mut().insert(addr, name.to_owned());
    }

    /// The name of `addr`, or `unknown`.
    pub fn of(&self, addr: SocketAddr) -> String {
        self.0
            .borrow()
            .get(&addr)
            .cloned()
            .unwrap_or_else(|| "unknown".to_owned())
    }
}

/// A datagram endpoint that records its callbacks in its lane: `made`, `datagram FROM`
/// (one event per datagram), `error_received`, `lost`.
#[derive(Clone)]
pub struct DgramPeer(Rc<DgramState>);

impl fmt::Debug for DgramPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DgramPeer")
            .field("lane", &self.0.lane)
            .field("received", &self.0.received.borrow().len())
            .finish()
    }
}

impl DgramPeer {
    /// An endpoint recording in `lane`, naming senders with `labels`; with `echo`, it
    /// sends every datagram back to its sender.
    pub fn new(lane: Lane, labels: &Labels, echo: bool) -> Self {
        DgramPeer(Rc::new(DgramState {
            lane,
            labels: labels.clone(),
            transport: RefCell::new(None),
            received: RefCell::new(Vec::new()),
            errors: RefCell::new(Vec::new()),
            lost: Cell::new(false),
            changed: Signal::new(),
            echo,
        }))
    }

    /// The protocol driving this endpoint.
    pub fn protocol(&self) -> DgramRecorder {
        DgramRecorder(self.clone())
    }

    /// The transport, once `connection_made` ran.
    ///
    /// # Panics
    ///
    /// Before `connection_made`.
    pub fn transport(&self) -> Rc<dyn DatagramTransport> {
        self.0
            .transport
            .borrow()
            .clone()
            .expect("the transport exists once connection_made has run")
    }

    /// The transport's `"sockname"`.
    pub fn sockname(&self) -> Option<SocketAddr> {
        addr_info(self.transport().get_extra_info("sockname"))
    }

    /// Datagrams received so far, with their senders.
    pub fn received(&self) -> Vec<(Vec<u8>, SocketAddr)> {
        self.0.received.borrow().clone()
    }

    /// Number of `error_received` calls.
    pub fn error_count(&self) -> usize {
        self.0.errors.borrow().len()
    }

    /// Whether `connection_lost` ran.
    pub fn is_lost(&self) -> bool {
        self.0.lost.get()
    }

    /// Wait until `cond` holds (checked now and after every callback).
    pub async fn until(&self, mut cond: impl FnMut(&DgramPeer) -> bool) {
        while !cond(self) {
            let changed = self.0.changed.clone();
            changed.wait().await;
        }
    }

    /// Wait until `n` datagrams were received.
    pub async fn datagrams(&self, n: usize) {
        self.until(|p| p.0.received.borrow().len() >= n).await;
    }

    /// Wait until `n` errors were received.
    pub async fn errors(&self, n: usize) {
        self.until(|p| p.error_count() >= n).await;
    }

    /// Wait until `connection_lost` ran.
    pub async fn lost(&self) {
        self.until(DgramPeer::is_lost).await;
    }

    fn pulse(&self) {
        self.0.changed.set();
        self.0.changed.clear();
    }
}

/// The [`DatagramProtocol`] of a [`DgramPeer`].
#[derive(Debug)]
pub struct DgramRecorder(DgramPeer);

impl DatagramProtocol for DgramRecorder {
    fn connection_made(&mut self, transport: Rc<dyn DatagramTransport>) {
        *self.0.0.transport.borrow_mut() = Some(transport);
        self.0.0.lane.push(Event::Made);
        self.0.pulse();
    }

    fn datagram_received(&mut self, data: &[u8], addr: SocketAddr) {
        let s = &self.0.0;
        s.lane
            .push(Event::Datagram(s.labels.of(addr), Payload::new(data)));
        s.received.borrow_mut().push((data.to_vec(), addr));
        if s.echo {
            let sent = self.0.transport().sendto(data, Some(addr));
            if sent.is_err() {
                s.lane.status("echo", &sent);
            }
        }
        self.0.pulse();
    }

    fn error_received(&mut self, error: Error) {
        let kind = Kind::of_error(&error);
        self.0.0.lane.push(Event::ErrorReceived(kind.clone()));
        self.0.0.errors.borrow_mut().push(kind);
        self.0.pulse();
    }

    fn connection_lost(&mut self, error: Option<Error>) {
        self.0.0.lane.lost(error.as_ref());
        self.0.0.lost.set(true);
        self.0.pulse();
    }
}

/// An error of `kind` for a scenario whose expectation failed (returned from the
/// scenario: the runner reports it as a failure on that backend).
pub fn unexpected(what: impl Into<String>) -> Error {
    Error::new(ErrorKind::Other, what.into())
}
