//! The TCP life cycle through protocols and transports: connect, data, half-close each
//! way, close with buffered data, abort, peer reset, connection refused.
//!
//! Lanes: `client` for the connecting side, `server1`, `server2`, … for the accepted
//! connections in accept order, `main` for the scenario's own steps.

use std::cell::RefCell;
use std::rc::Rc;

use loop_core::ErrorKind;
use loop_core::net::ServerOptions;

use super::{Outcome, SETTLE, close_and_wait, connect, ensure, is_kind, pattern, serve};
use crate::context::{Backend, Cx};
use crate::record::{Accepted, Behaviour, Peer};

/// Connect, send, get the echo, close: the client's close makes the server see EOF, and
/// its default `eof_received` (false) closes it.
pub(crate) fn tcp_echo<N: Backend>(cx: &Cx<N>) -> Outcome {
    let cx2 = cx.clone();
    cx.run(async move {
        let cx = &cx2;
        let accepted = Accepted::new(cx.trace(), "server");
        let (server, addr) =
            serve(cx, &accepted, Behaviour::echo, ServerOptions::default()).await?;
        let client = connect(cx, "client", Behaviour::default(), addr).await?;
        client.transport().write(b"hello, ")?;
        client.transport().write(b"world")?;
        client.received_at_least(12).await;
        close_and_wait(&client).await;
        accepted.peer(1).lost().await;
        server.close();
        server.wait_closed().await;
        Ok(())
    })
}

/// The client half-closes (`write_eof`) after its request; the server, keeping the
/// connection open on EOF, answers and closes; the client reads the answer, then EOF.
pub(crate) fn tcp_half_close_by_client<N: Backend>(cx: &Cx<N>) -> Outcome {
    let cx2 = cx.clone();
    cx.run(async move {
        let cx = &cx2;
        let accepted = Accepted::new(cx.trace(), "server");
        let behaviour = || {
            Behaviour::default().keep_open().on_eof(|p: &Peer| {
                let t = p.transport();
                let answer = format!("got {} bytes", p.received_len());
                let r = t.write(answer.as_bytes());
                p.lane().status("answer after eof", &r);
                t.close();
            })
        };
        let (server, addr) = serve(cx, &accepted, behaviour, ServerOptions::default()).await?;
        let client = connect(cx, "client", Behaviour::default(), addr).await?;
        let t = client.transport();
        t.write(b"request")?;
        t.write_eof()?;
        client.lane().check("can_write_eof", t.can_write_eof());
        client
            .lane()
            .status("write after write_eof", &t.write(b"more"));
        client.lost().await;
        accepted.peer(1).lost().await;
        server.close();
        server.wait_closed().await;
        Ok(())
    })
}

/// The server sends a banner and half-closes at once; the client, kept open on EOF,
/// still sends its data, which the server receives before the client closes.
pub(crate) fn tcp_half_close_by_server<N: Backend>(cx: &Cx<N>) -> Outcome {
    let cx2 = cx.clone();
    cx.run(async move {
        let cx = &cx2;
        let accepted = Accepted::new(cx.trace(), "server");
        let behaviour = || {
            Behaviour::default().on_made(|p: &Peer| {
                let t = p.transport();
                let r = t.write(b"banner").and_then(|()| t.write_eof());
                p.lane().status("banner and write_eof", &r);
            })
        };
        let (server, addr) = serve(cx, &accepted, behaviour, ServerOptions::default()).await?;
        let client = connect(cx, "client", Behaviour::default().keep_open(), addr).await?;
        client.eof().await;
        let t = client.transport();
        t.write(b"still talking")?;
        let peer = accepted.made(1).await;
        peer.received_at_least(13).await;
        close_and_wait(&client).await;
        peer.lost().await;
        server.close();
        server.wait_closed().await;
        Ok(())
    })
}

/// `close` with a full write buffer: the buffer is flushed before `connection_lost`, and
/// the peer receives every byte, then EOF. (The server does not read until the client
/// has closed, so the client's buffer holds data when it closes, on every backend.)
pub(crate) fn tcp_close_flushes_buffer<N: Backend>(cx: &Cx<N>) -> Outcome {
    let cx2 = cx.clone();
    cx.run(async move {
        let cx = &cx2;
        let accepted = Accepted::new(cx.trace(), "server");
        let (server, addr) = serve(
            cx,
            &accepted,
            || Behaviour::default().paused().quiet(),
            ServerOptions::default(),
        )
        .await?;
        let client = connect(cx, "client", Behaviour::default(), addr).await?;
        let t = client.transport();
        let chunk = pattern(16 * 1024, 1);
        let mut sent = 0;
        while t.get_write_buffer_size() == 0 {
            ensure(sent < 1 << 30, "the channel filled up")?;
            t.write(&chunk)?;
            sent += chunk.len();
        }
        t.close();
        client.lane().check("closing", t.is_closing());
        client.lane().status("write after close", &t.write(b"late"));
        let peer = accepted.made(1).await;
        peer.lane().note("resume_reading");
        peer.transport().resume_reading();
        client.lost().await;
        client
            .lane()
            .check("buffer empty once lost", t.get_write_buffer_size() == 0);
        peer.lost().await;
        let got = peer.received();
        peer.lane().check(
            "received every byte in order",
            got.len() == sent && got.chunks(chunk.len()).all(|c| c == chunk.as_slice()),
        );
        server.close();
        server.wait_closed().await;
        Ok(())
    })
}

/// `abort` drops the write buffer: `connection_lost(None)` follows at once, and the
/// peer receives a prefix of what was written (how much left before the abort depends on
/// the kernel's buffers: a check, not bytes), then EOF.
pub(crate) fn tcp_abort_drops_buffer<N: Backend>(cx: &Cx<N>) -> Outcome {
    let cx2 = cx.clone();
    cx.run(async move {
        let cx = &cx2;
        let payload = pattern(16 << 20, 2);
        let accepted = Accepted::new(cx.trace(), "server");
        let (server, addr) = serve(
            cx,
            &accepted,
            || Behaviour::default().quiet(),
            ServerOptions::default(),
        )
        .await?;
        let client = connect(cx, "client", Behaviour::default(), addr).await?;
        let t = client.transport();
        t.write(&payload)?;
        client.lane().check(
            "16 MiB do not all fit in the channel",
            t.get_write_buffer_size() > 0,
        );
        t.abort();
        client.lane().check("closing", t.is_closing());
        client
            .lane()
            .check("buffer dropped", t.get_write_buffer_size() == 0);
        client.lane().status("write after abort", &t.write(b"late"));
        client.lost().await;
        let peer = accepted.made(1).await;
        peer.lost().await;
        let got = peer.received();
        peer.lane().check(
            "received a strict prefix of the payload",
            got.len() < payload.len() && payload.starts_with(&got),
        );
        server.close();
        server.wait_closed().await;
        Ok(())
    })
}

/// A peer that closes with unread data resets the connection (as Linux does): the
/// other side's `connection_lost` gets `ConnectionResetError`.
///
/// Backend assumption: the unread bytes reach the server's socket within [`SETTLE`]
/// after the client's write went out (immediate on loopback). Were they later, the
/// server would close with nothing unread and the client would see EOF instead.
pub(crate) fn tcp_peer_reset<N: Backend>(cx: &Cx<N>) -> Outcome {
    let cx2 = cx.clone();
    cx.run(async move {
        let cx = &cx2;
        let accepted = Accepted::new(cx.trace(), "server");
        let (server, addr) = serve(
            cx,
            &accepted,
            || Behaviour::default().paused(),
            ServerOptions::default(),
        )
        .await?;
        let client = connect(cx, "client", Behaviour::default(), addr).await?;
        let t = client.transport();
        t.write(b"never read")?;
        ensure(
            t.get_write_buffer_size() == 0,
            "a 10-byte write goes out at once",
        )?;
        let peer = accepted.made(1).await;
        cx.lp().sleep(SETTLE).await?;
        peer.lane()
            .check("reading paused", !peer.transport().is_reading());
        peer.transport().close();
        peer.lost().await;
        client.lost().await;
        client
            .lane()
            .status("write after the reset", &client.transport().write(b"x"));
        server.close();
        server.wait_closed().await;
        Ok(())
    })
}

/// Connecting where nothing listens (a port just released) fails with
/// `ConnectionRefusedError`, and no protocol is created.
pub(crate) fn tcp_connect_refused<N: Backend>(cx: &Cx<N>) -> Outcome {
    let cx2 = cx.clone();
    cx.run(async move {
        let cx = &cx2;
        let lane = cx.lane("main");
        let accepted = Accepted::new(cx.trace(), "server");
        let (server, addr) =
            serve(cx, &accepted, Behaviour::default, ServerOptions::default()).await?;
        server.close();
        server.wait_closed().await;
        let made = Rc::new(RefCell::new(false));
        let m = made.clone();
        let r = cx
            .net()
            .create_connection(
                move || {
                    *m.borrow_mut() = true;
                    Peer::new(cx.lane("client"), Behaviour::default()).protocol()
                },
                addr,
            )
            .await;
        lane.status("connect to a closed port", &r);
        lane.check("refused", is_kind(&r, ErrorKind::ConnectionRefused));
        lane.check("no protocol created", !*made.borrow());
        Ok(())
    })
}

/// `get_extra_info`: each side's `peername` is the other's `sockname`, the client's
/// peer is the server's listening address, and the transport's addresses stay readable
/// after the connection is closed.
pub(crate) fn tcp_addresses<N: Backend>(cx: &Cx<N>) -> Outcome {
    let cx2 = cx.clone();
    cx.run(async move {
        let cx = &cx2;
        let accepted = Accepted::new(cx.trace(), "server");
        let (server, addr) =
            serve(cx, &accepted, Behaviour::default, ServerOptions::default()).await?;
        let client = connect(cx, "client", Behaviour::default(), addr).await?;
        let peer = accepted.made(1).await;
        let lane = cx.lane("main");
        lane.check(
            "client peername = server address",
            client.peername() == Some(addr),
        );
        lane.check(
            "server peername = client sockname",
            peer.peername().is_some() && peer.peername() == client.sockname(),
        );
        lane.check(
            "server sockname = server address",
            peer.sockname() == Some(addr),
        );
        lane.check(
            "client on the loopback",
            client.sockname().map(|a| a.ip()) == Some(cx.env().loopback),
        );
        lane.check(
            "unknown key",
            client.transport().get_extra_info("no such key").is_none(),
        );
        close_and_wait(&client).await;
        lane.check("sockname after close", client.sockname().is_some());
        peer.lost().await;
        server.close();
        server.wait_closed().await;
        Ok(())
    })
}

/// `writelines` sends the buffers in order; writes of nothing are no-ops.
pub(crate) fn tcp_writelines<N: Backend>(cx: &Cx<N>) -> Outcome {
    let cx2 = cx.clone();
    cx.run(async move {
        let cx = &cx2;
        let accepted = Accepted::new(cx.trace(), "server");
        let (server, addr) =
            serve(cx, &accepted, Behaviour::default, ServerOptions::default()).await?;
        let client = connect(cx, "client", Behaviour::default(), addr).await?;
        let t = client.transport();
        t.write(b"")?;
        t.writelines(&[b"one ", b"", b"two ", b"three"])?;
        t.writelines(&[])?;
        let peer = accepted.made(1).await;
        peer.received_at_least(13).await;
        close_and_wait(&client).await;
        peer.lost().await;
        server.close();
        server.wait_closed().await;
        Ok(())
    })
}

/// A `BufferedProtocol` with a 7-byte buffer receives everything, in order.
pub(crate) fn tcp_buffered_protocol<N: Backend>(cx: &Cx<N>) -> Outcome {
    let cx2 = cx.clone();
    cx.run(async move {
        let cx = &cx2;
        let payload = pattern(1000, 3);
        let accepted = Accepted::new(cx.trace(), "server");
        let (server, addr) =
            serve(cx, &accepted, Behaviour::echo, ServerOptions::default()).await?;
        let client = Peer::new(cx.lane("client"), Behaviour::default());
        let c = client.clone();
        cx.net()
            .create_buffered_connection(move || c.buffered_protocol(7), addr)
            .await?;
        client.transport().write(&payload)?;
        client.received_at_least(payload.len()).await;
        client
            .lane()
            .check("echo intact", client.received() == payload);
        close_and_wait(&client).await;
        accepted.peer(1).lost().await;
        server.close();
        server.wait_closed().await;
        Ok(())
    })
}

/// Echo of 16 writes of 512 bytes, run with injected resets on the simulation: a reset may
/// cut either side short, but what was received before it is a prefix of what was sent,
/// and both sides end with `connection_lost`.
pub(crate) fn tcp_echo_under_resets<N: Backend>(cx: &Cx<N>) -> Outcome {
    let cx2 = cx.clone();
    cx.run(async move {
        let cx = &cx2;
        let accepted = Accepted::new(cx.trace(), "server");
        let (server, addr) =
            serve(cx, &accepted, Behaviour::echo, ServerOptions::default()).await?;
        let client = connect(cx, "client", Behaviour::default(), addr).await?;
        let t = client.transport();
        for i in 0..16u8 {
            t.write(&pattern(512, i))?;
        }
        t.write_eof()?;
        client.lost().await;
        accepted.made(1).await.lost().await;
        server.close();
        server.wait_closed().await;
        Ok(())
    })
}
