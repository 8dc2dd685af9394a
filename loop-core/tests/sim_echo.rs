//! The seeds' echo server (a 5-second idle timeout via call_later, re-armed on every
//! data_received) and a client, on the simulated network.
mod net_util;

use std::rc::Rc;
use std::time::Duration;

use loop_core::sim::NetConfig;
use loop_core::{Error, EventLoop, Protocol, TimerHandle, Transport};
use net_util::{addr, new_log, world_with};

const IDLE: Duration = Duration::from_secs(5);

struct EchoServer {
    lp: EventLoop,
    transport: Option<Rc<dyn Transport>>,
    idle: Option<TimerHandle>,
}

impl EchoServer {
    fn rearm(&mut self) {
        if let Some(t) = self.idle.take() {
            t.cancel();
        }
        let transport = self.transport.clone().unwrap();
        self.idle = Some(self.lp.call_later(IDLE, move || transport.close()).unwrap());
    }
}

impl Protocol for EchoServer {
    fn connection_made(&mut self, transport: Rc<dyn Transport>) {
        self.transport = Some(transport);
        self.rearm();
    }
    fn data_received(&mut self, data: &[u8]) {
        self.transport.as_ref().unwrap().write(data).unwrap();
        self.rearm();
    }
    fn connection_lost(&mut self, _error: Option<Error>) {
        if let Some(t) = self.idle.take() {
            t.cancel();
        }
    }
}

#[test]
fn echo_with_an_idle_timeout_reset_by_traffic() {
    let config = NetConfig::default()
        .with_latency(Duration::from_millis(1), Duration::from_millis(20))
        .with_max_segment(5);
    let w = world_with(11, config);
    let a = addr("127.0.0.1:8888");
    let lp = w.lp.clone();
    let net = w.net.clone();
    let server = w.block_on(async move {
        use loop_core::net::Net;
        let l = lp.clone();
        net.create_server(
            move || EchoServer {
                lp: l.clone(),
                transport: None,
                idle: None,
            },
            a,
            loop_core::net::ServerOptions::default(),
        )
        .await
        .unwrap()
    });
    let log = new_log();
    let (t, client) = w.connect(a, "client", &log, |_| {});
    let start = w.lp.time();
    t.write(b"hello").unwrap();
    w.run_for(Duration::from_secs(4));
    assert_eq!(client.borrow().received, b"hello");
    // Traffic at t = 4 s re-arms the server's timer.
    t.write(b", again").unwrap();
    w.run_for(Duration::from_secs(4));
    assert_eq!(client.borrow().received, b"hello, again");
    assert!(
        client.borrow().lost.is_empty(),
        "8 s in, but never 5 s idle"
    );
    // The last data reached the server after t = 4 s: it closes after t = 9 s.
    w.run_for(start + Duration::from_millis(8990) - w.lp.time());
    assert!(client.borrow().lost.is_empty());
    w.run_for(Duration::from_secs(1));
    let c = client.borrow();
    assert_eq!(c.eof, 1, "the server closed the idle connection");
    assert_eq!(c.lost_kind(), None);
    drop(c);
    server.close();
    w.settle();
    assert_eq!(server.active_connections(), 0);
}
