//! The scenarios, one module per area. Each is a plain generic function
//! `fn NAME<N: Backend>(cx: &Cx<N>) -> Result<(), Error>` that drives the loop itself
//! (most through [`Cx::run`]) and records what happens in `cx`'s trace; the registry in
//! the crate root lists them all.
//!
//! Rules every scenario follows (see `tests/README.md`):
//! - record in a lane only what the program orders: never let a lane's order depend on
//!   how fast the network or the clock is;
//! - record addresses, byte counts that depend on kernel buffers, and times as checks
//!   ([`Lane::check`](crate::Lane::check)) that every backend must pass;
//! - return `Err` only for a failure no backend should show (the runner reports it);
//!   record the errors the scenario expects;
//! - close every connection and finish every task before returning.

use std::net::SocketAddr;
use std::time::Duration;

use loop_core::net::{Server, ServerOptions};
use loop_core::{Error, ErrorKind};

use crate::context::{Backend, Cx};
use crate::record::{Accepted, Behaviour, Peer, unexpected};

pub(crate) mod flow;
pub(crate) mod loop_order;
pub(crate) mod servers;
pub(crate) mod streams;
pub(crate) mod sync;
pub(crate) mod tasks;
pub(crate) mod tcp;
pub(crate) mod timers;
pub(crate) mod udp;

/// What every scenario returns.
pub(crate) type Outcome = Result<(), Error>;

/// Time given to loopback deliveries a scenario cannot observe (bytes reaching a peer
/// that does not read, a datagram that must *not* arrive). Only used where a slower
/// delivery leaves the trace unchanged, or, for `tcp::tcp_peer_reset`, documented there.
pub(crate) const SETTLE: Duration = Duration::from_millis(100);

/// `Err` (a scenario failure) unless `holds`.
pub(crate) fn ensure(holds: bool, what: &str) -> Outcome {
    if holds {
        Ok(())
    } else {
        Err(unexpected(format!("expectation failed: {what}")))
    }
}

/// `len` bytes that differ by position and by `salt`, so that a lost, duplicated or
/// misplaced byte shows: 64 KiB blocks of a fixed sequence, each block rotated by its
/// index (built with copies, so megabytes are cheap even in debug builds).
pub(crate) fn pattern(len: usize, salt: u8) -> Vec<u8> {
    const BLOCK: usize = 64 * 1024;
    let base: Vec<u8> = (0..BLOCK + 256)
        .map(|i| ((i * 31) ^ (i >> 8) ^ usize::from(salt)) as u8)
        .collect();
    let mut out = Vec::with_capacity(len);
    let mut block = 0;
    while out.len() < len {
        let n = (len - out.len()).min(BLOCK);
        let rot = block % 251;
        out.extend_from_slice(&base[rot..rot + n]);
        block += 1;
    }
    out
}

/// A server on the backend's loopback whose connections are recorded by `accepted`
/// with `behaviour`; returns it and its address.
pub(crate) async fn serve<N: Backend>(
    cx: &Cx<N>,
    accepted: &Accepted,
    behaviour: impl Fn() -> Behaviour + 'static,
    options: ServerOptions,
) -> Result<(Server, SocketAddr), Error> {
    let server = cx
        .net()
        .create_server(accepted.factory(behaviour), cx.listen_addr(), options)
        .await?;
    let addr = *server
        .sockets()
        .first()
        .ok_or_else(|| unexpected("a new server listens somewhere"))?;
    Ok((server, addr))
}

/// Connect a [`Peer`] recording in `lane` to `addr`.
pub(crate) async fn connect<N: Backend>(
    cx: &Cx<N>,
    lane: &str,
    behaviour: Behaviour,
    addr: SocketAddr,
) -> Result<Peer, Error> {
    let peer = Peer::new(cx.lane(lane), behaviour);
    let p = peer.clone();
    cx.net()
        .create_connection(move || p.protocol(), addr)
        .await?;
    Ok(peer)
}

/// Close `peer`'s transport and wait for its `connection_lost`.
pub(crate) async fn close_and_wait(peer: &Peer) {
    peer.transport().close();
    peer.lost().await;
}

/// Whether `error` is of `kind`.
pub(crate) fn is_kind<T>(result: &Result<T, Error>, kind: ErrorKind) -> bool {
    matches!(result, Err(e) if e.kind() == kind)
}
