//! UDP through datagram protocols: `sendto`, `datagram_received`, a connected endpoint,
//! an unreachable peer, closing.
//!
//! Datagrams may be reordered on the simulated network (and in principle on any), so
//! each exchange waits for its answer before the next: every lane's order is the
//! program's.

use std::net::SocketAddr;

use loop_core::ErrorKind;

use super::{Outcome, SETTLE, ensure, is_kind};
use crate::context::{Backend, Cx};
use crate::record::{DgramPeer, Labels};

/// Open an endpoint recording in `lane`, bound to the loopback (or connected to
/// `remote`), named `lane` in `labels`.
async fn endpoint<N: Backend>(
    cx: &Cx<N>,
    lane: &str,
    labels: &Labels,
    echo: bool,
    remote: Option<SocketAddr>,
) -> Result<(DgramPeer, SocketAddr), loop_core::Error> {
    let peer = DgramPeer::new(cx.lane(lane), labels, echo);
    let p = peer.clone();
    cx.net()
        .create_datagram_endpoint(move || p.protocol(), Some(cx.bind_addr()), remote)
        .await?;
    let addr = peer
        .sockname()
        .ok_or_else(|| crate::record::unexpected("a bound endpoint has a sockname"))?;
    labels.name(addr, lane);
    Ok((peer, addr))
}

/// Close an endpoint and wait for its `connection_lost`.
async fn close(peer: &DgramPeer) {
    peer.transport().close();
    peer.lost().await;
}

/// Ping-pong: `a` sends three datagrams to an echoing `b`, each after the previous
/// answer; both see the other's address as the sender.
pub(crate) fn udp_ping_pong<N: Backend>(cx: &Cx<N>) -> Outcome {
    let cx2 = cx.clone();
    cx.run(async move {
        let cx = &cx2;
        let labels = Labels::new();
        let (a, _) = endpoint(cx, "a", &labels, false, None).await?;
        let (b, b_addr) = endpoint(cx, "b", &labels, true, None).await?;
        for n in 1..=3 {
            a.transport()
                .sendto(format!("ping {n}").as_bytes(), Some(b_addr))?;
            a.datagrams(n).await;
        }
        close(&a).await;
        close(&b).await;
        Ok(())
    })
}

/// Sizes: an empty datagram and an 8 KiB one arrive whole.
pub(crate) fn udp_datagram_sizes<N: Backend>(cx: &Cx<N>) -> Outcome {
    let cx2 = cx.clone();
    cx.run(async move {
        let cx = &cx2;
        let labels = Labels::new();
        let (a, _) = endpoint(cx, "a", &labels, false, None).await?;
        let (b, b_addr) = endpoint(cx, "b", &labels, true, None).await?;
        let big = super::pattern(8192, 7);
        a.transport().sendto(b"", Some(b_addr))?;
        a.datagrams(1).await;
        a.transport().sendto(&big, Some(b_addr))?;
        a.datagrams(2).await;
        ensure(
            a.received()[1].0 == big,
            "the 8 KiB datagram came back whole",
        )?;
        close(&a).await;
        close(&b).await;
        Ok(())
    })
}

/// A connected endpoint: `sendto(None)` goes to its peer, another address is refused
/// (`ValueError`), datagrams from other senders are not delivered to it.
pub(crate) fn udp_connected_endpoint<N: Backend>(cx: &Cx<N>) -> Outcome {
    let cx2 = cx.clone();
    cx.run(async move {
        let cx = &cx2;
        let labels = Labels::new();
        let (b, b_addr) = endpoint(cx, "b", &labels, false, None).await?;
        let (c, _) = endpoint(cx, "c", &labels, false, None).await?;
        let (a, a_addr) = endpoint(cx, "a", &labels, false, Some(b_addr)).await?;
        let lane = cx.lane("main");
        let peername = match a.transport().get_extra_info("peername") {
            Some(loop_core::transport::ExtraInfo::Addr(addr)) => Some(addr),
            _ => None,
        };
        lane.check("peername is the peer", peername == Some(b_addr));
        a.transport().sendto(b"to my peer", None)?;
        b.datagrams(1).await;
        a.transport().sendto(b"to my peer, named", Some(b_addr))?;
        b.datagrams(2).await;
        lane.status(
            "sendto another address",
            &a.transport().sendto(b"elsewhere", Some(a_addr)),
        );
        c.transport().sendto(b"intruder", Some(a_addr))?;
        cx.lp().sleep(SETTLE).await?;
        b.transport().sendto(b"reply", Some(a_addr))?;
        a.datagrams(1).await;
        close(&a).await;
        close(&b).await;
        close(&c).await;
        Ok(())
    })
}

/// A connected endpoint whose peer's port is closed gets `ConnectionRefusedError` in
/// `error_received` (the ICMP port-unreachable report) and stays open; an unconnected
/// endpoint learns nothing.
pub(crate) fn udp_unreachable_peer<N: Backend>(cx: &Cx<N>) -> Outcome {
    let cx2 = cx.clone();
    cx.run(async move {
        let cx = &cx2;
        let labels = Labels::new();
        let (gone, gone_addr) = endpoint(cx, "gone", &labels, false, None).await?;
        close(&gone).await;
        let (loose, _) = endpoint(cx, "unconnected", &labels, false, None).await?;
        loose.transport().sendto(b"anyone?", Some(gone_addr))?;
        let (a, _) = endpoint(cx, "connected", &labels, false, Some(gone_addr)).await?;
        a.transport().sendto(b"anyone?", None)?;
        a.errors(1).await;
        let lane = cx.lane("main");
        lane.check("still open", !a.transport().is_closing());
        lane.check(
            "the unconnected endpoint got no error",
            loose.error_count() == 0,
        );
        close(&a).await;
        close(&loose).await;
        Ok(())
    })
}

/// Closing: `connection_lost(None)` follows; `sendto` on a closing endpoint is a
/// `RuntimeError`; `abort` does the same at once.
pub(crate) fn udp_close_and_abort<N: Backend>(cx: &Cx<N>) -> Outcome {
    let cx2 = cx.clone();
    cx.run(async move {
        let cx = &cx2;
        let labels = Labels::new();
        let (a, a_addr) = endpoint(cx, "a", &labels, false, None).await?;
        let (b, _) = endpoint(cx, "b", &labels, false, None).await?;
        let lane = cx.lane("main");
        let t = a.transport();
        lane.note(format!("buffer size {}", t.get_write_buffer_size()));
        t.close();
        lane.check("closing", t.is_closing());
        let r = t.sendto(b"late", Some(a_addr));
        lane.status("sendto after close", &r);
        lane.check("refused as RuntimeError", is_kind(&r, ErrorKind::Runtime));
        a.lost().await;
        b.transport().abort();
        b.lost().await;
        lane.status(
            "sendto after abort",
            &b.transport().sendto(b"late", Some(a_addr)),
        );
        Ok(())
    })
}
