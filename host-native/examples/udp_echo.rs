//! A UDP echo server and client in one program (asyncio's datagram examples): the
//! client sends a few datagrams, the server sends each back, the client prints them.
//!
//! ```text
//! cargo run -p host-native --example udp_echo [HOST:PORT]
//! ```
//!
//! The server binds `127.0.0.1:9999` by default.

use std::net::SocketAddr;
use std::rc::Rc;

use host_native::{DatagramOptions, NativeLoop};
use loop_core::{DatagramProtocol, DatagramTransport, Error, Future};

/// Sends every datagram back to where it came from.
#[derive(Default)]
struct EchoServer(Option<Rc<dyn DatagramTransport>>);

impl DatagramProtocol for EchoServer {
    fn connection_made(&mut self, transport: Rc<dyn DatagramTransport>) {
        self.0 = Some(transport);
    }

    fn datagram_received(&mut self, data: &[u8], addr: SocketAddr) {
        println!("server: {:?} from {addr}", String::from_utf8_lossy(data));
        if let Some(t) = &self.0 {
            let _ = t.sendto(data, Some(addr));
        }
    }
}

/// Prints replies; completes `done` after `expected` of them.
struct EchoClient {
    expected: usize,
    done: Future<()>,
}

impl DatagramProtocol for EchoClient {
    fn datagram_received(&mut self, data: &[u8], _addr: SocketAddr) {
        println!("client: received {:?}", String::from_utf8_lossy(data));
        self.expected -= 1;
        if self.expected == 0 {
            let _ = self.done.set_result(());
        }
    }

    fn error_received(&mut self, error: Error) {
        println!("client: error received: {error}");
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9999".into())
        .parse()?;
    let messages = ["Hello", "UDP", "World"];
    let lp = NativeLoop::new()?;
    let l = lp.clone();
    lp.run_until_complete(async move {
        let (server, _) = l
            .create_datagram_endpoint(EchoServer::default, DatagramOptions::new().local_addr(addr))
            .await?;
        let done = l.create_future::<()>();
        let d = done.clone();
        let client = move || EchoClient {
            expected: messages.len(),
            done: d,
        };
        let (transport, _) = l
            .create_datagram_endpoint(client, DatagramOptions::new().remote_addr(addr))
            .await?;
        for m in messages {
            println!("client: send {m:?}");
            transport.sendto(m.as_bytes(), None)?;
        }
        done.await?;
        transport.close();
        server.close();
        Ok::<(), Error>(())
    })??;
    Ok(())
}
