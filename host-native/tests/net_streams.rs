//! Streams on the native loop: `open_connection` / `start_server` with async and plain
//! client callbacks, a large echo paced by `drain`, the Unix-socket variants, and
//! loop-core's generic stream functions over the native `Net` backend.

mod util;

use std::net::SocketAddr;

use host_native::NativeLoop;
use loop_core::net::ServerOptions;
use loop_core::stream::{ClientConnected, DEFAULT_LIMIT, StreamReader, StreamWriter};
use loop_core::{Error, ExtraInfo};
use util::proto::payload;
use util::{LIMIT, watchdog};

/// Echo everything until end of stream, then close.
fn echo() -> ClientConnected {
    ClientConnected::task(|reader: StreamReader, writer: StreamWriter| async move {
        loop {
            let chunk = reader.read(64 * 1024).await?;
            if chunk.is_empty() {
                break;
            }
            writer.write(&chunk)?;
            writer.drain().await?;
        }
        writer.close();
        Ok::<(), Error>(())
    })
}

/// 8 MiB through an async-callback echo server, written with `drain` and read back
/// with `readexactly` while writing, compared byte for byte.
#[test]
fn large_echo_with_drain() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    lp.run_until_complete(async move {
        let server = l
            .start_server(echo(), ("127.0.0.1", 0), DEFAULT_LIMIT)
            .await?;
        let (reader, writer) = l
            .open_connection(server.sockets()[0], DEFAULT_LIMIT)
            .await?;
        let data = payload(8 << 20);
        let expected = data.clone();
        let read_back = l.create_task(async move {
            let got = reader.readexactly(expected.len()).await?;
            let rest = reader.read_to_end().await?;
            Ok::<_, Error>(got == expected && rest.is_empty())
        });
        for chunk in data.chunks(100_003) {
            writer.write(chunk)?;
            writer.drain().await?;
        }
        writer.write_eof()?;
        assert!(read_back.await?.unwrap(), "the echo differs");
        writer.close();
        writer.wait_closed().await?;
        server.close();
        server.wait_closed().await;
        Ok::<(), Error>(())
    })
    .unwrap()
    .unwrap();
}

/// A plain client callback: it runs inside `connection_made` and may start work of its
/// own (here it answers at once and closes).
#[test]
fn plain_client_callback() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    lp.run_until_complete(async move {
        let greet = ClientConnected::plain(|_reader, writer: StreamWriter| {
            let peer = writer.get_extra_info("peername");
            let Some(ExtraInfo::Addr(peer)) = peer else {
                panic!("no peername");
            };
            writer
                .write(format!("hello {}\n", peer.port()).as_bytes())
                .unwrap();
            writer.close();
        });
        let server = l
            .start_server(greet, ("127.0.0.1", 0), DEFAULT_LIMIT)
            .await?;
        let (reader, writer) = l
            .open_connection(server.sockets()[0], DEFAULT_LIMIT)
            .await?;
        let Some(ExtraInfo::Addr(me)) = writer.get_extra_info("sockname") else {
            panic!("no sockname");
        };
        let line = reader.readline().await?;
        assert_eq!(line, format!("hello {}\n", me.port()).as_bytes());
        assert!(reader.read_to_end().await?.is_empty());
        writer.close();
        server.close();
        Ok::<(), Error>(())
    })
    .unwrap()
    .unwrap();
}

/// Line echo over a Unix-domain socket.
#[test]
fn unix_streams() {
    let _w = watchdog(LIMIT);
    let path = std::env::temp_dir().join(format!("tulip-{}-streams.sock", std::process::id()));
    let lp = NativeLoop::new().unwrap();
    let (l, p) = (lp.clone(), path.clone());
    lp.run_until_complete(async move {
        let upper =
            ClientConnected::task(|reader: StreamReader, writer: StreamWriter| async move {
                loop {
                    let line = reader.readline().await?;
                    if line.is_empty() {
                        break;
                    }
                    writer.write(&line.to_ascii_uppercase())?;
                }
                writer.close();
                Ok::<(), Error>(())
            });
        let server = l
            .start_unix_server(upper, p.as_path(), DEFAULT_LIMIT)
            .await?;
        let (reader, writer) = l.open_unix_connection(p.as_path(), DEFAULT_LIMIT).await?;
        writer.write(b"one\ntwo\n")?;
        writer.write_eof()?;
        assert_eq!(reader.read_to_end().await?, b"ONE\nTWO\n");
        writer.close();
        server.close();
        server.wait_closed().await;
        Ok::<(), Error>(())
    })
    .unwrap()
    .unwrap();
    assert!(!path.exists());
}

/// loop-core's backend-generic `open_connection` / `start_server`, instantiated with
/// the native loop as the `Net` backend (the same code runs on the simulated network).
#[test]
fn generic_stream_functions_over_the_native_backend() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    lp.run_until_complete(async move {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let server = loop_core::stream::start_server(
            &l,
            echo(),
            any,
            DEFAULT_LIMIT,
            ServerOptions::default(),
        )
        .await?;
        let (reader, writer) =
            loop_core::stream::open_connection(&l, server.sockets()[0], DEFAULT_LIMIT).await?;
        writer.write(b"generic")?;
        writer.write_eof()?;
        assert_eq!(reader.read_to_end().await?, b"generic");
        writer.close();
        server.close();
        Ok::<(), Error>(())
    })
    .unwrap()
    .unwrap();
}
