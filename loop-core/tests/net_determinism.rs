//! Determinism of the simulated network: the same seed reproduces a run event for event;
//! other seeds interleave differently but move the same bytes.
mod net_util;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use loop_core::net::{Net, ServerOptions};
use loop_core::sim::{FaultPlan, NetConfig, NetEvent};
use loop_core::{Error, Protocol, Transport};
use net_util::{addr, world_with};

/// Every protocol callback, with the virtual time it ran at.
type Trace = Rc<RefCell<Vec<String>>>;

struct Echo {
    id: usize,
    trace: Trace,
    lp: loop_core::EventLoop,
    t: Option<Rc<dyn Transport>>,
}

impl Protocol for Echo {
    fn connection_made(&mut self, t: Rc<dyn Transport>) {
        self.t = Some(t);
        self.note("server made".into());
    }
    fn data_received(&mut self, data: &[u8]) {
        self.note(format!("server data {data:?}"));
        self.t.as_ref().unwrap().write(data).unwrap();
    }
    fn eof_received(&mut self) -> bool {
        self.note("server eof".into());
        false
    }
    fn connection_lost(&mut self, e: Option<Error>) {
        self.note(format!("server lost {:?}", e.map(|e| e.kind())));
    }
}

impl Echo {
    fn note(&self, s: String) {
        let at = self.lp.time().as_nanos();
        self.trace
            .borrow_mut()
            .push(format!("{at} conn{} {s}", self.id));
    }
}

struct Client {
    name: usize,
    trace: Trace,
    lp: loop_core::EventLoop,
    got: Vec<u8>,
}

impl Protocol for Client {
    fn data_received(&mut self, data: &[u8]) {
        self.got.extend_from_slice(data);
        let at = self.lp.time().as_nanos();
        self.trace
            .borrow_mut()
            .push(format!("{at} client{} data {}", self.name, data.len()));
    }
    fn connection_lost(&mut self, e: Option<Error>) {
        let at = self.lp.time().as_nanos();
        self.trace.borrow_mut().push(format!(
            "{at} client{} lost {:?}",
            self.name,
            e.map(|e| e.kind())
        ));
    }
}

struct Outcome {
    trace: Vec<String>,
    wire: Vec<NetEvent>,
    /// What each client received, by client.
    received: Vec<Vec<u8>>,
}

fn message(client: usize, n: usize) -> Vec<u8> {
    format!("client {client} message {n};").into_bytes()
}

/// Five clients each send ten messages with pauses in between, then half-close; the
/// server echoes; latency, split segments and delayed accepts shuffle everything.
fn scenario(seed: u64) -> Outcome {
    let config = NetConfig::default()
        .with_latency(Duration::from_micros(100), Duration::from_millis(15))
        .with_max_segment(7)
        .with_accept_delay(Duration::from_millis(30));
    let w = world_with(seed, config);
    w.net.set_tracing(true);
    let trace: Trace = Rc::default();
    let a = addr("127.0.0.1:3000");
    let lp = w.lp.clone();
    let net = w.net.clone();
    let tr = trace.clone();
    let received = w.block_on(async move {
        let ids = Rc::new(std::cell::Cell::new(0));
        let (l2, t2) = (lp.clone(), tr.clone());
        let factory = move || {
            ids.set(ids.get() + 1);
            Echo {
                id: ids.get(),
                trace: t2.clone(),
                lp: l2.clone(),
                t: None,
            }
        };
        let server = net
            .create_server(factory, a, ServerOptions::default())
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for c in 0..5 {
            let (net, lp, tr) = (net.clone(), lp.clone(), tr.clone());
            tasks.push(lp.clone().create_task(async move {
                let (t, p) = net
                    .create_connection(
                        || Client {
                            name: c,
                            trace: tr.clone(),
                            lp: lp.clone(),
                            got: Vec::new(),
                        },
                        a,
                    )
                    .await
                    .unwrap();
                for n in 0..10 {
                    t.write(&message(c, n)).unwrap();
                    let pause = lp.create_future::<()>();
                    let p2 = pause.clone();
                    lp.call_later(Duration::from_millis(c as u64 + 1), move || {
                        p2.set_result(()).unwrap();
                    })
                    .unwrap();
                    pause.await.unwrap();
                }
                t.write_eof().unwrap();
                p
            }));
        }
        let mut protos = Vec::new();
        for t in tasks {
            protos.push(t.await.unwrap());
        }
        // Let the echoes and closes finish.
        let settle = lp.create_future::<()>();
        let s2 = settle.clone();
        lp.call_later(Duration::from_secs(1), move || s2.set_result(()).unwrap())
            .unwrap();
        settle.await.unwrap();
        server.close();
        server.wait_closed().await;
        protos
            .iter()
            .map(|p| p.borrow().got.clone())
            .collect::<Vec<_>>()
    });
    let trace = trace.borrow().clone();
    Outcome {
        trace,
        wire: w.net.trace(),
        received,
    }
}

#[test]
fn same_seed_same_run_event_for_event() {
    let a = scenario(42);
    let b = scenario(42);
    assert!(a.trace.len() > 100, "a busy scenario: {}", a.trace.len());
    assert_eq!(a.trace, b.trace);
    assert_eq!(a.wire, b.wire);
    assert_eq!(a.received, b.received);
}

#[test]
fn other_seeds_interleave_differently_but_move_the_same_bytes() {
    let reference = scenario(1);
    let expected: Vec<Vec<u8>> = (0..5)
        .map(|c| (0..10).flat_map(|n| message(c, n)).collect())
        .collect();
    assert_eq!(reference.received, expected);
    let mut differing = 0;
    for seed in 2..6 {
        let other = scenario(seed);
        assert_eq!(other.received, expected, "seed {seed}: the same bytes");
        if other.trace != reference.trace {
            differing += 1;
        }
        // Every connection ended exactly once on both sides.
        let lost = other.trace.iter().filter(|l| l.contains(" lost ")).count();
        assert_eq!(lost, 10, "seed {seed}");
    }
    assert_eq!(differing, 4, "each seed gives its own interleaving");
}

#[test]
fn fault_plan_resets_are_reproducible() {
    let run = |seed| {
        let config = NetConfig::default()
            .with_max_segment(3)
            .with_faults(FaultPlan::none().with_reset_probability(0.05));
        let w = world_with(seed, config);
        w.net.set_tracing(true);
        let log = net_util::new_log();
        let a = addr("127.0.0.1:3001");
        let (_server, accepted) = w.recording_server(a, "srv", &log, |r| {
            r.on_data = Some(Box::new(|t, d| {
                let _ = t.write(d);
            }));
        });
        let mut clients = Vec::new();
        for _ in 0..4 {
            let (t, c) = w.connect(a, "c", &log, |_| {});
            t.write(&[b'z'; 200]).unwrap();
            clients.push(c);
        }
        w.run_for(Duration::from_millis(100));
        let resets = clients
            .iter()
            .filter(|c| c.borrow().lost == vec![Some(loop_core::ErrorKind::ConnectionReset)])
            .count();
        assert!(accepted.borrow().len() == 4);
        (log.borrow().clone(), w.net.trace(), resets)
    };
    let (log_a, wire_a, resets) = run(9);
    let (log_b, wire_b, _) = run(9);
    assert_eq!(log_a, log_b);
    assert_eq!(wire_a, wire_b);
    assert!(
        resets > 0,
        "with 5% per segment and ~130 segments, some reset"
    );
}
