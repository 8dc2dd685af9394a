//! Flow control: `pause_writing` / `resume_writing` for several write-buffer limits, the
//! limits' validation, and `pause_reading` / `resume_reading`.
//!
//! Kernels buffer a lot (megabytes on loopback), so a count of pauses only means
//! something if the writer writes while its peer does not read. Each round here does
//! exactly that: the client writes until it is paused (how many bytes that takes
//! depends on the backend's buffers, so it is not recorded), the server then reads
//! everything and stops reading again, and the client waits to be resumed. Every backend
//! must then show one `pause` and one `resume` per round.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use loop_core::net::ServerOptions;

use super::{Outcome, SETTLE, close_and_wait, connect, ensure, pattern, serve};
use crate::context::{Backend, Cx};
use crate::record::{Accepted, Behaviour, Peer, unexpected};

/// Chunk the producer writes.
const CHUNK: usize = 16 * 1024;
/// The most a producer writes in one round before giving up (no backend buffers this
/// much without pausing).
const ROUND_LIMIT: usize = 256 << 20;
/// Rounds per scenario.
const ROUNDS: usize = 3;

/// Write chunks until the protocol is paused; returns the bytes written.
fn write_until_paused(peer: &Peer, chunk: &[u8]) -> Result<usize, loop_core::Error> {
    let t = peer.transport();
    let mut written = 0;
    while !peer.is_paused() {
        if written > ROUND_LIMIT {
            return Err(unexpected(format!(
                "never paused after {written} bytes with limits {:?}",
                t.get_write_buffer_limits()
            )));
        }
        t.write(chunk)?;
        written += chunk.len();
    }
    Ok(written)
}

/// The rounds described in the module docs, with the client's limits set to `limits`
/// (`None`: the defaults).
fn rounds<N: Backend>(cx: &Cx<N>, limits: Option<(Option<usize>, Option<usize>)>) -> Outcome {
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
        let mut behaviour = Behaviour::default();
        if let Some((high, low)) = limits {
            behaviour = behaviour.limits(high, low);
        }
        let client = connect(cx, "client", behaviour, addr).await?;
        let (low, high) = client.transport().get_write_buffer_limits();
        client.lane().note(format!("limits low {low}, high {high}"));
        let peer = accepted.made(1).await;
        let chunk = pattern(CHUNK, 9);
        let mut sent = 0;
        for round in 1..=ROUNDS {
            sent += write_until_paused(&client, &chunk)?;
            client
                .lane()
                .note(format!("round {round}: stopped writing"));
            peer.transport().resume_reading();
            peer.received_at_least(sent).await;
            peer.transport().pause_reading();
            peer.lane().check(
                &format!("round {round}: received everything sent"),
                peer.received_len() == sent,
            );
            client.resumed().await;
        }
        let (pauses, resumes) = client.flow_counts();
        client
            .lane()
            .note(format!("{pauses} pauses, {resumes} resumes"));
        peer.transport().resume_reading();
        close_and_wait(&client).await;
        peer.lost().await;
        peer.lane().check(
            "every byte in order",
            peer.received().chunks(CHUNK).all(|c| c == chunk.as_slice()),
        );
        server.close();
        server.wait_closed().await;
        Ok(())
    })
}

/// Limits `(high 0, low 0)`: any buffered byte pauses, only an empty buffer resumes.
pub(crate) fn flow_limits_zero<N: Backend>(cx: &Cx<N>) -> Outcome {
    rounds(cx, Some((Some(0), Some(0))))
}

/// Limits `(high 1, low 0)`.
pub(crate) fn flow_limits_one_zero<N: Backend>(cx: &Cx<N>) -> Outcome {
    rounds(cx, Some((Some(1), Some(0))))
}

/// Limits `(high 4096, low 1024)`.
pub(crate) fn flow_limits_small<N: Backend>(cx: &Cx<N>) -> Outcome {
    rounds(cx, Some((Some(4096), Some(1024))))
}

/// Only `high 8192` given: `low` defaults to a quarter of it.
pub(crate) fn flow_limits_high_only<N: Backend>(cx: &Cx<N>) -> Outcome {
    rounds(cx, Some((Some(8192), None)))
}

/// asyncio's defaults (high 64 KiB, low 16 KiB).
pub(crate) fn flow_limits_default<N: Backend>(cx: &Cx<N>) -> Outcome {
    rounds(cx, None)
}

/// Changing the limits re-checks at once: with bytes buffered, lowering `high` below
/// them pauses, raising `low` above them resumes.
pub(crate) fn flow_limits_change<N: Backend>(cx: &Cx<N>) -> Outcome {
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
        let huge = usize::MAX / 2;
        let client = connect(
            cx,
            "client",
            Behaviour::default().limits(Some(huge), Some(huge)),
            addr,
        )
        .await?;
        let peer = accepted.made(1).await;
        let t = client.transport();
        let chunk = pattern(CHUNK, 4);
        let mut sent = 0;
        while t.get_write_buffer_size() == 0 {
            ensure(sent <= ROUND_LIMIT, "the channel filled up")?;
            t.write(&chunk)?;
            sent += CHUNK;
        }
        client
            .lane()
            .check("buffering, not paused", !client.is_paused());
        client.lane().note("set limits (0, 0)");
        t.set_write_buffer_limits(Some(0), Some(0))?;
        client.lane().note("set limits (huge, huge)");
        t.set_write_buffer_limits(Some(huge), Some(huge))?;
        client.lane().note("set limits (0, 0) again");
        t.set_write_buffer_limits(Some(0), Some(0))?;
        client.lane().note("server resumes reading");
        peer.transport().resume_reading();
        client.resumed().await;
        peer.received_at_least(sent).await;
        close_and_wait(&client).await;
        peer.lost().await;
        server.close();
        server.wait_closed().await;
        Ok(())
    })
}

/// The limits' defaults and validation: `low > high` is refused and changes nothing;
/// only `low` given makes `high` four times it.
pub(crate) fn flow_limits_validation<N: Backend>(cx: &Cx<N>) -> Outcome {
    let cx2 = cx.clone();
    cx.run(async move {
        let cx = &cx2;
        let accepted = Accepted::new(cx.trace(), "server");
        let (server, addr) =
            serve(cx, &accepted, Behaviour::default, ServerOptions::default()).await?;
        let client = connect(cx, "client", Behaviour::default(), addr).await?;
        let t = client.transport();
        let lane = client.lane();
        lane.note(format!("defaults {:?}", t.get_write_buffer_limits()));
        lane.status(
            "low above high",
            &t.set_write_buffer_limits(Some(1), Some(2)),
        );
        lane.note(format!("unchanged {:?}", t.get_write_buffer_limits()));
        t.set_write_buffer_limits(None, Some(100))?;
        lane.note(format!("low only {:?}", t.get_write_buffer_limits()));
        t.set_write_buffer_limits(Some(0), None)?;
        lane.note(format!("high 0 {:?}", t.get_write_buffer_limits()));
        t.set_write_buffer_limits(None, None)?;
        lane.note(format!(
            "back to defaults {:?}",
            t.get_write_buffer_limits()
        ));
        close_and_wait(&client).await;
        accepted.made(1).await.lost().await;
        server.close();
        server.wait_closed().await;
        Ok(())
    })
}

/// `pause_reading` stops `data_received` until `resume_reading`; the bytes wait and
/// arrive after it, intact; pausing twice or resuming twice is harmless.
pub(crate) fn flow_pause_reading<N: Backend>(cx: &Cx<N>) -> Outcome {
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
        client.transport().write(b"waiting in the kernel")?;
        let peer = accepted.made(1).await;
        let t = peer.transport();
        t.pause_reading();
        peer.lane().check("is_reading while paused", t.is_reading());
        cx.lp().sleep(SETTLE).await?;
        peer.lane().note("resume_reading");
        t.resume_reading();
        t.resume_reading();
        peer.lane().check("is_reading after resume", t.is_reading());
        peer.received_at_least(21).await;
        close_and_wait(&client).await;
        peer.lost().await;
        peer.lane().check("is_reading once closed", t.is_reading());
        server.close();
        server.wait_closed().await;
        Ok(())
    })
}

/// A producer paced by `pause_writing` / `resume_writing` against a consumer that
/// pauses its reading every 32 KiB: every byte arrives, in order, and the pauses and
/// resumes alternate (their number depends on buffers: a check).
pub(crate) fn flow_paced_producer<N: Backend>(cx: &Cx<N>) -> Outcome {
    let cx2 = cx.clone();
    cx.run(async move {
        let cx = &cx2;
        const TOTAL: usize = 512 * 1024;
        let accepted = Accepted::new(cx.trace(), "server");
        let stalls = Rc::new(Cell::new(0usize));
        let s = stalls.clone();
        let lp = cx.lp().clone();
        let behaviour = move || {
            let (s, lp) = (s.clone(), lp.clone());
            let mark = Rc::new(Cell::new(32 * 1024));
            Behaviour::default()
                .keep_open()
                .quiet()
                .on_data(move |p: &Peer, _| {
                    if p.received_len() >= mark.get() {
                        mark.set(mark.get() + 32 * 1024);
                        s.set(s.get() + 1);
                        let t = p.transport();
                        t.pause_reading();
                        let _ = lp.call_later(Duration::from_millis(1), move || t.resume_reading());
                    }
                })
        };
        let (server, addr) = serve(cx, &accepted, behaviour, ServerOptions::default()).await?;
        let client = Peer::new(
            cx.lane("client"),
            Behaviour::default()
                .quiet_flow()
                .limits(Some(32 * 1024), Some(8 * 1024)),
        );
        let c = client.clone();
        cx.net()
            .create_connection(move || c.protocol(), addr)
            .await?;
        let payload = pattern(TOTAL, 5);
        let t = client.transport();
        let mut at = 0;
        while at < TOTAL {
            client.resumed().await;
            let end = (at + 8 * 1024).min(TOTAL);
            t.write(&payload[at..end])?;
            at = end;
        }
        t.write_eof()?;
        let peer = accepted.made(1).await;
        peer.eof().await;
        let lane = cx.lane("main");
        lane.check("every byte in order", peer.received() == payload);
        lane.check("the consumer paused its reading", stalls.get() > 0);
        let (pauses, resumes) = client.flow_counts();
        lane.check(
            "pauses and resumes alternate",
            pauses == resumes || pauses == resumes + 1,
        );
        // The server kept the connection half-open: it closes, the client follows.
        close_and_wait(&peer).await;
        client.lost().await;
        server.close();
        server.wait_closed().await;
        Ok(())
    })
}
