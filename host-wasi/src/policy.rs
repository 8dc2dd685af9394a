//! One running guest's policy: its [`Grants`], what they imply at run time (the UDP peers
//! it may reply to), and the record of what was denied.
//!
//! wasmtime-wasi calls [`Policy::check_addr`] (through `socket_addr_check`) before every
//! socket operation; the name-lookup guard calls [`Policy::check_name_lookup`]. Each
//! denial is logged with `tracing` at WARN (the first [`LOGGED_DENIALS`], then DEBUG so a
//! guest retrying in a loop cannot flood the log), passed to the guest's denial callback,
//! and kept for its [`Report`](crate::Report).

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::grants::{Denial, Grants, Operation};

/// How many UDP peers a guest may reply to without a connect grant: the most recent
/// peers heard from on a listen grant, oldest forgotten first.
const UDP_REPLY_PEERS: usize = 1024;

/// Denials logged at WARN per guest; later ones go to DEBUG.
pub(crate) const LOGGED_DENIALS: u64 = 32;

/// Denials kept for the report per guest; later ones are only counted.
const KEPT_DENIALS: usize = 64;

/// Called with every denial, from the guest's thread.
pub(crate) type DenialCallback = Arc<dyn Fn(&str, &Denial) + Send + Sync>;

pub(crate) struct Policy {
    guest: Arc<str>,
    grants: Grants,
    udp_peers: Mutex<ReplySet>,
    denials: Mutex<Vec<Denial>>,
    denied: AtomicU64,
    on_denial: Option<DenialCallback>,
}

impl Policy {
    pub(crate) fn new(guest: Arc<str>, grants: Grants, on_denial: Option<DenialCallback>) -> Self {
        Self {
            guest,
            grants,
            udp_peers: Mutex::new(ReplySet::default()),
            denials: Mutex::new(Vec::new()),
            denied: AtomicU64::new(0),
            on_denial,
        }
    }

    pub(crate) fn grants(&self) -> &Grants {
        &self.grants
    }

    /// Checks one address use, recording a denial. Remembers UDP peers heard from on a
    /// listen grant so the guest may reply to them.
    pub(crate) fn check_addr(&self, addr: SocketAddr, operation: Operation) -> bool {
        match self.decide(addr, operation) {
            Ok(()) => true,
            Err(denial) => {
                self.record(denial);
                false
            }
        }
    }

    /// Checks a name lookup, recording a denial.
    pub(crate) fn check_name_lookup(&self, name: &str) -> bool {
        if self.grants.name_lookup() {
            return true;
        }
        self.record(Denial::for_name_lookup(name.to_owned()));
        false
    }

    /// The denials kept so far and how many there were in all.
    pub(crate) fn denials(&self) -> (Vec<Denial>, u64) {
        (
            lock(&self.denials).clone(),
            self.denied.load(Ordering::Relaxed),
        )
    }

    fn decide(&self, addr: SocketAddr, operation: Operation) -> Result<(), Denial> {
        let denial = match self.grants.check(addr, operation) {
            Ok(()) => {
                if operation == Operation::UdpReceive && !self.grants.listen().is_empty() {
                    lock(&self.udp_peers).insert(addr);
                }
                return Ok(());
            }
            Err(denial) => denial,
        };
        if operation == Operation::UdpSend
            && self.grants.udp()
            && lock(&self.udp_peers).contains(&addr)
        {
            return Ok(());
        }
        Err(denial)
    }

    fn record(&self, denial: Denial) {
        let count = self.denied.fetch_add(1, Ordering::Relaxed) + 1;
        if count <= LOGGED_DENIALS {
            tracing::warn!(target: "tulip", "guest `{}`: {denial}", self.guest);
        } else {
            tracing::debug!(target: "tulip", "guest `{}`: {denial}", self.guest);
        }
        if let Some(callback) = &self.on_denial {
            callback(&self.guest, &denial);
        }
        let mut kept = lock(&self.denials);
        if kept.len() < KEPT_DENIALS {
            kept.push(denial);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update here is a single push or insert: a panic elsewhere cannot leave the
    // data half-changed.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Default)]
struct ReplySet {
    order: VecDeque<SocketAddr>,
    members: HashSet<SocketAddr>,
}

impl ReplySet {
    fn insert(&mut self, addr: SocketAddr) {
        if self.members.insert(addr) {
            self.order.push_back(addr);
            if self.order.len() > UDP_REPLY_PEERS
                && let Some(old) = self.order.pop_front()
            {
                self.members.remove(&old);
            }
        }
    }

    fn contains(&self, addr: &SocketAddr) -> bool {
        self.members.contains(addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grants::AddrRange;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn r(s: &str) -> AddrRange {
        s.parse().unwrap()
    }

    fn policy(grants: Grants) -> Policy {
        Policy::new("test".into(), grants, None)
    }

    #[test]
    fn udp_listener_may_reply_to_peers_heard_from() {
        let p = policy(
            Grants::new()
                .allow_listen(r("127.0.0.1:5353"))
                .allow_udp(true),
        );
        let peer = a("127.0.0.1:40000");
        assert!(p.check_addr(a("127.0.0.1:5353"), Operation::UdpBind));
        assert!(
            !p.check_addr(peer, Operation::UdpSend),
            "no reply before hearing from it"
        );
        assert!(p.check_addr(peer, Operation::UdpReceive));
        assert!(p.check_addr(peer, Operation::UdpSend));
        assert!(!p.check_addr(a("127.0.0.1:40001"), Operation::UdpSend));
    }

    #[test]
    fn no_replies_without_udp_or_a_listen_grant() {
        let p = policy(
            Grants::new()
                .allow_connect(r("127.0.0.1:53"))
                .allow_udp(true),
        );
        let stranger = a("127.0.0.1:40000");
        assert!(!p.check_addr(stranger, Operation::UdpReceive));
        assert!(!p.check_addr(stranger, Operation::UdpSend));
    }

    #[test]
    fn reply_set_forgets_the_oldest_peer() {
        let mut set = ReplySet::default();
        for port in 0..=UDP_REPLY_PEERS as u16 {
            set.insert(SocketAddr::from(([127, 0, 0, 1], 10_000 + port)));
        }
        assert!(!set.contains(&a("127.0.0.1:10000")));
        assert!(set.contains(&a("127.0.0.1:10001")));
        assert_eq!(set.order.len(), UDP_REPLY_PEERS);
    }

    #[test]
    fn denials_are_counted_kept_and_passed_to_the_callback() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let callback: DenialCallback =
            Arc::new(move |guest, d| sink.lock().unwrap().push(format!("{guest}: {}", d.flag())));
        let p = Policy::new("g".into(), Grants::new(), Some(callback));
        for _ in 0..(KEPT_DENIALS + 6) {
            assert!(!p.check_addr(a("10.0.0.1:80"), Operation::TcpConnect));
        }
        assert!(!p.check_name_lookup("example.com"));
        let (kept, total) = p.denials();
        assert_eq!(kept.len(), KEPT_DENIALS);
        assert_eq!(total, KEPT_DENIALS as u64 + 7);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), KEPT_DENIALS + 7);
        assert_eq!(seen[0], "g: --connect 10.0.0.1:80");
        assert_eq!(seen.last().unwrap(), "g: --name-lookup");
    }
}
