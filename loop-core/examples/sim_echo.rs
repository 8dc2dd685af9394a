//! An echo server and a client on the simulated network, with latency and writes split
//! into random segments (`tests/sim_echo.rs` adds the seeds' 5-second idle timeout).
use std::{net::SocketAddr, rc::Rc, time::Duration};

use loop_core::net::{Net, ServerOptions};
use loop_core::sim::{NetConfig, SimHost, SimNet};
use loop_core::{Error, EventLoop, Future, Protocol, Transport};

const MESSAGE: &[u8] = b"hello, simulated world";

#[derive(Default)]
struct Echo(Option<Rc<dyn Transport>>);

impl Protocol for Echo {
    fn connection_made(&mut self, transport: Rc<dyn Transport>) {
        self.0 = Some(transport);
    }
    fn data_received(&mut self, data: &[u8]) {
        self.0
            .as_ref()
            .expect("connected")
            .write(data)
            .expect("open");
    }
}

struct Client {
    transport: Option<Rc<dyn Transport>>,
    received: Vec<u8>,
    done: Future<usize>,
}

impl Protocol for Client {
    fn connection_made(&mut self, transport: Rc<dyn Transport>) {
        transport.write(MESSAGE).expect("open");
        self.transport = Some(transport);
    }
    fn data_received(&mut self, data: &[u8]) {
        self.received.extend_from_slice(data);
        if self.received.len() == MESSAGE.len() {
            self.transport.as_ref().expect("connected").close();
        }
    }
    fn connection_lost(&mut self, _error: Option<Error>) {
        let _ = self.done.set_result(self.received.len());
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
    let done = lp.create_future::<usize>();
    let d = done.clone();
    let echoed = lp.run_until_complete(async move {
        let server = net
            .create_server(Echo::default, addr, ServerOptions::default())
            .await?;
        let client = || Client {
            transport: None,
            received: Vec::new(),
            done: d,
        };
        net.create_connection(client, addr).await?;
        let echoed = done.await?;
        server.close();
        server.wait_closed().await; // the server side sees EOF and closes too
        Ok::<_, Error>(echoed)
    })??;
    println!(
        "{echoed} bytes echoed by t = {:.3} s (virtual)",
        lp.time().as_secs_f64()
    );
    Ok(())
}
