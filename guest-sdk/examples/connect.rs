//! A client guest: connects out to each address it is given, sends a message, reads the
//! reply, and reports every attempt — a refused one included, after which it carries on
//! with the next address. TCP goes through loop-core's streams (`open_connection`) and
//! UDP through a datagram endpoint, exactly as in a native program.
//!
//! ```text
//! cargo build -p guest-sdk --example connect --target wasm32-wasip2
//! tulip run target/wasm32-wasip2/debug/examples/connect.wasm --connect 127.0.0.1:7000 -- 127.0.0.1:7000
//! ```
//!
//! Arguments: one or more `IP:PORT` (TCP: send, half-close, read until the server
//! closes) or `udp:IP:PORT` (a connected datagram socket: send one datagram, wait for
//! one back). The message is `$TULIP_MESSAGE` (default `hello from a guest`); a reply
//! that takes longer than `$TULIP_TIMEOUT_MS` (default 5000) is a timeout. For each
//! address it prints one line, `ADDR ok N BYTES` with the reply, or
//! `ADDR error KIND MESSAGE` (KIND is the `loop_core::ErrorKind`, e.g. `PermissionDenied`
//! when the runtime did not grant the connection); then `done`. Exit status: 0 if every
//! attempt got its message back, 1 otherwise, 2 for bad arguments.

#[cfg(all(target_os = "wasi", target_env = "p2"))]
fn main() -> std::process::ExitCode {
    use std::net::SocketAddr;
    use std::process::ExitCode;
    use std::time::Duration;

    use guest_sdk::GuestNet;
    use loop_core::net::Net;
    use loop_core::stream::{DEFAULT_LIMIT, open_connection};
    use loop_core::{DatagramProtocol, Error, Future, wait_for};

    /// Where to send, and how.
    #[derive(Clone, Copy)]
    enum Target {
        Tcp(SocketAddr),
        Udp(SocketAddr),
    }

    impl std::fmt::Display for Target {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                Target::Tcp(a) => write!(f, "{a}"),
                Target::Udp(a) => write!(f, "udp:{a}"),
            }
        }
    }

    /// asyncio's streams, as in any other backend: send, half-close, read to the end.
    async fn tcp(net: &GuestNet, addr: SocketAddr, message: &[u8]) -> Result<Vec<u8>, Error> {
        let (reader, writer) = open_connection(net, addr, DEFAULT_LIMIT).await?;
        writer.write(message)?;
        writer.write_eof()?;
        let reply = reader.read_to_end().await?;
        writer.close();
        Ok(reply)
    }

    /// Completes `reply` with the first datagram (or error) received.
    struct Ping {
        reply: Future<Vec<u8>>,
    }

    impl DatagramProtocol for Ping {
        fn datagram_received(&mut self, data: &[u8], _addr: SocketAddr) {
            if !self.reply.done() {
                let _ = self.reply.set_result(data.to_vec());
            }
        }
        fn error_received(&mut self, error: Error) {
            if !self.reply.done() {
                let _ = self.reply.set_exception(error);
            }
        }
    }

    /// One datagram out on a connected socket, one back within `timeout`.
    async fn udp(
        net: &GuestNet,
        addr: SocketAddr,
        message: &[u8],
        timeout: Duration,
    ) -> Result<Vec<u8>, Error> {
        let lp = net.event_loop();
        let reply = lp.create_future::<Vec<u8>>();
        let ping = Ping {
            reply: reply.clone(),
        };
        let (transport, _) = net
            .create_datagram_endpoint(move || ping, None, Some(addr))
            .await?;
        let outcome = match transport.sendto(message, None) {
            Ok(()) => wait_for(lp, &reply, Some(timeout)).await,
            Err(e) => Err(e),
        };
        transport.close();
        outcome
    }

    let targets: Option<Vec<Target>> = std::env::args()
        .skip(1)
        .map(|a| match a.strip_prefix("udp:") {
            Some(rest) => rest.parse().ok().map(Target::Udp),
            None => a.parse().ok().map(Target::Tcp),
        })
        .collect();
    let Some(targets) = targets.filter(|t| !t.is_empty()) else {
        eprintln!("usage: connect [udp:]IP:PORT...");
        return ExitCode::from(2);
    };
    let message = std::env::var("TULIP_MESSAGE").unwrap_or_else(|_| "hello from a guest".into());
    let timeout = Duration::from_millis(
        std::env::var("TULIP_TIMEOUT_MS")
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(5000),
    );

    guest_sdk::run(|_lp, net| async move {
        let mut all_ok = true;
        for target in targets {
            let outcome = match target {
                Target::Tcp(addr) => tcp(&net, addr, message.as_bytes()).await,
                Target::Udp(addr) => udp(&net, addr, message.as_bytes(), timeout).await,
            };
            match outcome {
                Ok(reply) => {
                    all_ok &= reply == message.as_bytes();
                    let text = String::from_utf8_lossy(&reply);
                    println!("{target} ok {} {text}", reply.len());
                }
                Err(e) => {
                    all_ok = false;
                    println!("{target} error {:?} {e}", e.kind());
                }
            }
        }
        println!("done");
        if all_ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    })
}

#[cfg(not(all(target_os = "wasi", target_env = "p2")))]
fn main() {
    eprintln!(
        "connect is a WASI 0.2 guest: build it with \
         `cargo build -p guest-sdk --example connect --target wasm32-wasip2` \
         and run it with `tulip run`"
    );
    std::process::exit(2);
}
