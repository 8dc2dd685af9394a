//! Datagram endpoints (asyncio-eventloop.rst, create_datagram_endpoint;
//! asyncio-overview.rst, "Datagram protocols" and DatagramTransport.sendto).
mod net_util;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use loop_core::net::Net;
use loop_core::sim::{FaultPlan, NetConfig, NetEventKind, SimSource};
use loop_core::transport::{DatagramEndpoint, RawDatagram};
use loop_core::{
    BaseTransport, DatagramProtocol, DatagramTransport, Error, ErrorKind, EventLoop, ExtraInfo,
    Interest, Token,
};
use net_util::{World, addr, world, world_with};

#[derive(Default)]
struct Dgram {
    transport: Option<Rc<dyn DatagramTransport>>,
    got: Vec<(Vec<u8>, SocketAddr)>,
    errors: Vec<ErrorKind>,
    made: usize,
    lost: Vec<Option<ErrorKind>>,
    paused: usize,
    resumed: usize,
    echo: bool,
    /// Send this (to the sender) from inside datagram_received.
    reply_oversized: bool,
    in_callback: bool,
    nested: bool,
}

impl DatagramProtocol for Dgram {
    fn connection_made(&mut self, transport: Rc<dyn DatagramTransport>) {
        self.made += 1;
        self.transport = Some(transport);
    }
    fn datagram_received(&mut self, data: &[u8], addr: SocketAddr) {
        self.in_callback = true;
        self.got.push((data.to_vec(), addr));
        let t = self.transport.clone().unwrap();
        if self.echo {
            t.sendto(data, Some(addr)).unwrap();
        }
        if self.reply_oversized {
            t.sendto(&vec![0u8; 70_000], Some(addr)).unwrap();
        }
        self.in_callback = false;
    }
    fn error_received(&mut self, error: Error) {
        if self.in_callback {
            self.nested = true;
        }
        self.errors.push(error.kind());
    }
    fn connection_lost(&mut self, error: Option<Error>) {
        self.lost.push(error.map(|e| e.kind()));
    }
    fn pause_writing(&mut self) {
        self.paused += 1;
    }
    fn resume_writing(&mut self) {
        self.resumed += 1;
    }
}

type Endpoint = (Rc<dyn DatagramTransport>, Rc<RefCell<Dgram>>);

fn endpoint(
    w: &World,
    local: Option<&str>,
    remote: Option<&str>,
    setup: impl FnOnce(&mut Dgram) + 'static,
) -> loop_core::Result<Endpoint> {
    let net = w.net.clone();
    let (local, remote) = (local.map(addr), remote.map(addr));
    w.block_on(async move {
        net.create_datagram_endpoint(
            move || {
                let mut d = Dgram::default();
                setup(&mut d);
                d
            },
            local,
            remote,
        )
        .await
    })
}

#[test]
fn send_and_receive_between_unconnected_endpoints() {
    let w = world(1);
    let (a, pa) = endpoint(&w, Some("127.0.0.1:4000"), None, |_| {}).unwrap();
    let (_b, pb) = endpoint(&w, Some("127.0.0.1:4001"), None, |d| d.echo = true).unwrap();
    assert_eq!(pa.borrow().made, 1);
    a.sendto(b"one", Some(addr("127.0.0.1:4001"))).unwrap();
    a.sendto(b"", Some(addr("127.0.0.1:4001"))).unwrap();
    w.settle();
    assert_eq!(
        pb.borrow().got,
        vec![
            (b"one".to_vec(), addr("127.0.0.1:4000")),
            (Vec::new(), addr("127.0.0.1:4000"))
        ],
        "empty datagrams are datagrams too"
    );
    assert_eq!(pa.borrow().got.len(), 2, "echoed back");
    assert_eq!(pa.borrow().got[0].1, addr("127.0.0.1:4001"));
    assert_eq!(
        a.get_extra_info("sockname"),
        Some(ExtraInfo::Addr(addr("127.0.0.1:4000")))
    );
    assert_eq!(a.get_extra_info("peername"), None);
}

#[test]
fn sendto_address_rules() {
    let w = world(2);
    let (_srv, _) = endpoint(&w, Some("127.0.0.1:4002"), None, |_| {}).unwrap();
    let (c, _) = endpoint(&w, None, Some("127.0.0.1:4002"), |_| {}).unwrap();
    let (u, _) = endpoint(&w, Some("127.0.0.1:4003"), None, |_| {}).unwrap();
    // Connected: None and the peer itself are fine; another address is rejected.
    c.sendto(b"x", None).unwrap();
    c.sendto(b"x", Some(addr("127.0.0.1:4002"))).unwrap();
    let e = c.sendto(b"x", Some(addr("127.0.0.1:9"))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    // Unconnected: an address is required.
    let e = u.sendto(b"x", None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        c.get_extra_info("peername"),
        Some(ExtraInfo::Addr(addr("127.0.0.1:4002")))
    );
    // Neither address: rejected before anything is created.
    let e = endpoint(&w, None, None, |_| {}).map(|_| ()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

#[test]
fn connected_endpoint_filters_other_senders() {
    let w = world(3);
    let (srv, psrv) = endpoint(&w, Some("127.0.0.1:4004"), None, |_| {}).unwrap();
    let (_c, pc) = endpoint(&w, Some("127.0.0.1:4005"), Some("127.0.0.1:4004"), |_| {}).unwrap();
    let (stranger, _) = endpoint(&w, Some("127.0.0.1:4006"), None, |_| {}).unwrap();
    srv.sendto(b"from peer", Some(addr("127.0.0.1:4005")))
        .unwrap();
    stranger
        .sendto(b"from stranger", Some(addr("127.0.0.1:4005")))
        .unwrap();
    w.settle();
    assert_eq!(
        pc.borrow().got,
        vec![(b"from peer".to_vec(), addr("127.0.0.1:4004"))]
    );
    assert!(psrv.borrow().errors.is_empty());
}

#[test]
fn unreachable_peer_reports_error_received_on_connected_endpoints_only() {
    let w = world(4);
    let (c, pc) = endpoint(&w, None, Some("127.0.0.1:4999"), |_| {}).unwrap();
    c.sendto(b"anyone?", None).unwrap();
    w.settle();
    assert_eq!(pc.borrow().errors, vec![ErrorKind::ConnectionRefused]);
    assert!(pc.borrow().lost.is_empty(), "the endpoint stays open");
    assert!(!c.is_closing());

    let (u, pu) = endpoint(&w, Some("127.0.0.1:4007"), None, |_| {}).unwrap();
    u.sendto(b"anyone?", Some(addr("127.0.0.1:4999"))).unwrap();
    w.settle();
    assert!(
        pu.borrow().errors.is_empty(),
        "unconnected: silently dropped"
    );
}

#[test]
fn error_received_from_sendto_inside_datagram_received_waits_for_it_to_return() {
    let w = world(5);
    let (srv, psrv) = endpoint(&w, Some("127.0.0.1:4008"), None, |d| {
        d.reply_oversized = true
    })
    .unwrap();
    let (c, _) = endpoint(&w, None, Some("127.0.0.1:4008"), |_| {}).unwrap();
    c.sendto(b"trigger", None).unwrap();
    w.settle();
    let p = psrv.borrow();
    assert_eq!(p.errors, vec![ErrorKind::InvalidInput], "message too long");
    assert!(!p.nested, "delivered after datagram_received returned");
    drop(p);
    assert!(!srv.is_closing());
}

#[test]
fn close_and_abort() {
    let w = world(6);
    let (a, pa) = endpoint(&w, Some("127.0.0.1:4009"), None, |_| {}).unwrap();
    a.close();
    a.close();
    assert!(a.is_closing());
    let e = a.sendto(b"late", Some(addr("127.0.0.1:1"))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Runtime);
    w.settle();
    assert_eq!(pa.borrow().lost, vec![None]);

    let (b, pb) = endpoint(&w, Some("127.0.0.1:4010"), None, |_| {}).unwrap();
    b.abort();
    w.settle();
    assert_eq!(pb.borrow().lost, vec![None]);
    // The address is free again.
    endpoint(&w, Some("127.0.0.1:4010"), None, |_| {}).unwrap();
    let e = endpoint(&w, Some("127.0.0.1:4010"), None, |_| {})
        .map(|_| ())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrInUse);
}

#[test]
fn lost_datagrams_and_reordering_follow_the_seed() {
    let config = NetConfig::default()
        .with_latency(Duration::from_millis(1), Duration::from_millis(20))
        .with_faults(FaultPlan::none().with_datagram_loss(0.3));
    let w = world_with(7, config);
    w.net.set_tracing(true);
    let (a, _) = endpoint(&w, Some("127.0.0.1:4011"), None, |_| {}).unwrap();
    let (_b, pb) = endpoint(&w, Some("127.0.0.1:4012"), None, |_| {}).unwrap();
    for i in 0..100u8 {
        a.sendto(&[i], Some(addr("127.0.0.1:4012"))).unwrap();
    }
    w.run_for(Duration::from_millis(100));
    let got: Vec<u8> = pb.borrow().got.iter().map(|(d, _)| d[0]).collect();
    let dropped = w
        .net
        .trace()
        .iter()
        .filter(|e| matches!(e.kind, NetEventKind::DatagramDropped { .. }))
        .count();
    assert_eq!(got.len() + dropped, 100);
    assert!(dropped > 10 && dropped < 50, "about 30% lost: {dropped}");
    assert!(
        got.windows(2).any(|w| w[0] > w[1]),
        "independent latencies reorder"
    );
}

// ----- the send queue, over a raw socket that blocks on demand -------------------

#[derive(Default)]
struct MockState {
    blocked: bool,
    sent: Vec<(Vec<u8>, Option<SocketAddr>)>,
    fail_next: Option<ErrorKind>,
}

struct MockDatagram {
    lp: EventLoop,
    token: Token,
    state: Rc<RefCell<MockState>>,
}

struct MockSource(Rc<RefCell<MockState>>);

impl SimSource for MockSource {
    fn readiness(&self) -> Interest {
        if self.0.borrow().blocked {
            Interest::NONE
        } else {
            Interest::WRITABLE
        }
    }
}

impl RawDatagram for MockDatagram {
    fn token(&self) -> Token {
        self.token
    }
    fn try_send_to(&mut self, data: &[u8], addr: Option<SocketAddr>) -> loop_core::Result<usize> {
        let mut st = self.state.borrow_mut();
        if let Some(kind) = st.fail_next.take() {
            return Err(Error::from_kind(kind));
        }
        if st.blocked {
            return Err(Error::from_kind(ErrorKind::WouldBlock));
        }
        st.sent.push((data.to_vec(), addr));
        Ok(data.len())
    }
    fn try_recv_from(&mut self, _buf: &mut [u8]) -> loop_core::Result<(usize, SocketAddr)> {
        Err(Error::from_kind(ErrorKind::WouldBlock))
    }
    fn peer_addr(&self) -> Option<SocketAddr> {
        None
    }
    fn close(&mut self) {
        self.lp.deregister_io(self.token).unwrap();
    }
    fn extra_info(&self, _name: &str) -> Option<ExtraInfo> {
        None
    }
}

#[test]
fn send_queue_flow_control_and_close_flushes_it() {
    let w = world(8);
    let token = w.lp.register_io();
    let state = Rc::new(RefCell::new(MockState {
        blocked: true,
        ..MockState::default()
    }));
    w.host.attach(token, Rc::new(MockSource(state.clone())));
    let raw = MockDatagram {
        lp: w.lp.clone(),
        token,
        state: state.clone(),
    };
    let proto = Rc::new(RefCell::new(Dgram::default()));
    let ep = DatagramEndpoint::new(&w.lp, raw, proto.clone()).unwrap();
    w.settle();
    ep.set_write_buffer_limits(Some(20), Some(10)).unwrap();
    assert_eq!(ep.get_write_buffer_limits(), (10, 20));
    let to = Some(addr("127.0.0.1:1"));
    ep.sendto(b"12345", to).unwrap();
    assert_eq!(
        ep.get_write_buffer_size(),
        5 + 8,
        "payload plus asyncio's header allowance"
    );
    assert_eq!(proto.borrow().paused, 0);
    ep.sendto(b"12", to).unwrap();
    assert_eq!(ep.get_write_buffer_size(), 23);
    assert_eq!(proto.borrow().paused, 1, "strictly above 20");
    ep.close();
    assert!(proto.borrow().lost.is_empty(), "close waits for the queue");
    state.borrow_mut().blocked = false;
    w.settle();
    assert_eq!(
        state.borrow().sent,
        vec![(b"12345".to_vec(), to), (b"12".to_vec(), to)],
        "queued datagrams keep their order"
    );
    let p = proto.borrow();
    assert_eq!((p.paused, p.resumed), (1, 1));
    assert_eq!(p.lost, vec![None]);
}

#[test]
fn send_errors_go_to_error_received() {
    let w = world(9);
    let token = w.lp.register_io();
    let state = Rc::new(RefCell::new(MockState::default()));
    w.host.attach(token, Rc::new(MockSource(state.clone())));
    let raw = MockDatagram {
        lp: w.lp.clone(),
        token,
        state: state.clone(),
    };
    let proto = Rc::new(RefCell::new(Dgram::default()));
    let ep = DatagramEndpoint::new(&w.lp, raw, proto.clone()).unwrap();
    w.settle();
    state.borrow_mut().fail_next = Some(ErrorKind::ConnectionRefused);
    ep.sendto(b"x", Some(addr("127.0.0.1:1"))).unwrap();
    assert_eq!(proto.borrow().errors, vec![ErrorKind::ConnectionRefused]);
    ep.sendto(b"y", Some(addr("127.0.0.1:1"))).unwrap();
    assert_eq!(state.borrow().sent.len(), 1, "the endpoint keeps working");
    ep.abort();
    w.settle();
    assert_eq!(proto.borrow().lost, vec![None]);
}
