//! UDP endpoints over loopback: echo, ICMP errors on a connected endpoint, bursts
//! beyond one callback's budget, extra information and the endpoint options.

mod util;

use std::cell::RefCell;
use std::net::{SocketAddr, UdpSocket};
use std::rc::Rc;

use host_native::socket2::Domain;
use host_native::{DatagramOptions, NativeLoop};
use loop_core::net::Net;
use loop_core::{
    DatagramProtocol, DatagramTransport, Error, ErrorKind, EventLoop, ExtraInfo, Future,
};
use util::{LIMIT, watchdog};

/// Datagrams received, with their senders.
type Received = Rc<RefCell<Vec<(Vec<u8>, SocketAddr)>>>;
/// A count of datagrams to wait for, and the future completed when it is reached.
type Want = Rc<RefCell<Option<(usize, Future<()>)>>>;

/// Records datagrams and errors; echoes when asked to.
struct Dgram {
    echo: bool,
    transport: Option<Rc<dyn DatagramTransport>>,
    seen: Seen,
}

/// The test's view of a [`Dgram`].
#[derive(Clone)]
struct Seen {
    got: Received,
    errors: Rc<RefCell<Vec<Error>>>,
    want: Want,
    error_seen: Future<()>,
}

impl Seen {
    fn new(lp: &EventLoop) -> Seen {
        Seen {
            got: Rc::default(),
            errors: Rc::default(),
            want: Rc::default(),
            error_seen: lp.create_future(),
        }
    }

    fn protocol(&self, echo: bool) -> Dgram {
        Dgram {
            echo,
            transport: None,
            seen: self.clone(),
        }
    }

    /// Completes once `n` datagrams in total arrived.
    fn count(&self, lp: &EventLoop, n: usize) -> Future<()> {
        let f = lp.create_future();
        if self.got.borrow().len() >= n {
            f.set_result(()).unwrap();
        } else {
            *self.want.borrow_mut() = Some((n, f.clone()));
        }
        f
    }
}

impl DatagramProtocol for Dgram {
    fn connection_made(&mut self, transport: Rc<dyn DatagramTransport>) {
        self.transport = Some(transport);
    }

    fn datagram_received(&mut self, data: &[u8], addr: SocketAddr) {
        if self.echo {
            self.transport
                .as_ref()
                .unwrap()
                .sendto(data, Some(addr))
                .unwrap();
        }
        self.seen.got.borrow_mut().push((data.to_vec(), addr));
        let len = self.seen.got.borrow().len();
        let mut want = self.seen.want.borrow_mut();
        if want.as_ref().is_some_and(|(n, _)| len >= *n) {
            want.take().unwrap().1.set_result(()).unwrap();
        }
    }

    fn error_received(&mut self, error: Error) {
        self.seen.errors.borrow_mut().push(error);
        if !self.seen.error_seen.done() {
            self.seen.error_seen.set_result(()).unwrap();
        }
    }
}

async fn endpoint(
    lp: &NativeLoop,
    options: DatagramOptions,
    echo: bool,
) -> (Rc<dyn DatagramTransport>, Seen) {
    let seen = Seen::new(lp);
    let p = seen.protocol(echo);
    let (t, _) = lp
        .create_datagram_endpoint(move || p, options)
        .await
        .unwrap();
    (t, seen)
}

fn sockname(t: &Rc<dyn DatagramTransport>) -> SocketAddr {
    match t.get_extra_info("sockname") {
        Some(ExtraInfo::Addr(a)) => a,
        other => panic!("no sockname: {other:?}"),
    }
}

/// Datagrams of several sizes (empty, small, near the UDP maximum) come back whole,
/// from the server's address.
#[test]
fn udp_echo() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    lp.run_until_complete(async move {
        let (server, _) = endpoint(
            &l,
            DatagramOptions::new().local_addr(("127.0.0.1", 0)),
            true,
        )
        .await;
        let at = sockname(&server);
        let (client, seen) = endpoint(&l, DatagramOptions::new().remote_addr(at), false).await;
        assert_eq!(client.get_extra_info("peername"), Some(ExtraInfo::Addr(at)));
        let sizes = [0usize, 1, 1400, 60_000];
        for n in sizes {
            client.sendto(&vec![n as u8; n], None).unwrap();
        }
        seen.count(&l, sizes.len()).await.unwrap();
        let got = seen.got.borrow();
        for ((data, from), n) in got.iter().zip(sizes) {
            assert_eq!(data, &vec![n as u8; n]);
            assert_eq!(*from, at);
        }
        client.close();
        server.close();
    })
    .unwrap();
}

/// A connected endpoint sending to a port nobody listens on gets the ICMP
/// port-unreachable as `error_received(ConnectionRefused)` and stays open.
#[test]
fn connected_endpoint_to_a_closed_port_gets_connection_refused() {
    let _w = watchdog(LIMIT);
    let closed = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    lp.run_until_complete(async move {
        let (client, seen) = endpoint(&l, DatagramOptions::new().remote_addr(closed), false).await;
        client.sendto(b"anyone?", None).unwrap();
        seen.error_seen.clone().await.unwrap();
        let err = seen.errors.borrow()[0].clone();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
        assert!(
            !client.is_closing(),
            "an error_received does not close the endpoint"
        );
        client.close();
    })
    .unwrap();
}

/// More datagrams than one reader callback takes (its budget) arrive in one burst:
/// the rest are received on the following iterations, none lost.
#[test]
fn a_burst_beyond_the_receive_budget_is_received_whole() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    lp.run_until_complete(async move {
        let (server, seen) = endpoint(
            &l,
            DatagramOptions::new().local_addr(("127.0.0.1", 0)),
            false,
        )
        .await;
        let at = sockname(&server);
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let burst = 5 * loop_core::transport::DATAGRAM_BUDGET / 2;
        for i in 0..burst {
            sender.send_to(&(i as u32).to_be_bytes(), at).unwrap();
        }
        seen.count(&l, burst).await.unwrap();
        let order: Vec<u32> = seen
            .got
            .borrow()
            .iter()
            .map(|(d, _)| u32::from_be_bytes(d[..4].try_into().unwrap()))
            .collect();
        assert_eq!(order, (0..burst as u32).collect::<Vec<_>>());
        server.close();
    })
    .unwrap();
}

/// The endpoint options: an existing socket, an unbound socket of a family,
/// `reuse_port`, and `allow_broadcast` (remote address as default destination only).
#[test]
fn endpoint_options() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    lp.run_until_complete(async move {
        let (server, seen) = endpoint(
            &l,
            DatagramOptions::new().local_addr(("127.0.0.1", 0)),
            false,
        )
        .await;
        let at = sockname(&server);

        let std_sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let std_at = std_sock.local_addr().unwrap();
        let (adopted, _) = endpoint(&l, DatagramOptions::new().sock(std_sock), false).await;
        assert_eq!(sockname(&adopted), std_at);
        assert_eq!(adopted.get_extra_info("peername"), None, "not connected");
        adopted.sendto(b"adopted", Some(at)).unwrap();

        let (unbound, _) = endpoint(&l, DatagramOptions::new().family(Domain::IPV4), false).await;
        unbound.sendto(b"unbound", Some(at)).unwrap();

        let (broadcast, b_seen) = endpoint(
            &l,
            DatagramOptions::new().remote_addr(at).allow_broadcast(true),
            false,
        )
        .await;
        broadcast.sendto(b"broadcast", None).unwrap();

        seen.count(&l, 3).await.unwrap();
        let mut got: Vec<Vec<u8>> = seen.got.borrow().iter().map(|(d, _)| d.clone()).collect();
        got.sort();
        assert_eq!(
            got,
            [
                b"adopted".to_vec(),
                b"broadcast".to_vec(),
                b"unbound".to_vec()
            ]
        );
        let from_adopted = seen
            .got
            .borrow()
            .iter()
            .find(|(d, _)| d == b"adopted")
            .unwrap()
            .1;
        assert_eq!(from_adopted, std_at);

        // Not connected: a datagram from anyone reaches the broadcast endpoint.
        let Some(ExtraInfo::Addr(b_at)) = broadcast.get_extra_info("sockname") else {
            panic!("no sockname");
        };
        let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
        stranger.send_to(b"hello", b_at).unwrap();
        b_seen.count(&l, 1).await.unwrap();
        assert_eq!(
            b_seen.got.borrow()[0],
            (b"hello".to_vec(), stranger.local_addr().unwrap())
        );

        let reuse = || {
            DatagramOptions::new()
                .local_addr(("127.0.0.1", 0))
                .reuse_port(true)
        };
        let (first, _) = endpoint(&l, reuse(), false).await;
        let port = sockname(&first).port();
        let (second, _) = endpoint(
            &l,
            DatagramOptions::new()
                .local_addr(("127.0.0.1", port))
                .reuse_port(true),
            false,
        )
        .await;
        assert_eq!(sockname(&second).port(), port);

        for t in [server, adopted, unbound, broadcast, first, second] {
            t.close();
        }
    })
    .unwrap();
}

/// The `Net` backend's datagram primitive: loop-core's provided
/// `create_datagram_endpoint` on resolved addresses.
#[test]
fn net_trait_datagram_endpoint() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    lp.run_until_complete(async move {
        let s_seen = Seen::new(&l);
        let p = s_seen.protocol(true);
        let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let (server, _) = Net::create_datagram_endpoint(&l, move || p, Some(local), None)
            .await
            .unwrap();
        let at = sockname(&server);
        let c_seen = Seen::new(&l);
        let p = c_seen.protocol(false);
        let (client, _) = Net::create_datagram_endpoint(&l, move || p, None, Some(at))
            .await
            .unwrap();
        client.sendto(b"via Net", None).unwrap();
        c_seen.count(&l, 1).await.unwrap();
        assert_eq!(c_seen.got.borrow()[0], (b"via Net".to_vec(), at));
        client.close();
        server.close();
    })
    .unwrap();
}
