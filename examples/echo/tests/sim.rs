//! The echo protocol on the simulated network: byte-exact echoes over arbitrary segment
//! splits and latencies, close after the client's end of stream, and flow control that
//! keeps a non-reading client's data in the network instead of the server's memory.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use loop_core::net::Net;
use loop_core::sim::{NetConfig, SimHost, SimNet};
use loop_core::{Error, EventLoop, ExtraInfo, Future, Protocol, Transport};

/// A client that records what it receives and how the connection ended.
struct Client {
    received: Rc<RefCell<Vec<u8>>>,
    lost: Future<Option<Error>>,
    paused: Rc<RefCell<bool>>,
}

impl Protocol for Client {
    fn data_received(&mut self, data: &[u8]) {
        self.received.borrow_mut().extend_from_slice(data);
    }
    fn connection_lost(&mut self, error: Option<Error>) {
        let _ = self.lost.set_result(error);
    }
    fn pause_writing(&mut self) {
        *self.paused.borrow_mut() = true;
    }
    fn resume_writing(&mut self) {
        *self.paused.borrow_mut() = false;
    }
}

struct World {
    lp: EventLoop,
    net: SimNet,
}

fn world(seed: u64, config: NetConfig) -> World {
    let host = SimHost::new(seed);
    let lp = EventLoop::new(host.clone());
    let net = SimNet::with_config(&lp, &host, config);
    World { lp, net }
}

impl World {
    fn run_for(&self, d: Duration) {
        let lp = self.lp.clone();
        self.lp.call_later(d, move || lp.stop()).unwrap();
        self.lp.run_forever().unwrap();
    }
}

/// Pseudo-random bytes (a fixed LCG: the test needs variety, not quality).
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect()
}

type Connected = (
    Rc<dyn Transport>,
    Rc<RefCell<Vec<u8>>>,
    Future<Option<Error>>,
    Rc<RefCell<bool>>,
);

fn connect(w: &World, addr: SocketAddr) -> Connected {
    let received = Rc::new(RefCell::new(Vec::new()));
    let lost = w.lp.create_future::<Option<Error>>();
    let paused = Rc::new(RefCell::new(false));
    let client = Client {
        received: received.clone(),
        lost: lost.clone(),
        paused: paused.clone(),
    };
    let net = w.net.clone();
    let (transport, _) =
        w.lp.run_until_complete(async move { net.create_connection(move || client, addr).await })
            .unwrap()
            .unwrap();
    (transport, received, lost, paused)
}

/// RFC 862: "any data received is sent back"; the client's end of stream closes the
/// connection after the echoes (asyncio: `eof_received` returning false closes).
#[test]
fn echoes_every_byte_then_closes_after_the_clients_eof() {
    for seed in 1..=8 {
        let w = world(
            seed,
            NetConfig::default()
                .with_latency(Duration::from_millis(1), Duration::from_millis(20))
                .with_max_segment(700),
        );
        let addr: SocketAddr = "127.0.0.1:7".parse().unwrap();
        let net = w.net.clone();
        let _server =
            w.lp.run_until_complete(async move { tulip_echo::serve(&net, addr).await })
                .unwrap()
                .unwrap();
        let (t, received, lost, _) = connect(&w, addr);
        let sent = pattern(50_000, seed as u32);
        for chunk in sent.chunks(1_234) {
            t.write(chunk).unwrap();
        }
        t.write_eof().unwrap();
        w.run_for(Duration::from_secs(10));
        assert!(lost.done(), "seed {seed}: the server closed the connection");
        assert_eq!(lost.result().unwrap(), None, "seed {seed}: a clean close");
        let got = received.borrow();
        let first_difference = got.iter().zip(&sent).position(|(a, b)| a != b);
        assert!(
            *got == sent,
            "seed {seed}: byte-exact echo; got {} of {} bytes, first difference at \
             {first_difference:?}",
            got.len(),
            sent.len()
        );
    }
}

/// Flow control: a client that stops reading fills the server's write buffer; the
/// server then stops reading, so the client's data waits in the network (the server
/// end's unread bytes) instead of piling up in the server; once the client reads again
/// every byte arrives, in order.
#[test]
fn a_client_that_stops_reading_is_not_buffered_by_the_server() {
    let window = 32 * 1024;
    let w = world(3, NetConfig::default().with_stream_window(window));
    let addr: SocketAddr = "127.0.0.1:7".parse().unwrap();
    let net = w.net.clone();
    let _server =
        w.lp.run_until_complete(async move { tulip_echo::serve(&net, addr).await })
            .unwrap()
            .unwrap();
    let (t, received, lost, paused) = connect(&w, addr);
    let (Some(ExtraInfo::Addr(local)), Some(ExtraInfo::Addr(peer))) =
        (t.get_extra_info("sockname"), t.get_extra_info("peername"))
    else {
        panic!("socket addresses")
    };
    let client_end = w.net.connection(local, peer).expect("client end");
    let server_end = w.net.connection(peer, local).expect("server end");
    client_end.hold_reads(true);

    let sent = pattern(1024 * 1024, 9);
    t.write(&sent).unwrap();
    w.run_for(Duration::from_secs(1));
    assert!(
        *paused.borrow(),
        "the client's own buffer filled: it was paused"
    );
    assert!(
        server_end.unread() > 0,
        "the server stopped reading while its echoes could not be sent"
    );
    assert!(
        t.get_write_buffer_size() > sent.len() / 2,
        "most of the data still waits on the client's side, not in the server"
    );

    client_end.hold_reads(false);
    t.write_eof().unwrap();
    w.run_for(Duration::from_secs(10));
    assert!(lost.done());
    assert_eq!(received.borrow().len(), sent.len());
    assert!(*received.borrow() == sent, "byte-exact after the pause");
}
