//! Streams end to end on the simulated network: open_connection / start_server echo with
//! latency and split segments, drain under back-pressure from a peer that stops reading,
//! a reset in mid-stream, refused connections, and seeded determinism.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use loop_core::net::{Server, ServerOptions};
use loop_core::sim::{NetConfig, NetEvent, SimHost, SimNet};
use loop_core::stream::{
    ClientConnected, DEFAULT_LIMIT, StreamReader, StreamWriter, open_connection, start_server,
};
use loop_core::transport::ExtraInfo;
use loop_core::{Error, ErrorKind, EventLoop};

fn addr() -> SocketAddr {
    "127.0.0.1:7000".parse().unwrap()
}

fn world(seed: u64, config: NetConfig) -> (EventLoop, SimNet) {
    let host = SimHost::new(seed);
    let lp = EventLoop::new(host.clone());
    let net = SimNet::with_config(&lp, &host, config);
    (lp, net)
}

/// A choppy network: 1–20 ms latency, segments of 1–3 bytes.
fn choppy() -> NetConfig {
    NetConfig::default()
        .with_latency(Duration::from_millis(1), Duration::from_millis(20))
        .with_max_segment(3)
}

/// Segments of 1–3 bytes with a fixed 5 ms latency, for scenarios where one side closes
/// right after writing: SimNet does not yet order the FIN sent by `close` after the data
/// still in flight (it can overtake it under jitter), so these keep the latency fixed.
fn choppy_fixed_latency() -> NetConfig {
    NetConfig::default()
        .with_latency(Duration::from_millis(5), Duration::from_millis(5))
        .with_max_segment(3)
}

async fn sleep(lp: &EventLoop, d: Duration) {
    let f = lp.create_future::<()>();
    let g = f.clone();
    lp.call_later(d, move || {
        let _ = g.set_result(());
    })
    .unwrap();
    f.await.unwrap();
}

fn addr_info(w: &StreamWriter, key: &str) -> SocketAddr {
    match w.get_extra_info(key) {
        Some(ExtraInfo::Addr(a)) => a,
        other => panic!("{key}: {other:?}"),
    }
}

/// The line echo handler: echo each line, close at EOF.
fn echo_lines() -> ClientConnected {
    ClientConnected::task(|reader: StreamReader, writer: StreamWriter| async move {
        loop {
            let line = reader.readline().await?;
            if line.is_empty() {
                break;
            }
            writer.write(&line)?;
            writer.drain().await?;
        }
        writer.close();
        writer.wait_closed().await
    })
}

async fn start_echo(net: &SimNet) -> Server {
    start_server(
        net,
        echo_lines(),
        addr(),
        DEFAULT_LIMIT,
        ServerOptions::default(),
    )
    .await
    .unwrap()
}

/// Run the echo scenario; returns the lines read back and the network trace.
fn echo_scenario(seed: u64) -> (Vec<Vec<u8>>, Vec<NetEvent>) {
    let (lp, net) = world(seed, choppy());
    net.set_tracing(true);
    let n = net.clone();
    let lines = lp
        .run_until_complete(async move {
            let server = start_echo(&n).await;
            let (reader, writer) = open_connection(&n, addr(), DEFAULT_LIMIT).await?;
            assert_eq!(addr_info(&writer, "peername"), addr());
            for i in 0..20 {
                writer.write(format!("line number {i}\n").as_bytes())?;
            }
            writer.drain().await?;
            let mut lines = Vec::new();
            for _ in 0..20 {
                lines.push(reader.readline().await?);
            }
            // Half-close: the server sees EOF, finishes and closes its side.
            writer.write_eof()?;
            assert_eq!(reader.read_to_end().await?, b"");
            assert!(reader.at_eof());
            writer.close();
            writer.wait_closed().await?;
            server.close();
            server.wait_closed().await;
            Ok::<_, Error>(lines)
        })
        .unwrap()
        .unwrap();
    (lines, net.trace())
}

#[test]
fn echo_over_a_choppy_network() {
    let (lines, trace) = echo_scenario(5);
    let expected: Vec<Vec<u8>> = (0..20)
        .map(|i| format!("line number {i}\n").into_bytes())
        .collect();
    assert_eq!(lines, expected);
    // The network really did split the writes.
    let data_segments = trace
        .iter()
        .filter(|e| matches!(e.kind, loop_core::sim::NetEventKind::Data { .. }))
        .count();
    assert!(data_segments > 2 * 20, "{data_segments} segments");
}

#[test]
fn the_same_seed_replays_the_same_run() {
    let (a_lines, a_trace) = echo_scenario(99);
    let (b_lines, b_trace) = echo_scenario(99);
    assert_eq!(a_lines, b_lines);
    assert_eq!(a_trace, b_trace);
    let (_, c_trace) = echo_scenario(100);
    assert_ne!(a_trace, c_trace, "another seed, another schedule");
}

#[test]
fn a_plain_callback_gets_the_pair_inside_connection_made() {
    let (lp, net) = world(2, choppy());
    let n = net.clone();
    let greeting = lp
        .run_until_complete(async move {
            let server = start_server(
                &n,
                ClientConnected::plain(|_reader, writer| {
                    writer.write(b"220 welcome\r\n").unwrap();
                    writer.close();
                }),
                addr(),
                DEFAULT_LIMIT,
                ServerOptions::default(),
            )
            .await?;
            let (reader, _writer) = open_connection(&n, addr(), DEFAULT_LIMIT).await?;
            let line = reader.readuntil(b"\r\n").await?;
            assert_eq!(reader.read_to_end().await?, b"");
            server.close();
            Ok::<_, Error>(line)
        })
        .unwrap()
        .unwrap();
    assert_eq!(greeting, b"220 welcome\r\n");
}

#[test]
fn readexactly_and_incomplete_read_across_segments() {
    let (lp, net) = world(8, choppy_fixed_latency());
    let n = net.clone();
    let (head, err) = lp
        .run_until_complete(async move {
            let _server = start_server(
                &n,
                ClientConnected::task(|_r, writer: StreamWriter| async move {
                    writer.write(&[7u8; 100])?;
                    writer.write(b"tail")?;
                    writer.drain().await?;
                    writer.close();
                    Ok::<(), Error>(())
                }),
                addr(),
                DEFAULT_LIMIT,
                ServerOptions::default(),
            )
            .await?;
            let (reader, _w) = open_connection(&n, addr(), DEFAULT_LIMIT).await?;
            let head = reader.readexactly(100).await?;
            let err = reader.readexactly(10).await.unwrap_err();
            Ok::<_, Error>((head, err))
        })
        .unwrap()
        .unwrap();
    assert_eq!(head, vec![7u8; 100]);
    assert_eq!(err.kind(), ErrorKind::IncompleteRead);
    let e = err
        .downcast_ref::<loop_core::stream::IncompleteReadError>()
        .unwrap();
    assert_eq!((e.partial.as_slice(), e.expected), (&b"tail"[..], Some(10)));
}

#[test]
fn drain_waits_while_a_slow_reader_applies_back_pressure() {
    // The server reads nothing for 10 s. Its reader (limit 1 KiB) pauses its transport
    // past 2 KiB, the 4 KiB window fills, the client's transport buffers past its 8 KiB
    // high-water mark and pauses writing: drain must wait until the server reads.
    const TOTAL: usize = 256 * 1024;
    let config = choppy_fixed_latency()
        .with_max_segment(1500)
        .with_stream_window(4096);
    let (lp, net) = world(21, config);
    let received = Rc::new(RefCell::new(Vec::new()));
    let rec = received.clone();
    let server_lp = lp.clone();
    let cb = ClientConnected::task(move |reader: StreamReader, writer: StreamWriter| {
        let (lp, rec) = (server_lp.clone(), rec.clone());
        async move {
            sleep(&lp, Duration::from_secs(10)).await;
            let data = reader.read_to_end().await?;
            *rec.borrow_mut() = data;
            writer.write(b"done")?;
            writer.close();
            Ok::<(), Error>(())
        }
    });
    let n = net.clone();
    let lp2 = lp.clone();
    let waited = Rc::new(Cell::new(0));
    let w2 = waited.clone();
    let (finished_writing, reply) = lp
        .run_until_complete(async move {
            let _server = start_server(&n, cb, addr(), 1024, ServerOptions::default()).await?;
            let (reader, writer) = open_connection(&n, addr(), DEFAULT_LIMIT).await?;
            writer
                .transport()
                .set_write_buffer_limits(Some(8192), None)?;
            let chunk: Vec<u8> = (0..16 * 1024).map(|i| (i % 251) as u8).collect();
            for _ in 0..TOTAL / chunk.len() {
                writer.write(&chunk)?;
                if writer.transport().get_write_buffer_size() > 8192 {
                    w2.set(w2.get() + 1);
                }
                writer.drain().await?;
            }
            let finished = lp2.time();
            writer.write_eof()?;
            let reply = reader.read_to_end().await?;
            Ok::<_, Error>((finished, reply))
        })
        .unwrap()
        .unwrap();
    assert!(waited.get() > 0, "the transport was paused at least once");
    assert!(
        finished_writing.as_secs_f64() >= 10.0,
        "drain returned at {finished_writing:?}, before the server read"
    );
    assert_eq!(reply, b"done");
    let received = received.borrow();
    assert_eq!(received.len(), TOTAL);
    assert!(
        received
            .iter()
            .enumerate()
            .all(|(i, &b)| b == ((i % (16 * 1024)) % 251) as u8)
    );
}

#[test]
fn drain_stays_pending_while_the_peer_holds_its_reads() {
    let config = NetConfig::default().with_stream_window(1024);
    let (lp, net) = world(4, config);
    let n = net.clone();
    let lp2 = lp.clone();
    let resumed_at = lp
        .run_until_complete(async move {
            let _server = start_server(
                &n,
                ClientConnected::task(|reader: StreamReader, _w| async move {
                    reader.read_to_end().await.map(drop)
                }),
                addr(),
                DEFAULT_LIMIT,
                ServerOptions::default(),
            )
            .await?;
            let (_reader, writer) = open_connection(&n, addr(), DEFAULT_LIMIT).await?;
            let (local, peer) = (
                addr_info(&writer, "sockname"),
                addr_info(&writer, "peername"),
            );
            let server_end = n.connection(peer, local).expect("server end");
            server_end.hold_reads(true);
            writer.transport().set_write_buffer_limits(Some(0), None)?;
            writer.write(&[1; 4096])?;
            let release = server_end.clone();
            lp2.call_later(Duration::from_secs(3), move || release.hold_reads(false))?;
            writer.drain().await?;
            Ok::<_, Error>(lp2.time())
        })
        .unwrap()
        .unwrap();
    assert!(resumed_at.as_secs_f64() >= 3.0, "{resumed_at:?}");
}

#[test]
fn a_reset_in_mid_stream_fails_reads_drain_and_wait_closed() {
    let (lp, net) = world(6, choppy());
    let n = net.clone();
    let lp2 = lp.clone();
    let (read_err, drain_err, closed_err) = lp
        .run_until_complete(async move {
            let _server = start_server(
                &n,
                ClientConnected::task(|reader: StreamReader, _w| async move {
                    reader.read_to_end().await.map(drop)
                }),
                addr(),
                DEFAULT_LIMIT,
                ServerOptions::default(),
            )
            .await?;
            let (reader, writer) = open_connection(&n, addr(), DEFAULT_LIMIT).await?;
            let (local, peer) = (
                addr_info(&writer, "sockname"),
                addr_info(&writer, "peername"),
            );
            let conn = n.connection(local, peer).expect("client end");
            lp2.call_later(Duration::from_secs(1), move || conn.reset())?;
            let read_err = reader.read(10).await.unwrap_err();
            let drain_err = writer.drain().await.unwrap_err();
            let closed_err = writer.wait_closed().await.unwrap_err();
            Ok::<_, Error>((read_err, drain_err, closed_err))
        })
        .unwrap()
        .unwrap();
    assert_eq!(read_err.kind(), ErrorKind::ConnectionReset);
    assert_eq!(drain_err.kind(), ErrorKind::ConnectionReset);
    assert_eq!(closed_err.kind(), ErrorKind::ConnectionReset);
}

#[test]
fn open_connection_to_nobody_is_refused() {
    let (lp, net) = world(1, choppy());
    let err = lp
        .run_until_complete(async move { open_connection(&net, addr(), DEFAULT_LIMIT).await })
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn a_zero_limit_is_rejected() {
    let (lp, net) = world(1, NetConfig::default());
    let n = net.clone();
    let (a, b) = lp
        .run_until_complete(async move {
            let a = open_connection(&n, addr(), 0).await.unwrap_err();
            let b = start_server(&n, echo_lines(), addr(), 0, ServerOptions::default())
                .await
                .unwrap_err();
            (a, b)
        })
        .unwrap();
    assert_eq!(a.kind(), ErrorKind::InvalidInput);
    assert_eq!(b.kind(), ErrorKind::InvalidInput);
}
