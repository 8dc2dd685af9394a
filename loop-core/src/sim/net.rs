//! [`SimNet`]: an in-memory network on the [`SimHost`], implementing [`Net`].
//!
//! # Model
//!
//! - **Streams** behave as TCP over loopback. A connect sends a SYN that arrives after a
//!   latency; with no listener on the address (or a full backlog) the client gets
//!   [`ErrorKind::ConnectionRefused`]. Otherwise the server side exists at once and waits
//!   in the listener's queue until it can be accepted (after a random *accept delay*),
//!   and the client is connected when the SYN-ACK arrives.
//! - Each direction has a **window** ([`NetConfig::stream_window`]): bytes in flight plus
//!   bytes received and not read. A writer facing a full window gets `WouldBlock`, so a
//!   peer that stops reading ([`SimConnection::hold_reads`], or a paused transport) makes
//!   the sender's transport buffer and call `pause_writing`.
//! - Writes are cut into **segments** of random size ([`NetConfig::max_segment`]), each
//!   delivered after a random latency but never before the previous segment of the same
//!   direction (TCP keeps order), so the receiver sees arbitrary splits of the stream.
//! - Closing a socket sends FIN, or RST when received data was left unread (as Linux
//!   does); data arriving at a closed socket is answered with RST. A reset end fails its
//!   reads and writes with [`ErrorKind::ConnectionReset`].
//! - **Datagrams** get independent latencies (they may be reordered) and can be lost
//!   ([`FaultPlan::datagram_loss`]). A datagram to a port nobody bound is dropped; if the
//!   sender is *connected* to that address it then receives
//!   [`ErrorKind::ConnectionRefused`] on its next receive (Linux's report of an ICMP port
//!   unreachable on a connected UDP socket); an unconnected sender learns nothing. A
//!   connected endpoint drops datagrams from other senders; a full receive buffer drops
//!   new datagrams.
//!
//! Every random choice comes from the host's seeded generator and every event is ordered
//! by `(time, sequence)`; all tables are ordered maps keyed by never-reused ids. A seed
//! therefore reproduces a run event for event ([`SimNet::trace`] records them).

use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::rc::{Rc, Weak};
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use core::time::Duration;

use crate::error::{Error, ErrorKind, Result};
use crate::event_loop::EventLoop;
use crate::host::{Interest, Token};
use crate::net::{Net, ServerOptions};
use crate::sim::{SimHost, SimSource};
use crate::time::Instant;
use crate::transport::{ExtraInfo, RawDatagram, RawListener, RawStream, wait_ready};

/// The largest datagram payload (IPv4 UDP).
const MAX_DATAGRAM: usize = 65_507;
/// First port handed out for port 0 (the IANA dynamic range).
const EPHEMERAL_START: u16 = 49_152;

/// Probabilities of injected faults, all drawn from the seeded generator.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct FaultPlan {
    /// Chance that the arrival of a stream data segment resets its connection instead
    /// (both ends then fail with [`ErrorKind::ConnectionReset`]). Default 0.
    pub reset_probability: f64,
    /// Chance that a datagram is lost. Default 0.
    pub datagram_loss: f64,
}

impl FaultPlan {
    /// No faults.
    pub const fn none() -> Self {
        FaultPlan {
            reset_probability: 0.0,
            datagram_loss: 0.0,
        }
    }

    /// Set [`reset_probability`](Self::reset_probability).
    #[must_use]
    pub fn with_reset_probability(mut self, p: f64) -> Self {
        self.reset_probability = p;
        self
    }

    /// Set [`datagram_loss`](Self::datagram_loss).
    #[must_use]
    pub fn with_datagram_loss(mut self, p: f64) -> Self {
        self.datagram_loss = p;
        self
    }
}

/// How the simulated network behaves. The defaults make it an ideal network: no latency,
/// no splitting, immediate accept, 256 KiB windows, no faults.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct NetConfig {
    /// Shortest one-way latency of a segment, SYN or datagram. Default 0.
    pub min_latency: Duration,
    /// Longest one-way latency (each delivery draws uniformly in between). Default 0.
    pub max_latency: Duration,
    /// When set, each write is cut into segments of random sizes in `1..=max`. Default
    /// `None` (one segment per write).
    pub max_segment: Option<usize>,
    /// Longest delay between a connection's arrival and the moment it can be accepted
    /// (drawn uniformly in `[0, accept_delay]`). Default 0.
    pub accept_delay: Duration,
    /// Bytes one direction of a stream holds (in flight plus unread). Default 256 KiB.
    pub stream_window: usize,
    /// Bytes of datagrams a datagram socket holds unread. Default 256 KiB.
    pub datagram_buffer: usize,
    /// Injected faults. Default none.
    pub faults: FaultPlan,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            min_latency: Duration::ZERO,
            max_latency: Duration::ZERO,
            max_segment: None,
            accept_delay: Duration::ZERO,
            stream_window: 256 * 1024,
            datagram_buffer: 256 * 1024,
            faults: FaultPlan::none(),
        }
    }
}

impl NetConfig {
    /// Set the latency range.
    ///
    /// # Panics
    ///
    /// If `min > max`.
    #[must_use]
    pub fn with_latency(mut self, min: Duration, max: Duration) -> Self {
        assert!(min <= max, "min latency above max latency");
        self.min_latency = min;
        self.max_latency = max;
        self
    }

    /// Cut writes into random segments of at most `max` bytes.
    ///
    /// # Panics
    ///
    /// If `max` is 0.
    #[must_use]
    pub fn with_max_segment(mut self, max: usize) -> Self {
        assert!(max > 0, "segments hold at least one byte");
        self.max_segment = Some(max);
        self
    }

    /// Set the longest accept delay.
    #[must_use]
    pub fn with_accept_delay(mut self, max: Duration) -> Self {
        self.accept_delay = max;
        self
    }

    /// Set the per-direction stream window.
    ///
    /// # Panics
    ///
    /// If `bytes` is 0 (nothing could ever be sent).
    #[must_use]
    pub fn with_stream_window(mut self, bytes: usize) -> Self {
        assert!(bytes > 0, "a window holds at least one byte");
        self.stream_window = bytes;
        self
    }

    /// Set the datagram receive buffer.
    #[must_use]
    pub fn with_datagram_buffer(mut self, bytes: usize) -> Self {
        self.datagram_buffer = bytes;
        self
    }

    /// Set the fault plan.
    #[must_use]
    pub fn with_faults(mut self, faults: FaultPlan) -> Self {
        self.faults = faults;
        self
    }
}

/// What happened on the simulated wire.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NetEventKind {
    /// A SYN reached a listener; the connection waits to be accepted.
    Syn,
    /// A SYN found no listener (or a full backlog): the client is refused.
    Refused,
    /// The SYN-ACK reached the client: it is connected.
    Established,
    /// A segment of `len` bytes was delivered.
    Data {
        /// Its size.
        len: usize,
    },
    /// End of stream was delivered.
    Fin,
    /// A reset was delivered (injected, or the answer to data for a closed socket).
    Reset,
    /// A datagram of `len` bytes was delivered.
    Datagram {
        /// Its size.
        len: usize,
    },
    /// A datagram was dropped (lost, unbound port, filtered, or buffer full).
    DatagramDropped {
        /// Its size.
        len: usize,
    },
}

/// One entry of [`SimNet::trace`]: a delivery to a socket that still exists (a FIN or
/// data reaching a closed socket is not recorded; the reset it causes is).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetEvent {
    /// When it happened (virtual time).
    pub at: Instant,
    /// Sender address.
    pub from: SocketAddr,
    /// Receiver address.
    pub to: SocketAddr,
    /// What happened.
    pub kind: NetEventKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Connecting,
    Established,
    Failed,
}

struct StreamEnd {
    token: Option<Token>,
    local: SocketAddr,
    peer: SocketAddr,
    peer_id: Option<u64>,
    phase: Phase,
    rx: VecDeque<u8>,
    rx_fin: bool,
    /// A pending failure: reads and writes return it.
    error: Option<Error>,
    in_flight: usize,
    /// Arrival time of the last segment this end sent (keeps a direction in order).
    last_arrival: Instant,
    wr_shut: bool,
    hold_reads: bool,
    /// Local port to release when closed (client ends only).
    owns_port: bool,
}

struct ListenerState {
    backlog: usize,
    /// Stream ids waiting to be accepted, with when they become acceptable.
    queue: VecDeque<(u64, Instant)>,
}

struct UdpEnd {
    remote: Option<SocketAddr>,
    rx: VecDeque<(Vec<u8>, SocketAddr)>,
    rx_bytes: usize,
    error: Option<Error>,
}

enum Segment {
    Syn { to: SocketAddr },
    SynAck,
    Refused,
    Data(Vec<u8>),
    Fin,
    Rst,
}

struct NetState {
    config: NetConfig,
    next_id: u64,
    streams: BTreeMap<u64, StreamEnd>,
    listeners: BTreeMap<u64, ListenerState>,
    listen_addrs: BTreeMap<SocketAddr, u64>,
    udps: BTreeMap<u64, UdpEnd>,
    udp_addrs: BTreeMap<SocketAddr, u64>,
    /// Ports of client sockets, per IP.
    client_ports: BTreeMap<(IpAddr, u16), u64>,
    next_port: u16,
    trace: Option<Vec<NetEvent>>,
}

struct NetInner {
    lp: EventLoop,
    host: SimHost,
    me: Weak<NetInner>,
    state: RefCell<NetState>,
}

/// The simulated network: a [`Net`] backend whose sockets live in memory on a
/// [`SimHost`]. Cloning gives another handle to the same network.
///
/// ```
/// use loop_core::{EventLoop, sim::{NetConfig, SimHost, SimNet}};
/// use core::time::Duration;
///
/// let host = SimHost::new(42);
/// let lp = EventLoop::new(host.clone());
/// let net = SimNet::with_config(&lp, &host, NetConfig::default()
///     .with_latency(Duration::from_millis(1), Duration::from_millis(20))
///     .with_max_segment(100));
/// # let _ = net;
/// ```
#[derive(Clone)]
pub struct SimNet {
    inner: Rc<NetInner>,
}

impl fmt::Debug for SimNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.inner.state.borrow();
        f.debug_struct("SimNet")
            .field("streams", &st.streams.len())
            .field("listeners", &st.listeners.len())
            .field("datagram_sockets", &st.udps.len())
            .field("config", &st.config)
            .finish()
    }
}

fn loopback_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
    }
}

fn unspecified_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// The address a socket bound to `local` sends from when talking to `dst`.
fn source_addr(local: SocketAddr, dst: SocketAddr) -> SocketAddr {
    if local.ip().is_unspecified() {
        let ip = if dst.ip().is_unspecified() {
            loopback_of(dst.ip())
        } else {
            dst.ip()
        };
        SocketAddr::new(ip, local.port())
    } else {
        local
    }
}

impl NetState {
    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn record(&mut self, at: Instant, from: SocketAddr, to: SocketAddr, kind: NetEventKind) {
        if let Some(t) = &mut self.trace {
            t.push(NetEvent { at, from, to, kind });
        }
    }

    fn port_in_use(&self, ip: IpAddr, port: u16) -> bool {
        let any = unspecified_of(ip);
        self.client_ports.contains_key(&(ip, port))
            || self.listen_addrs.contains_key(&SocketAddr::new(ip, port))
            || self.listen_addrs.contains_key(&SocketAddr::new(any, port))
            || self.udp_addrs.contains_key(&SocketAddr::new(ip, port))
            || self.udp_addrs.contains_key(&SocketAddr::new(any, port))
    }

    fn ephemeral_port(&mut self, ip: IpAddr) -> Result<u16> {
        let span = usize::from(u16::MAX - EPHEMERAL_START) + 1;
        for _ in 0..span {
            let port = self.next_port;
            self.next_port = if port == u16::MAX {
                EPHEMERAL_START
            } else {
                port + 1
            };
            if !self.port_in_use(ip, port) {
                return Ok(port);
            }
        }
        Err(Error::new(
            ErrorKind::AddrNotAvailable,
            "no free ephemeral port",
        ))
    }

    fn find_listener(&self, dst: SocketAddr) -> Option<u64> {
        self.listen_addrs
            .get(&dst)
            .or_else(|| {
                self.listen_addrs
                    .get(&SocketAddr::new(unspecified_of(dst.ip()), dst.port()))
            })
            .copied()
    }

    fn find_udp(&self, dst: SocketAddr) -> Option<u64> {
        self.udp_addrs
            .get(&dst)
            .or_else(|| {
                self.udp_addrs
                    .get(&SocketAddr::new(unspecified_of(dst.ip()), dst.port()))
            })
            .copied()
    }

    fn stream_readiness(&self, id: u64) -> Interest {
        let Some(end) = self.streams.get(&id) else {
            return Interest::BOTH;
        };
        match end.phase {
            Phase::Connecting => Interest::NONE,
            Phase::Failed => Interest::BOTH,
            Phase::Established if end.error.is_some() => Interest::BOTH,
            Phase::Established => {
                let mut r = Interest::NONE;
                let readable = if end.rx.is_empty() {
                    end.rx_fin
                } else {
                    !end.hold_reads
                };
                if readable {
                    r = r.add(Interest::READABLE);
                }
                if !end.wr_shut && self.window_free(end) > 0 {
                    r = r.add(Interest::WRITABLE);
                }
                r
            }
        }
    }

    fn window_free(&self, end: &StreamEnd) -> usize {
        let peer_unread = end
            .peer_id
            .and_then(|p| self.streams.get(&p))
            .map_or(0, |p| p.rx.len());
        self.config
            .stream_window
            .saturating_sub(end.in_flight + peer_unread)
    }
}

struct Source {
    net: Weak<NetInner>,
    kind: SourceKind,
}

#[derive(Clone, Copy)]
enum SourceKind {
    Stream(u64),
    Listener(u64),
    Udp(u64),
}

impl SimSource for Source {
    fn readiness(&self) -> Interest {
        let Some(net) = self.net.upgrade() else {
            return Interest::NONE;
        };
        let st = net.state.borrow();
        match self.kind {
            SourceKind::Stream(id) => st.stream_readiness(id),
            SourceKind::Listener(id) => match st.listeners.get(&id) {
                Some(l) if l.queue.iter().any(|(_, at)| *at <= net.host.now()) => {
                    Interest::READABLE
                }
                _ => Interest::NONE,
            },
            SourceKind::Udp(id) => match st.udps.get(&id) {
                Some(u) if u.error.is_some() || !u.rx.is_empty() => Interest::BOTH,
                Some(_) => Interest::WRITABLE,
                None => Interest::NONE,
            },
        }
    }
}

impl NetInner {
    fn rc(&self) -> Rc<NetInner> {
        self.me
            .upgrade()
            .expect("a SimNet is always owned by an Rc")
    }

    fn latency(&self) -> Duration {
        let (min, max) = {
            let st = self.state.borrow();
            (st.config.min_latency, st.config.max_latency)
        };
        if max > min {
            min + self.host.random_delay(max - min)
        } else {
            min
        }
    }

    fn chance(&self, p: f64) -> bool {
        p > 0.0 && self.host.with_rng(|r| r.f64()) < p
    }

    fn register(&self, kind: SourceKind) -> Token {
        let token = self.lp.register_io();
        self.host.attach(
            token,
            Rc::new(Source {
                net: self.me.clone(),
                kind,
            }),
        );
        token
    }

    fn unregister(&self, token: Token) {
        self.host.detach(token);
        let _ = self.lp.deregister_io(token);
    }

    /// Send `seg` from stream `from` to stream `to` (or, for a SYN, to an address),
    /// arriving after a latency and never before the previous segment from `from`.
    fn send(&self, from: u64, to: u64, seg: Segment) {
        let now = self.host.now();
        let at = {
            let arrival = now + self.latency();
            let mut st = self.state.borrow_mut();
            match st.streams.get_mut(&from) {
                Some(end) => {
                    let at = arrival.max(end.last_arrival);
                    end.last_arrival = at;
                    at
                }
                None => arrival,
            }
        };
        let net = self.me.clone();
        self.host.schedule(at, move |_| {
            if let Some(net) = net.upgrade() {
                net.arrive(from, to, seg);
            }
        });
    }

    fn arrive(&self, from: u64, to: u64, seg: Segment) {
        let now = self.host.now();
        match seg {
            Segment::Syn { to: dst } => self.syn_arrives(from, dst),
            Segment::SynAck => {
                let mut st = self.state.borrow_mut();
                match st.streams.get_mut(&to) {
                    Some(c) if c.phase == Phase::Connecting => {
                        c.phase = Phase::Established;
                        let (f, t) = (c.peer, c.local);
                        st.record(now, f, t, NetEventKind::Established);
                    }
                    Some(_) => {}
                    None => {
                        // The client gave up: reset the server side.
                        drop(st);
                        self.send(to, from, Segment::Rst);
                    }
                }
            }
            Segment::Refused => {
                let mut st = self.state.borrow_mut();
                if let Some(c) = st.streams.get_mut(&to) {
                    c.phase = Phase::Failed;
                    c.error = Some(Error::new(
                        ErrorKind::ConnectionRefused,
                        format!("connection to {} refused", c.peer),
                    ));
                    let (f, t) = (c.peer, c.local);
                    st.record(now, f, t, NetEventKind::Refused);
                }
            }
            Segment::Data(bytes) => self.data_arrives(from, to, bytes),
            Segment::Fin => {
                let mut st = self.state.borrow_mut();
                if let Some(end) = st.streams.get_mut(&to) {
                    end.rx_fin = true;
                    let (f, t) = (end.peer, end.local);
                    st.record(now, f, t, NetEventKind::Fin);
                }
            }
            Segment::Rst => {
                let mut st = self.state.borrow_mut();
                if let Some(end) = st.streams.get_mut(&to) {
                    reset_end(end);
                    let (f, t) = (end.peer, end.local);
                    st.record(now, f, t, NetEventKind::Reset);
                }
            }
        }
    }

    fn syn_arrives(&self, client: u64, dst: SocketAddr) {
        let now = self.host.now();
        let mut st = self.state.borrow_mut();
        let Some(c) = st.streams.get(&client) else {
            return;
        };
        let client_addr = c.local;
        let listener = st
            .find_listener(dst)
            .filter(|l| st.listeners[l].queue.len() < st.listeners[l].backlog);
        let Some(lid) = listener else {
            drop(st);
            self.send(0, client, Segment::Refused);
            return;
        };
        let server = st.new_id();
        st.streams.insert(
            server,
            StreamEnd {
                token: None,
                local: dst,
                peer: client_addr,
                peer_id: Some(client),
                phase: Phase::Established,
                rx: VecDeque::new(),
                rx_fin: false,
                error: None,
                in_flight: 0,
                last_arrival: now,
                wr_shut: false,
                hold_reads: false,
                owns_port: false,
            },
        );
        if let Some(c) = st.streams.get_mut(&client) {
            c.peer_id = Some(server);
        }
        let accept_delay = st.config.accept_delay;
        st.record(now, client_addr, dst, NetEventKind::Syn);
        drop(st);
        let visible = now + self.host.random_delay(accept_delay);
        if let Some(l) = self.state.borrow_mut().listeners.get_mut(&lid) {
            l.queue.push_back((server, visible));
        }
        if visible > now {
            // Wake the world when the connection becomes acceptable.
            self.host.schedule(visible, |_| {});
        }
        self.send(server, client, Segment::SynAck);
    }

    fn data_arrives(&self, from: u64, to: u64, bytes: Vec<u8>) {
        let now = self.host.now();
        let len = bytes.len();
        let reset = {
            let p = self.state.borrow().config.faults.reset_probability;
            self.chance(p)
        };
        let mut st = self.state.borrow_mut();
        if let Some(f) = st.streams.get_mut(&from) {
            f.in_flight = f.in_flight.saturating_sub(len);
        }
        if reset {
            let mut addrs = None;
            for id in [from, to] {
                if let Some(end) = st.streams.get_mut(&id) {
                    reset_end(end);
                    addrs.get_or_insert((end.local, end.peer));
                }
            }
            if let Some((f, t)) = addrs {
                st.record(now, f, t, NetEventKind::Reset);
            }
            return;
        }
        match st.streams.get_mut(&to) {
            Some(end) if end.error.is_none() => {
                end.rx.extend(bytes.iter());
                let (f, t) = (end.peer, end.local);
                st.record(now, f, t, NetEventKind::Data { len });
            }
            Some(_) => {}
            None => {
                // Data for a closed socket: answer with a reset.
                drop(st);
                self.send(to, from, Segment::Rst);
            }
        }
    }

    fn segment_sizes(&self, total: usize) -> Vec<usize> {
        let max = self.state.borrow().config.max_segment;
        let mut sizes = Vec::new();
        match max {
            None => sizes.push(total),
            Some(max) => {
                let mut left = total;
                while left > 0 {
                    let n = self.host.with_rng(|r| r.usize(1..=max.min(left)));
                    sizes.push(n);
                    left -= n;
                }
            }
        }
        sizes
    }

    fn close_stream(&self, id: u64) {
        // Decide while the end still exists, so a FIN or RST is ordered after the data
        // this end already sent (`send` clamps to the end's last arrival).
        let farewell = {
            let st = self.state.borrow();
            let Some(end) = st.streams.get(&id) else {
                return;
            };
            match (end.peer_id, end.phase, &end.error) {
                (Some(peer), Phase::Established, None) if !end.rx.is_empty() => {
                    // Unread data: Linux answers a close with a reset.
                    Some((peer, Segment::Rst))
                }
                (Some(peer), Phase::Established, None) if !end.wr_shut => {
                    Some((peer, Segment::Fin))
                }
                _ => None,
            }
        };
        if let Some((peer, seg)) = farewell {
            self.send(id, peer, seg);
        }
        let mut st = self.state.borrow_mut();
        let Some(end) = st.streams.remove(&id) else {
            return;
        };
        if end.owns_port {
            st.client_ports.remove(&(end.local.ip(), end.local.port()));
        }
        drop(st);
        if let Some(token) = end.token {
            self.unregister(token);
        }
    }
}

fn reset_end(end: &mut StreamEnd) {
    if end.error.is_none() {
        end.error = Some(Error::new(
            ErrorKind::ConnectionReset,
            "connection reset by peer",
        ));
    }
    end.rx.clear();
    end.rx_fin = false;
    end.in_flight = 0;
}

impl SimNet {
    /// An ideal network (see [`NetConfig::default`]) on `host`, whose sockets register
    /// with `lp` (a loop running on that host).
    pub fn new(lp: &EventLoop, host: &SimHost) -> Self {
        SimNet::with_config(lp, host, NetConfig::default())
    }

    /// A network with `config`.
    pub fn with_config(lp: &EventLoop, host: &SimHost, config: NetConfig) -> Self {
        SimNet {
            inner: Rc::new_cyclic(|me| NetInner {
                lp: lp.clone(),
                host: host.clone(),
                me: me.clone(),
                state: RefCell::new(NetState {
                    config,
                    next_id: 0,
                    streams: BTreeMap::new(),
                    listeners: BTreeMap::new(),
                    listen_addrs: BTreeMap::new(),
                    udps: BTreeMap::new(),
                    udp_addrs: BTreeMap::new(),
                    client_ports: BTreeMap::new(),
                    next_port: EPHEMERAL_START,
                    trace: None,
                }),
            }),
        }
    }

    /// The current configuration.
    pub fn config(&self) -> NetConfig {
        self.inner.state.borrow().config.clone()
    }

    /// Change the configuration; it applies to what is sent from now on.
    pub fn set_config(&self, config: NetConfig) {
        self.inner.state.borrow_mut().config = config;
    }

    /// The host this network runs on.
    pub fn host(&self) -> &SimHost {
        &self.inner.host
    }

    /// Start (or stop) recording [`NetEvent`]s; starting clears the record.
    pub fn set_tracing(&self, on: bool) {
        self.inner.state.borrow_mut().trace = on.then(Vec::new);
    }

    /// The events recorded since [`set_tracing(true)`](Self::set_tracing).
    pub fn trace(&self) -> Vec<NetEvent> {
        self.inner.state.borrow().trace.clone().unwrap_or_default()
    }

    /// The end of an established stream bound to `local` and connected to `peer` (use a
    /// transport's `"sockname"` and `"peername"`), to inject faults into it.
    pub fn connection(&self, local: SocketAddr, peer: SocketAddr) -> Option<SimConnection> {
        let st = self.inner.state.borrow();
        st.streams
            .iter()
            .find(|(_, e)| e.local == local && e.peer == peer)
            .map(|(&id, _)| SimConnection {
                net: self.inner.clone(),
                id,
            })
    }

    /// Number of stream ends alive (connecting, established or waiting to be accepted).
    pub fn open_streams(&self) -> usize {
        self.inner.state.borrow().streams.len()
    }
}

/// Test controls for one end of a simulated stream (see [`SimNet::connection`]).
#[derive(Clone)]
pub struct SimConnection {
    net: Rc<NetInner>,
    id: u64,
}

impl fmt::Debug for SimConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConnection")
            .field("id", &self.id)
            .finish()
    }
}

impl SimConnection {
    /// Reset the connection now: both ends fail their next read or write with
    /// [`ErrorKind::ConnectionReset`] and drop what they hold.
    pub fn reset(&self) {
        let now = self.net.host.now();
        let mut st = self.net.state.borrow_mut();
        let peer = st.streams.get(&self.id).and_then(|e| e.peer_id);
        let mut addrs = None;
        for id in [Some(self.id), peer].into_iter().flatten() {
            if let Some(end) = st.streams.get_mut(&id) {
                reset_end(end);
                addrs.get_or_insert((end.local, end.peer));
            }
        }
        if let Some((f, t)) = addrs {
            st.record(now, f, t, NetEventKind::Reset);
        }
    }

    /// Stop (or resume) handing received data to this end's reader, as an application
    /// that does not read: its unread bytes fill the window and the peer's writes block.
    pub fn hold_reads(&self, hold: bool) {
        if let Some(end) = self.net.state.borrow_mut().streams.get_mut(&self.id) {
            end.hold_reads = hold;
        }
    }

    /// Bytes received by this end and not read yet.
    pub fn unread(&self) -> usize {
        self.net
            .state
            .borrow()
            .streams
            .get(&self.id)
            .map_or(0, |e| e.rx.len())
    }

    /// Whether this end still exists (not closed by its owner).
    pub fn is_open(&self) -> bool {
        self.net.state.borrow().streams.contains_key(&self.id)
    }
}

/// A simulated stream socket ([`RawStream`]).
pub struct SimStream {
    net: Rc<NetInner>,
    id: u64,
    token: Token,
    local: SocketAddr,
    peer: SocketAddr,
    closed: bool,
}

impl fmt::Debug for SimStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimStream")
            .field("local", &self.local)
            .field("peer", &self.peer)
            .field("closed", &self.closed)
            .finish()
    }
}

impl Drop for SimStream {
    fn drop(&mut self) {
        if !self.closed {
            self.closed = true;
            self.net.close_stream(self.id);
        }
    }
}

impl SimStream {
    fn with_end<R>(&self, f: impl FnOnce(&mut NetState, &mut StreamEnd) -> R) -> Result<R> {
        let mut st = self.net.state.borrow_mut();
        let Some(mut end) = st.streams.remove(&self.id) else {
            return Err(Error::new(ErrorKind::NotConnected, "the socket is closed"));
        };
        let r = f(&mut st, &mut end);
        st.streams.insert(self.id, end);
        Ok(r)
    }

    /// Queue `data` (already limited to the free window) as segments to the peer.
    fn transmit(&self, peer: u64, data: &[u8]) {
        let mut at = 0;
        for n in self.net.segment_sizes(data.len()) {
            self.net
                .send(self.id, peer, Segment::Data(data[at..at + n].to_vec()));
            at += n;
        }
    }

    /// How much of a `len`-byte write can go now, and to which peer.
    fn write_room(&self, len: usize) -> Result<(u64, usize)> {
        let st = self.net.state.borrow();
        let Some(end) = st.streams.get(&self.id) else {
            return Err(Error::new(ErrorKind::NotConnected, "the socket is closed"));
        };
        if let Some(e) = &end.error {
            return Err(e.clone());
        }
        if end.wr_shut {
            return Err(Error::new(
                ErrorKind::BrokenPipe,
                "the write side is shut down",
            ));
        }
        let (Phase::Established, Some(peer)) = (end.phase, end.peer_id) else {
            return Err(Error::from_kind(ErrorKind::WouldBlock));
        };
        let free = st.window_free(end);
        if free == 0 {
            return Err(Error::from_kind(ErrorKind::WouldBlock));
        }
        Ok((peer, free.min(len)))
    }

    fn account(&self, n: usize) {
        if let Some(end) = self.net.state.borrow_mut().streams.get_mut(&self.id) {
            end.in_flight += n;
        }
    }
}

impl RawStream for SimStream {
    fn token(&self) -> Token {
        self.token
    }

    fn try_read(&mut self, buf: &mut [u8]) -> Result<usize> {
        self.with_end(|_, end| {
            if let Some(e) = &end.error {
                return Err(e.clone());
            }
            if end.phase != Phase::Established {
                return Err(Error::from_kind(ErrorKind::WouldBlock));
            }
            if end.rx.is_empty() {
                return if end.rx_fin {
                    Ok(0)
                } else {
                    Err(Error::from_kind(ErrorKind::WouldBlock))
                };
            }
            if end.hold_reads {
                return Err(Error::from_kind(ErrorKind::WouldBlock));
            }
            let n = buf.len().min(end.rx.len());
            for (dst, src) in buf.iter_mut().zip(end.rx.drain(..n)) {
                *dst = src;
            }
            Ok(n)
        })?
    }

    fn try_write(&mut self, buf: &[u8]) -> Result<usize> {
        let (peer, n) = self.write_room(buf.len())?;
        self.account(n);
        self.transmit(peer, &buf[..n]);
        Ok(n)
    }

    fn try_write_vectored(&mut self, bufs: &[&[u8]]) -> Result<usize> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let (peer, n) = self.write_room(total)?;
        let mut data = Vec::with_capacity(n);
        for b in bufs {
            let take = (n - data.len()).min(b.len());
            data.extend_from_slice(&b[..take]);
        }
        self.account(n);
        self.transmit(peer, &data);
        Ok(n)
    }

    fn shutdown_write(&mut self) -> Result<()> {
        let peer = self.with_end(|_, end| {
            if let Some(e) = &end.error {
                return Err(e.clone());
            }
            if end.wr_shut {
                return Ok(None);
            }
            end.wr_shut = true;
            Ok(end.peer_id)
        })??;
        if let Some(peer) = peer {
            self.net.send(self.id, peer, Segment::Fin);
        }
        Ok(())
    }

    fn close(&mut self) {
        if !self.closed {
            self.closed = true;
            self.net.close_stream(self.id);
        }
    }

    fn extra_info(&self, name: &str) -> Option<ExtraInfo> {
        match name {
            "peername" => Some(ExtraInfo::Addr(self.peer)),
            "sockname" => Some(ExtraInfo::Addr(self.local)),
            _ => None,
        }
    }
}

/// A simulated listening socket ([`RawListener`]).
pub struct SimListener {
    net: Rc<NetInner>,
    id: u64,
    token: Token,
    addr: SocketAddr,
    closed: bool,
}

impl fmt::Debug for SimListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimListener")
            .field("addr", &self.addr)
            .field("closed", &self.closed)
            .finish()
    }
}

impl SimListener {
    fn shut(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        let pending = {
            let mut st = self.net.state.borrow_mut();
            st.listen_addrs.remove(&self.addr);
            st.listeners
                .remove(&self.id)
                .map(|l| l.queue)
                .unwrap_or_default()
        };
        self.net.unregister(self.token);
        // Connections nobody accepted are reset, as the kernel does (after the SYN-ACK
        // already on its way: the reset is sent before the end is forgotten).
        for (id, _) in pending {
            let peer = self
                .net
                .state
                .borrow()
                .streams
                .get(&id)
                .and_then(|e| e.peer_id);
            if let Some(peer) = peer {
                self.net.send(id, peer, Segment::Rst);
            }
            self.net.state.borrow_mut().streams.remove(&id);
        }
    }
}

impl Drop for SimListener {
    fn drop(&mut self) {
        self.shut();
    }
}

impl RawListener for SimListener {
    type Stream = SimStream;

    fn token(&self) -> Token {
        self.token
    }

    fn try_accept(&mut self) -> Result<SimStream> {
        let now = self.net.host.now();
        let id = {
            let mut st = self.net.state.borrow_mut();
            let Some(l) = st.listeners.get_mut(&self.id) else {
                return Err(Error::new(
                    ErrorKind::NotConnected,
                    "the listener is closed",
                ));
            };
            let Some(pos) = l.queue.iter().position(|(_, at)| *at <= now) else {
                return Err(Error::from_kind(ErrorKind::WouldBlock));
            };
            l.queue.remove(pos).map(|(id, _)| id)
        };
        let Some(id) = id else {
            return Err(Error::from_kind(ErrorKind::WouldBlock));
        };
        let token = self.net.register(SourceKind::Stream(id));
        let mut st = self.net.state.borrow_mut();
        let end = st
            .streams
            .get_mut(&id)
            .expect("a queued connection exists until accepted or the listener closes");
        end.token = Some(token);
        Ok(SimStream {
            net: self.net.clone(),
            id,
            token,
            local: end.local,
            peer: end.peer,
            closed: false,
        })
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        Some(self.addr)
    }

    fn close(&mut self) {
        self.shut();
    }
}

/// A simulated datagram socket ([`RawDatagram`]).
pub struct SimDatagram {
    net: Rc<NetInner>,
    id: u64,
    token: Token,
    local: SocketAddr,
    remote: Option<SocketAddr>,
    closed: bool,
}

impl fmt::Debug for SimDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimDatagram")
            .field("local", &self.local)
            .field("remote", &self.remote)
            .field("closed", &self.closed)
            .finish()
    }
}

impl SimDatagram {
    fn shut(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        {
            let mut st = self.net.state.borrow_mut();
            st.udps.remove(&self.id);
            st.udp_addrs.remove(&self.local);
        }
        self.net.unregister(self.token);
    }
}

impl Drop for SimDatagram {
    fn drop(&mut self) {
        self.shut();
    }
}

impl NetInner {
    fn datagram_arrives(&self, from: u64, src: SocketAddr, dst: SocketAddr, data: Vec<u8>) {
        let now = self.host.now();
        let len = data.len();
        let mut st = self.state.borrow_mut();
        let limit = st.config.datagram_buffer;
        let target = st.find_udp(dst);
        let delivered = match target.and_then(|id| st.udps.get_mut(&id)) {
            Some(u) if u.remote.is_some_and(|r| r != src) => false,
            Some(u) if u.rx_bytes + len > limit => false,
            Some(u) => {
                u.rx_bytes += len;
                u.rx.push_back((data, src));
                true
            }
            None => {
                let connected = st.udps.get(&from).is_some_and(|s| s.remote == Some(dst));
                if connected {
                    // ICMP port unreachable, reported to a connected sender.
                    drop(st);
                    let at = now + self.latency();
                    let net = self.me.clone();
                    self.host.schedule(at, move |_| {
                        if let Some(net) = net.upgrade()
                            && let Some(u) = net.state.borrow_mut().udps.get_mut(&from)
                        {
                            u.error = Some(Error::new(
                                ErrorKind::ConnectionRefused,
                                format!("port unreachable: {dst}"),
                            ));
                        }
                    });
                    st = self.state.borrow_mut();
                }
                false
            }
        };
        let kind = if delivered {
            NetEventKind::Datagram { len }
        } else {
            NetEventKind::DatagramDropped { len }
        };
        st.record(now, src, dst, kind);
    }
}

impl RawDatagram for SimDatagram {
    fn token(&self) -> Token {
        self.token
    }

    fn try_send_to(&mut self, data: &[u8], addr: Option<SocketAddr>) -> Result<usize> {
        let Some(dst) = addr.or(self.remote) else {
            return Err(Error::new(
                ErrorKind::NotConnected,
                "no destination for an unconnected socket",
            ));
        };
        if data.len() > MAX_DATAGRAM {
            return Err(Error::new(ErrorKind::InvalidInput, "message too long"));
        }
        let src = source_addr(self.local, dst);
        let (lost, at) = {
            let p = self.net.state.borrow().config.faults.datagram_loss;
            (self.net.chance(p), self.net.host.now() + self.net.latency())
        };
        if lost {
            let now = self.net.host.now();
            self.net.state.borrow_mut().record(
                now,
                src,
                dst,
                NetEventKind::DatagramDropped { len: data.len() },
            );
            return Ok(data.len());
        }
        let net = Rc::downgrade(&self.net);
        let from = self.id;
        let payload = data.to_vec();
        self.net.host.schedule(at, move |_| {
            if let Some(net) = net.upgrade() {
                net.datagram_arrives(from, src, dst, payload);
            }
        });
        Ok(data.len())
    }

    fn try_recv_from(&mut self, buf: &mut [u8]) -> Result<(usize, SocketAddr)> {
        let mut st = self.net.state.borrow_mut();
        let Some(u) = st.udps.get_mut(&self.id) else {
            return Err(Error::new(ErrorKind::NotConnected, "the socket is closed"));
        };
        if let Some(e) = u.error.take() {
            return Err(e);
        }
        let Some((data, src)) = u.rx.pop_front() else {
            return Err(Error::from_kind(ErrorKind::WouldBlock));
        };
        u.rx_bytes -= data.len();
        let n = data.len().min(buf.len());
        buf[..n].copy_from_slice(&data[..n]);
        Ok((n, src))
    }

    fn peer_addr(&self) -> Option<SocketAddr> {
        self.remote
    }

    fn close(&mut self) {
        self.shut();
    }

    fn extra_info(&self, name: &str) -> Option<ExtraInfo> {
        match name {
            "sockname" => Some(ExtraInfo::Addr(self.local)),
            "peername" => self.remote.map(ExtraInfo::Addr),
            _ => None,
        }
    }
}

impl Net for SimNet {
    type Stream = SimStream;
    type Listener = SimListener;
    type Datagram = SimDatagram;

    fn event_loop(&self) -> &EventLoop {
        &self.inner.lp
    }

    async fn connect(&self, addr: SocketAddr) -> Result<SimStream> {
        let net = &self.inner;
        if addr.port() == 0 {
            return Err(Error::new(
                ErrorKind::AddrNotAvailable,
                "cannot connect to port 0",
            ));
        }
        let ip = if addr.ip().is_unspecified() {
            loopback_of(addr.ip())
        } else {
            addr.ip()
        };
        let dst = SocketAddr::new(ip, addr.port());
        let (id, local) = {
            let mut st = net.state.borrow_mut();
            let port = st.ephemeral_port(ip)?;
            let local = SocketAddr::new(ip, port);
            let id = st.new_id();
            st.client_ports.insert((ip, port), id);
            st.streams.insert(
                id,
                StreamEnd {
                    token: None,
                    local,
                    peer: dst,
                    peer_id: None,
                    phase: Phase::Connecting,
                    rx: VecDeque::new(),
                    rx_fin: false,
                    error: None,
                    in_flight: 0,
                    last_arrival: net.host.now(),
                    wr_shut: false,
                    hold_reads: false,
                    owns_port: true,
                },
            );
            (id, local)
        };
        let token = net.register(SourceKind::Stream(id));
        if let Some(end) = net.state.borrow_mut().streams.get_mut(&id) {
            end.token = Some(token);
        }
        let stream = SimStream {
            net: net.rc(),
            id,
            token,
            local,
            peer: dst,
            closed: false,
        };
        net.send(id, 0, Segment::Syn { to: dst });
        loop {
            wait_ready(&net.lp, token, Interest::WRITABLE).await?;
            let st = net.state.borrow();
            match st.streams.get(&id).map(|e| (e.phase, e.error.clone())) {
                Some((Phase::Established, _)) => break,
                Some((Phase::Failed, Some(e))) => return Err(e),
                Some((Phase::Connecting, _)) => continue,
                _ => {
                    return Err(Error::new(
                        ErrorKind::ConnectionAborted,
                        "the connection attempt failed",
                    ));
                }
            }
        }
        Ok(stream)
    }

    async fn listen(&self, addr: SocketAddr, options: &ServerOptions) -> Result<Vec<SimListener>> {
        let net = &self.inner;
        let (id, addr) = {
            let mut st = net.state.borrow_mut();
            let port = if addr.port() == 0 {
                st.ephemeral_port(addr.ip())?
            } else {
                addr.port()
            };
            let addr = SocketAddr::new(addr.ip(), port);
            let clash = st.listen_addrs.contains_key(&addr)
                || st.client_ports.contains_key(&(addr.ip(), port))
                || (addr.ip().is_unspecified() && st.listen_addrs.keys().any(|a| a.port() == port))
                || st
                    .listen_addrs
                    .contains_key(&SocketAddr::new(unspecified_of(addr.ip()), port));
            if clash {
                return Err(Error::new(
                    ErrorKind::AddrInUse,
                    format!("address {addr} already in use"),
                ));
            }
            let id = st.new_id();
            st.listeners.insert(
                id,
                ListenerState {
                    backlog: usize::try_from(options.backlog.max(1)).unwrap_or(usize::MAX),
                    queue: VecDeque::new(),
                },
            );
            st.listen_addrs.insert(addr, id);
            (id, addr)
        };
        let token = net.register(SourceKind::Listener(id));
        Ok(alloc::vec![SimListener {
            net: net.rc(),
            id,
            token,
            addr,
            closed: false,
        }])
    }

    async fn bind_datagram(
        &self,
        local: Option<SocketAddr>,
        remote: Option<SocketAddr>,
    ) -> Result<SimDatagram> {
        let net = &self.inner;
        let local = match (local, remote) {
            (Some(l), _) => l,
            (None, Some(r)) => SocketAddr::new(unspecified_of(r.ip()), 0),
            (None, None) => {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    "a datagram socket needs a local or a remote address",
                ));
            }
        };
        let (id, local) = {
            let mut st = net.state.borrow_mut();
            let port = if local.port() == 0 {
                st.ephemeral_port(local.ip())?
            } else {
                local.port()
            };
            let local = SocketAddr::new(local.ip(), port);
            if st.udp_addrs.contains_key(&local) {
                return Err(Error::new(
                    ErrorKind::AddrInUse,
                    format!("address {local} already in use"),
                ));
            }
            let id = st.new_id();
            st.udps.insert(
                id,
                UdpEnd {
                    remote,
                    rx: VecDeque::new(),
                    rx_bytes: 0,
                    error: None,
                },
            );
            st.udp_addrs.insert(local, id);
            (id, local)
        };
        let token = net.register(SourceKind::Udp(id));
        Ok(SimDatagram {
            net: net.rc(),
            id,
            token,
            local,
            remote,
            closed: false,
        })
    }
}
