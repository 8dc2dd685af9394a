//! An echo server and a client on the simulated network, with latency and split writes.
//!
//! The server protocol closes idle connections after 5 seconds (virtual time) with a
//! `call_later` timer reset on every `data_received`, as the seeds' echo server does.
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use loop_core::net::{Net, ServerOptions};
use loop_core::sim::{NetConfig, SimHost, SimNet};
use loop_core::{Error, EventLoop, Future, Protocol, TimerHandle, Transport};

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
        let transport = self.transport.clone().expect("connected");
        self.idle = self.lp.call_later(IDLE, move || transport.close()).ok();
    }
}

impl Protocol for EchoServer {
    fn connection_made(&mut self, transport: Rc<dyn Transport>) {
        self.transport = Some(transport);
        self.rearm();
    }
    fn data_received(&mut self, data: &[u8]) {
        self.transport
            .as_ref()
            .expect("connected")
            .write(data)
            .expect("open");
        self.rearm();
    }
    fn connection_lost(&mut self, _error: Option<Error>) {
        if let Some(t) = self.idle.take() {
            t.cancel();
        }
    }
}

struct Client {
    received: Vec<u8>,
    closed: Future<()>,
}

impl Protocol for Client {
    fn data_received(&mut self, data: &[u8]) {
        self.received.extend_from_slice(data);
    }
    fn connection_lost(&mut self, _error: Option<Error>) {
        let _ = self.closed.set_result(());
    }
}

fn main() -> loop_core::Result<()> {
    let host = SimHost::new(7);
    let lp = EventLoop::new(host.clone());
    let config = NetConfig::default()
        .with_latency(Duration::from_millis(1), Duration::from_millis(30))
        .with_max_segment(3);
    let net = SimNet::with_config(&lp, &host, config);
    let addr: SocketAddr = "127.0.0.1:8888".parse().expect("valid address");
    let lp2 = lp.clone();
    let client = lp.run_until_complete(async move {
        let server_lp = lp2.clone();
        let factory = move || EchoServer {
            lp: server_lp.clone(),
            transport: None,
            idle: None,
        };
        let server = net
            .create_server(factory, addr, ServerOptions::default())
            .await?;
        let closed = lp2.create_future::<()>();
        let client = || Client {
            received: Vec::new(),
            closed: closed.clone(),
        };
        let (transport, client) = net.create_connection(client, addr).await?;
        transport.write(b"hello, simulated world")?;
        // The server closes the idle connection 5 s after the echo; the client sees EOF.
        closed.await?;
        server.close();
        server.wait_closed().await;
        Ok::<_, Error>(client)
    })??;
    let client: Rc<RefCell<Client>> = client;
    println!(
        "echoed {:?}, connection closed by the idle timer at t = {:.3} s",
        String::from_utf8_lossy(&client.borrow().received),
        lp.time().as_secs_f64()
    );
    Ok(())
}
