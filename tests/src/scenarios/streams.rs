//! Streams (`open_connection`, `start_server`, `StreamReader`, `StreamWriter`):
//! readline, readuntil, readexactly with the partial bytes, the limit, drain under
//! back-pressure.
//!
//! The peer that feeds a reader is a recording protocol that writes a script and closes;
//! the reader's outcomes are recorded in lane `reader`.

use std::rc::Rc;
use std::time::Duration;

use loop_core::net::ServerOptions;
use loop_core::stream::{
    ClientConnected, DEFAULT_LIMIT, IncompleteReadError, LimitOverrunError, StreamReader,
    StreamWriter, open_connection, start_server,
};
use loop_core::sync::Event as Signal;
use loop_core::{Error, ErrorKind};

use super::{Outcome, pattern, serve};
use crate::context::{Backend, Cx};
use crate::record::{Accepted, Behaviour, Peer};
use crate::trace::{Kind, Lane, Payload};

/// A server whose connections write `script` and close; returns it and its address.
async fn feeder<N: Backend>(
    cx: &Cx<N>,
    script: &[u8],
) -> Result<(loop_core::net::Server, std::net::SocketAddr, Accepted), Error> {
    let accepted = Accepted::new(cx.trace(), "feeder");
    let script: Rc<[u8]> = Rc::from(script);
    let behaviour = move || {
        let script = script.clone();
        Behaviour::default().on_made(move |p: &Peer| {
            let t = p.transport();
            let r = t.write(&script);
            p.lane().status("write script", &r);
            t.close();
        })
    };
    let (server, addr) = serve(cx, &accepted, behaviour, ServerOptions::default()).await?;
    Ok((server, addr, accepted))
}

/// Record a read's outcome: the bytes, or the error kind with an incomplete read's
/// partial bytes and expected count, or a limit overrun's details.
fn record_read(lane: &Lane, label: &str, r: &Result<Vec<u8>, Error>) {
    match r {
        Ok(bytes) => lane.note(format!("{label}: ok {}", Payload::new(bytes))),
        Err(e) => {
            let mut text = format!("{label}: err {}", Kind::of_error(e));
            if let Some(i) = e.downcast_ref::<IncompleteReadError>() {
                text += &format!(
                    " partial {} expected {:?}",
                    Payload::new(&i.partial),
                    i.expected
                );
            }
            if let Some(o) = e.downcast_ref::<LimitOverrunError>() {
                text += &format!(" separator found {}", o.separator_found);
            }
            lane.note(text);
        }
    }
}

/// Tear down a stream client and a feeder server.
async fn finish_feed(
    writer: &StreamWriter,
    server: &loop_core::net::Server,
    accepted: &Accepted,
) -> Result<(), Error> {
    writer.close();
    writer.wait_closed().await?;
    accepted.made(1).await.lost().await;
    server.close();
    server.wait_closed().await;
    Ok(())
}

/// `readline`: whole lines, then the partial last line at EOF, then empty reads.
pub(crate) fn stream_readline<N: Backend>(cx: &Cx<N>) -> Outcome {
    let cx2 = cx.clone();
    cx.run(async move {
        let cx = &cx2;
        let (server, addr, accepted) = feeder(cx, b"alpha\nbeta\n\ngam").await?;
        let (reader, writer) = open_connection(cx.net(), addr, DEFAULT_LIMIT).await?;
        let lane = cx.lane("reader");
        for _ in 0..5 {
            let r = reader.readline().await;
            record_read(&lane, "readline", &r);
        }
        lane.check("at_eof", reader.at_eof());
        finish_feed(&writer, &server, &accepted).await
    })
}

/// `readuntil`: up to and including a multi-byte separator; at EOF an
/// `IncompleteReadError` carrying what was left; an empty separator is refused.
pub(crate) fn stream_readuntil<N: Backend>(cx: &Cx<N>) -> Outcome {
    let cx2 = cx.clone();
    cx.run(async move {
        let cx = &cx2;
        let (server, addr, accepted) = feeder(cx, b"one::two:::three:").await?;
        let (reader, writer) = open_connection(cx.net(), addr, DEFAULT_LIMIT).await?;
        let lane = cx.lane("reader");
        record_read(&lane, "empty separator", &reader.readuntil(b"").await);
        for _ in 0..4 {
            let r = reader.readuntil(b"::").await;
            record_read(&lane, "readuntil ::", &r);
        }
        finish_feed(&writer, &server, &accepted).await
    })
}

/// `readexactly`: exactly n bytes; at EOF an `IncompleteReadError` with the partial
/// bytes and the count asked for; 0 bytes at once.
pub(crate) fn stream_readexactly<N: Backend>(cx: &Cx<N>) -> Outcome {
    let cx2 = cx.clone();
    cx.run(async move {
        let cx = &cx2;
        let (server, addr, accepted) = feeder(cx, b"0123456789abcdef").await?;
        let (reader, writer) = open_connection(cx.net(), addr, DEFAULT_LIMIT).await?;
        let lane = cx.lane("reader");
        record_read(&lane, "readexactly 0", &reader.readexactly(0).await);
        record_read(&lane, "readexactly 10", &reader.readexactly(10).await);
        record_read(&lane, "readexactly 10", &reader.readexactly(10).await);
        record_read(&lane, "readexactly 1", &reader.readexactly(1).await);
        record_read(&lane, "read 100", &reader.read(100).await);
        finish_feed(&writer, &server, &accepted).await
    })
}

/// The reader's limit: a separator not found within it is a `LimitOverrunError` and the
/// data stays buffered (read on with `readexactly`, which the limit does not bound).
///
/// How far the search got when it gave up depends on how the bytes arrived, so only the
/// kind and "separator not found" are recorded; no separator follows the long line, so
/// that "not found" holds however much of it was buffered.
pub(crate) fn stream_limit_overrun<N: Backend>(cx: &Cx<N>) -> Outcome {
    let cx2 = cx.clone();
    cx.run(async move {
        let cx = &cx2;
        let script = [&b"short\n"[..], &[b'x'; 100], b"tail"].concat();
        let (server, addr, accepted) = feeder(cx, &script).await?;
        let (reader, writer) = open_connection(cx.net(), addr, 16).await?;
        let lane = cx.lane("reader");
        lane.note(format!("limit {}", reader.limit()));
        record_read(&lane, "readline", &reader.readline().await);
        record_read(&lane, "readuntil newline", &reader.readuntil(b"\n").await);
        record_read(&lane, "readexactly 100", &reader.readexactly(100).await);
        record_read(&lane, "readline", &reader.readline().await);
        record_read(&lane, "read 10", &reader.read(10).await);
        finish_feed(&writer, &server, &accepted).await
    })
}

/// A line server and client over streams: the server echoes lines upper-cased until EOF
/// and closes; the client half-closes and reads everything back.
pub(crate) fn stream_line_server<N: Backend>(cx: &Cx<N>) -> Outcome {
    let cx2 = cx.clone();
    cx.run(async move {
        let cx = &cx2;
        let handler_lane = cx.lane("handler");
        let handler = ClientConnected::task(move |reader: StreamReader, writer: StreamWriter| {
            let lane = handler_lane.clone();
            async move {
                loop {
                    let line = reader.readline().await?;
                    if line.is_empty() {
                        break;
                    }
                    lane.note(format!("line {}", Payload::new(&line)));
                    writer.write(&line.to_ascii_uppercase())?;
                    writer.drain().await?;
                }
                lane.note("eof");
                writer.close();
                writer.wait_closed().await?;
                lane.note("closed");
                Ok::<(), Error>(())
            }
        });
        let server = start_server(
            cx.net(),
            handler,
            cx.listen_addr(),
            DEFAULT_LIMIT,
            ServerOptions::default(),
        )
        .await?;
        let addr = server.sockets()[0];
        let (reader, writer) = open_connection(cx.net(), addr, DEFAULT_LIMIT).await?;
        writer.writelines(&[b"first\n", b"second\n"])?;
        writer.write(b"third\n")?;
        writer.drain().await?;
        writer.write_eof()?;
        let lane = cx.lane("client");
        record_read(&lane, "read_to_end", &reader.read_to_end().await);
        writer.close();
        writer.wait_closed().await?;
        lane.note("closed");
        server.close();
        server.wait_closed().await;
        Ok(())
    })
}

/// `drain` under back-pressure: while the peer does not read, `drain` blocks once the
/// transport paused writing, and returns when the peer catches up; every byte arrives
/// in order. (How many bytes it takes to block depends on the kernel: not recorded.)
pub(crate) fn stream_drain_backpressure<N: Backend>(cx: &Cx<N>) -> Outcome {
    let cx2 = cx.clone();
    cx.run(async move {
        let cx = &cx2;
        const CHUNK: usize = 64 * 1024;
        const AFTER: usize = 4;
        let go = Signal::new();
        let handler_lane = cx.lane("handler");
        let g = go.clone();
        let handler = ClientConnected::task(move |reader: StreamReader, writer: StreamWriter| {
            let (lane, go) = (handler_lane.clone(), g.clone());
            async move {
                go.wait().await;
                lane.note("reading");
                let data = reader.read_to_end().await?;
                let chunk = pattern(CHUNK, 6);
                let intact = data.chunks(CHUNK).all(|c| c == chunk.as_slice());
                lane.check("every byte in order", intact);
                writer.write(format!("{}", data.len()).as_bytes())?;
                writer.close();
                Ok::<(), Error>(())
            }
        });
        let server = start_server(
            cx.net(),
            handler,
            cx.listen_addr(),
            DEFAULT_LIMIT,
            ServerOptions::default(),
        )
        .await?;
        let addr = server.sockets()[0];
        let (reader, writer) = open_connection(cx.net(), addr, DEFAULT_LIMIT).await?;
        let lane = cx.lane("writer");
        let chunk = pattern(CHUNK, 6);
        let lp = cx.lp().clone();
        let mut sent = 0usize;
        let blocked = loop {
            if sent > 1 << 30 {
                return Err(Error::new(ErrorKind::Other, "drain never blocked"));
            }
            writer.write(&chunk)?;
            sent += CHUNK;
            let w = writer.clone();
            let drain = lp.create_task(async move { w.drain().await });
            lp.sleep(Duration::ZERO).await?;
            if drain.done() {
                (&drain).await??;
            } else {
                break drain;
            }
        };
        lane.note("drain blocked");
        go.set();
        (&blocked).await??;
        lane.note("drain returned");
        for _ in 0..AFTER {
            writer.write(&chunk)?;
            sent += CHUNK;
            writer.drain().await?;
        }
        writer.write_eof()?;
        let count = reader.read_to_end().await?;
        lane.check(
            "the server counted every byte",
            count == sent.to_string().into_bytes(),
        );
        writer.close();
        writer.wait_closed().await?;
        server.close();
        server.wait_closed().await;
        Ok(())
    })
}

/// After the connection is lost, `drain` fails with `ConnectionResetError` ("connection
/// lost") and writes fail with `RuntimeError`; `wait_closed` returns.
pub(crate) fn stream_writer_after_close<N: Backend>(cx: &Cx<N>) -> Outcome {
    let cx2 = cx.clone();
    cx.run(async move {
        let cx = &cx2;
        let (server, addr, accepted) = feeder(cx, b"bye").await?;
        let (reader, writer) = open_connection(cx.net(), addr, DEFAULT_LIMIT).await?;
        let lane = cx.lane("reader");
        record_read(&lane, "read_to_end", &reader.read_to_end().await);
        writer.close();
        lane.check("closing", writer.is_closing());
        lane.status("wait_closed", &writer.wait_closed().await);
        lane.status("drain", &writer.drain().await);
        lane.status("write", &writer.write(b"late"));
        accepted.made(1).await.lost().await;
        server.close();
        server.wait_closed().await;
        Ok(())
    })
}
