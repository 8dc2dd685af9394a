//! Unix-domain stream sockets: echo over a filesystem path and a Linux abstract name,
//! stale socket files, removal of the file on close, refused connections, existing
//! sockets and half-close.

mod util;

use std::io::Read;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;

use host_native::{NativeLoop, UnixConnectOptions, UnixListenOptions};
use loop_core::{ErrorKind, ExtraInfo};
use util::proto::{Conn, Mode, Rec, recorder_factory};
use util::{LIMIT, watchdog};

/// A socket path in the temporary directory, unique to this process and `name`.
fn temp_path(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("tulip-{}-{name}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

async fn unix_client(lp: &NativeLoop, to: impl Into<UnixConnectOptions>, mode: Mode) -> Conn {
    let conn = Conn::new(lp);
    let c = conn.clone();
    lp.create_unix_connection(move || Rec::new(c, mode), to)
        .await
        .unwrap();
    conn
}

/// Echo over a path; names as asyncio reports them; the file goes with the server.
#[test]
fn echo_over_a_filesystem_path() {
    let _w = watchdog(LIMIT);
    let path = temp_path("echo");
    let lp = NativeLoop::new().unwrap();
    let (l, p) = (lp.clone(), path.clone());
    lp.run_until_complete(async move {
        let (accepted, factory) = recorder_factory(&l, Mode::Echo);
        let server = l.create_unix_server(factory, p.as_path()).await.unwrap();
        assert!(server.sockets().is_empty(), "no IP address to list");
        assert!(p.exists());
        let conn = unix_client(&l, p.as_path(), Mode::Record).await;
        let data = util::proto::payload(1 << 20);
        conn.transport().write(&data).unwrap();
        conn.received(&l, data.len()).await.unwrap();
        assert!(conn.data() == data);

        let text = ExtraInfo::Text(p.to_string_lossy().into_owned());
        let t = conn.transport();
        assert_eq!(t.get_extra_info("peername"), Some(text.clone()));
        assert_eq!(
            t.get_extra_info("sockname"),
            Some(ExtraInfo::Text(String::new()))
        );
        let s = accepted.nth(&l, 0).await;
        assert_eq!(s.transport().get_extra_info("sockname"), Some(text));
        assert_eq!(
            s.transport().get_extra_info("peername"),
            Some(ExtraInfo::Text(String::new())),
            "an unnamed client, '' as in asyncio"
        );
        assert!(matches!(
            t.get_extra_info("socket"),
            Some(ExtraInfo::Int(_))
        ));

        t.close();
        assert_eq!(conn.lost.clone().await.unwrap(), None);
        server.close();
        server.wait_closed().await;
        assert!(!p.exists(), "cleanup_socket removes the file");
    })
    .unwrap();
}

/// Echo over an abstract name (Linux): no file is involved.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[test]
fn echo_over_an_abstract_name() {
    let _w = watchdog(LIMIT);
    let name = format!("\0tulip-test-{}", std::process::id());
    let lp = NativeLoop::new().unwrap();
    let l = lp.clone();
    lp.run_until_complete(async move {
        let (accepted, factory) = recorder_factory(&l, Mode::Echo);
        let server = l.create_unix_server(factory, name.as_str()).await.unwrap();
        let conn = unix_client(&l, name.as_str(), Mode::Record).await;
        conn.transport().write(b"abstract").unwrap();
        conn.received(&l, 8).await.unwrap();
        assert_eq!(conn.data(), b"abstract");
        assert_eq!(
            conn.transport().get_extra_info("peername"),
            Some(ExtraInfo::Text(name.clone()))
        );
        let s = accepted.nth(&l, 0).await;
        assert_eq!(
            s.transport().get_extra_info("sockname"),
            Some(ExtraInfo::Text(name.clone()))
        );
        conn.transport().close();
        server.close();
        server.wait_closed().await;
        // The name is free again.
        let (_, factory) = recorder_factory(&l, Mode::Echo);
        l.create_unix_server(factory, name.as_str())
            .await
            .unwrap()
            .close();
    })
    .unwrap();
}

/// A socket file left by a dead server is replaced; a file of another kind is not,
/// and binding fails with `AddrInUse`; `cleanup_socket(false)` keeps the file.
#[test]
fn stale_socket_files_and_cleanup() {
    let _w = watchdog(LIMIT);
    let stale = temp_path("stale");
    drop(UnixListener::bind(&stale).unwrap());
    assert!(stale.exists(), "a dead listener leaves its file");
    let regular = temp_path("regular");
    std::fs::write(&regular, b"not a socket").unwrap();
    let kept = temp_path("kept");

    let lp = NativeLoop::new().unwrap();
    let (l, s, r, k) = (lp.clone(), stale.clone(), regular.clone(), kept.clone());
    lp.run_until_complete(async move {
        let refused = l
            .create_unix_connection(|| -> Rec { panic!("nobody listens") }, s.as_path())
            .await
            .err()
            .unwrap();
        assert_eq!(refused.kind(), ErrorKind::ConnectionRefused, "{refused}");

        let (_, factory) = recorder_factory(&l, Mode::Echo);
        let server = l.create_unix_server(factory, s.as_path()).await.unwrap();
        let conn = unix_client(&l, s.as_path(), Mode::Record).await;
        conn.transport().close();
        server.close();

        let (_, factory) = recorder_factory(&l, Mode::Echo);
        let err = l
            .create_unix_server(factory, r.as_path())
            .await
            .err()
            .unwrap();
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
        assert_eq!(std::fs::read(&r).unwrap(), b"not a socket");

        let (_, factory) = recorder_factory(&l, Mode::Echo);
        let server = l
            .create_unix_server(
                factory,
                UnixListenOptions::new().path(&k).cleanup_socket(false),
            )
            .await
            .unwrap();
        server.close();
        assert!(k.exists());

        let missing = temp_path("missing");
        let err = l
            .create_unix_connection(|| -> Rec { panic!("no server") }, missing)
            .await
            .err()
            .unwrap();
        assert_eq!(
            err.downcast_ref::<std::io::Error>().unwrap().kind(),
            std::io::ErrorKind::NotFound
        );
    })
    .unwrap();
    assert!(!stale.exists());
    for p in [regular, kept] {
        std::fs::remove_file(p).unwrap();
    }
}

/// Existing sockets on both sides (a bound std listener, a connected std stream), and
/// half-close over a Unix socket.
#[test]
fn existing_sockets_and_half_close() {
    let _w = watchdog(LIMIT);
    let path = temp_path("sock");
    let listener = UnixListener::bind(&path).unwrap();
    let lp = NativeLoop::new().unwrap();
    let (l, p) = (lp.clone(), path.clone());
    lp.run_until_complete(async move {
        let (accepted, factory) = recorder_factory(&l, Mode::KeepOpen);
        let server = l
            .create_unix_server(factory, UnixListenOptions::new().sock(listener))
            .await
            .unwrap();
        let std_client = UnixStream::connect(&p).unwrap();
        let conn = unix_client(&l, UnixConnectOptions::new().sock(std_client), Mode::Record).await;
        let t = conn.transport();
        assert!(t.can_write_eof());
        t.write(b"question").unwrap();
        t.write_eof().unwrap();
        let s = accepted.nth(&l, 0).await;
        s.eof.clone().await.unwrap();
        assert_eq!(s.data(), b"question");
        s.transport().write(b"answer").unwrap();
        s.transport().close();
        conn.eof.clone().await.unwrap();
        assert_eq!(conn.data(), b"answer");
        assert_eq!(conn.lost.clone().await.unwrap(), None);
        server.close();
        server.wait_closed().await;
    })
    .unwrap();
    assert!(
        !path.exists(),
        "the adopted socket's file is cleaned up too"
    );
}

/// A server transport and a plain blocking peer: what the loop writes arrives.
#[test]
fn server_writes_reach_a_blocking_peer() {
    let _w = watchdog(LIMIT);
    let path = temp_path("peer");
    let lp = NativeLoop::new().unwrap();
    let (l, p) = (lp.clone(), path.clone());
    lp.run_until_complete(async move {
        let (accepted, factory) = recorder_factory(&l, Mode::Record);
        let server = l.create_unix_server(factory, p.as_path()).await.unwrap();
        let mut peer = UnixStream::connect(&p).unwrap();
        let s = accepted.nth(&l, 0).await;
        s.transport().write(b"from the loop").unwrap();
        s.transport().close();
        s.lost.clone().await.unwrap();
        let mut got = Vec::new();
        peer.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"from the loop");
        server.close();
    })
    .unwrap();
}
