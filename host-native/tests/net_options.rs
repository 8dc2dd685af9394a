//! Contradicting or incomplete options of the connection, server and endpoint entry
//! points are `InvalidInput` errors with asyncio's messages, raised before any socket
//! is touched (asyncio raises `ValueError` for each of these).

mod util;

use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::UnixStream;

use host_native::socket2::Domain;
use host_native::{
    ConnectOptions, DatagramOptions, ListenOptions, NativeLoop, UnixConnectOptions,
    UnixListenOptions,
};
use loop_core::stream::ClientConnected;
use loop_core::{DatagramProtocol, Error, ErrorKind, Protocol};
use util::{LIMIT, watchdog};

struct Never;
impl Protocol for Never {}
impl DatagramProtocol for Never {}

fn never() -> Never {
    panic!("no protocol is made for invalid options")
}

fn assert_invalid(result: Result<impl Sized, Error>, needle: &str) {
    let Err(err) = result else {
        panic!("accepted; expected an error mentioning {needle:?}");
    };
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(
        err.to_string().contains(needle),
        "{err:?} does not mention {needle:?}"
    );
}

fn stream_sock() -> TcpStream {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    TcpStream::connect(l.local_addr().unwrap()).unwrap()
}

#[test]
fn create_connection_option_conflicts() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    lp.run_until_complete(async move {
        let c = |o: ConnectOptions| l.create_connection(never, o);
        assert_invalid(
            c(ConnectOptions::new()
                .host("127.0.0.1")
                .port(1)
                .sock(stream_sock()))
            .await,
            "host/port and sock can not be specified at the same time",
        );
        assert_invalid(
            c(ConnectOptions::new().port(1).sock(stream_sock())).await,
            "host/port and sock",
        );
        assert_invalid(
            c(ConnectOptions::new()).await,
            "host and port was not specified and no sock specified",
        );
        assert_invalid(
            c(ConnectOptions::new()
                .sock(stream_sock())
                .local_addr(("127.0.0.1", 0)))
            .await,
            "local_addr",
        );
        assert_invalid(
            c(ConnectOptions::new()
                .sock(stream_sock())
                .family(Domain::IPV4))
            .await,
            "family",
        );
        assert_invalid(
            c(ConnectOptions::new()
                .addr("127.0.0.1:1".parse().unwrap())
                .host("127.0.0.1"))
            .await,
            "addr and host/port",
        );
        assert_invalid(
            c(ConnectOptions::new().sock(UdpSocket::bind("127.0.0.1:0").unwrap())).await,
            "a stream socket was expected",
        );
        assert_invalid(
            c(ConnectOptions::new()
                .addr("127.0.0.1:1".parse().unwrap())
                .family(Domain::IPV6))
            .await,
            "not of the requested address family",
        );
        assert_invalid(
            l.connect_accepted_socket(never, UdpSocket::bind("127.0.0.1:0").unwrap())
                .await,
            "a stream socket was expected",
        );
    })
    .unwrap();
}

#[test]
fn create_server_option_conflicts() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    lp.run_until_complete(async move {
        let s = |o: ListenOptions| l.create_server(never, o);
        let bound = || TcpListener::bind("127.0.0.1:0").unwrap();
        assert_invalid(
            s(ListenOptions::new().host("127.0.0.1").sock(bound())).await,
            "host/port and sock can not be specified at the same time",
        );
        assert_invalid(
            s(ListenOptions::new()).await,
            "neither host/port nor sock were specified",
        );
        assert_invalid(
            s(ListenOptions::new().sock(bound()).reuse_port(true)).await,
            "reuse_port",
        );
        assert_invalid(
            s(ListenOptions::new().sock(bound()).family(Domain::IPV4)).await,
            "family",
        );
        assert_invalid(
            s(ListenOptions::new()
                .addr("127.0.0.1:0".parse().unwrap())
                .port(1))
            .await,
            "addr and host/port",
        );
        assert_invalid(
            s(ListenOptions::new().sock(UdpSocket::bind("127.0.0.1:0").unwrap())).await,
            "a stream socket was expected",
        );
        assert_invalid(
            l.start_server(ClientConnected::plain(|_, _| {}), ("127.0.0.1", 0), 0)
                .await,
            "limit cannot be 0",
        );
    })
    .unwrap();
}

#[test]
fn unix_option_conflicts() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    lp.run_until_complete(async move {
        let (a, _b) = UnixStream::pair().unwrap();
        assert_invalid(
            l.create_unix_connection(never, UnixConnectOptions::new().path("/x").sock(a))
                .await,
            "path and sock can not be specified at the same time",
        );
        assert_invalid(
            l.create_unix_connection(never, UnixConnectOptions::new())
                .await,
            "no path and sock were specified",
        );
        assert_invalid(
            l.create_unix_connection(never, UnixConnectOptions::new().sock(stream_sock()))
                .await,
            "a UNIX domain stream socket was expected",
        );
        assert_invalid(
            l.create_unix_server(never, UnixListenOptions::new()).await,
            "path was not specified, and no sock specified",
        );
        let (c, _d) = UnixStream::pair().unwrap();
        assert_invalid(
            l.create_unix_server(never, UnixListenOptions::new().path("/x").sock(c))
                .await,
            "path and sock can not be specified at the same time",
        );
        let too_long = "/tmp/".to_owned() + &"x".repeat(200);
        let err = l
            .create_unix_server(never, too_long.as_str())
            .await
            .err()
            .unwrap();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    })
    .unwrap();
}

#[test]
fn datagram_option_conflicts() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    lp.run_until_complete(async move {
        let d = |o: DatagramOptions| l.create_datagram_endpoint(never, o);
        let udp = || UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_invalid(
            d(DatagramOptions::new()
                .sock(udp())
                .local_addr(("127.0.0.1", 0))
                .reuse_port(true))
            .await,
            "socket modifier keyword arguments can not be used when sock is specified: local_addr, reuse_port",
        );
        assert_invalid(
            d(DatagramOptions::new()).await,
            "unexpected address family",
        );
        assert_invalid(
            d(DatagramOptions::new().sock(stream_sock())).await,
            "datagram socket was expected",
        );
        assert_invalid(
            d(DatagramOptions::new()
                .local_addr(("127.0.0.1", 0))
                .remote_addr(("::1", 9)))
            .await,
            "can not get address information",
        );
    })
    .unwrap();
}
