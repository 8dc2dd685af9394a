//! A client guest: connects out to each address it is given, sends a message, reads the
//! reply until the server closes, and reports every attempt — a refused one included,
//! after which it carries on with the next address.
//!
//! ```text
//! cargo build -p guest-sdk --example connect --target wasm32-wasip2
//! tulip run target/wasm32-wasip2/debug/examples/connect.wasm --connect 127.0.0.1:7000 -- 127.0.0.1:7000
//! ```
//!
//! Arguments: one or more `IP:PORT`. The message is `$TULIP_MESSAGE` (default
//! `hello from a guest`). For each address it prints one line,
//! `ADDR ok N BYTES` with the reply, or `ADDR error KIND MESSAGE` (KIND is the
//! `loop_core::ErrorKind`, e.g. `PermissionDenied` when the runtime did not grant the
//! connection); then `done`. Exit status: 0 if every attempt got its message back, 1
//! otherwise, 2 for bad arguments.

#[cfg(all(target_os = "wasi", target_env = "p2"))]
fn main() -> std::process::ExitCode {
    use std::cell::RefCell;
    use std::net::SocketAddr;
    use std::process::ExitCode;
    use std::rc::Rc;

    use guest_sdk::GuestNet;
    use loop_core::net::Net;
    use loop_core::{Error, Future, Protocol, Transport};

    /// Sends the message, half-closes, and collects the reply until the connection ends.
    struct Exchange {
        message: Vec<u8>,
        reply: Rc<RefCell<Vec<u8>>>,
        done: Future<Option<Error>>,
    }

    impl Protocol for Exchange {
        fn connection_made(&mut self, transport: Rc<dyn Transport>) {
            let sent = transport
                .write(&self.message)
                .and_then(|()| transport.write_eof());
            if let Err(e) = sent {
                let _ = self.done.set_result(Some(e));
                transport.abort();
            }
        }
        fn data_received(&mut self, data: &[u8]) {
            self.reply.borrow_mut().extend_from_slice(data);
        }
        fn connection_lost(&mut self, error: Option<Error>) {
            if !self.done.done() {
                let _ = self.done.set_result(error);
            }
        }
    }

    async fn exchange(net: &GuestNet, addr: SocketAddr, message: &[u8]) -> Result<Vec<u8>, Error> {
        let reply = Rc::new(RefCell::new(Vec::new()));
        let done = net.event_loop().create_future::<Option<Error>>();
        let protocol = Exchange {
            message: message.to_vec(),
            reply: reply.clone(),
            done: done.clone(),
        };
        net.create_connection(move || protocol, addr).await?;
        if let Some(e) = done.await? {
            return Err(e);
        }
        Ok(reply.take())
    }

    let Ok(addrs) = std::env::args()
        .skip(1)
        .map(|a| a.parse::<SocketAddr>())
        .collect::<Result<Vec<_>, _>>()
    else {
        eprintln!("usage: connect IP:PORT...");
        return ExitCode::from(2);
    };
    if addrs.is_empty() {
        eprintln!("usage: connect IP:PORT...");
        return ExitCode::from(2);
    }
    let message = std::env::var("TULIP_MESSAGE").unwrap_or_else(|_| "hello from a guest".into());

    guest_sdk::run(|_lp, net| async move {
        let mut all_ok = true;
        for addr in addrs {
            match exchange(&net, addr, message.as_bytes()).await {
                Ok(reply) => {
                    all_ok &= reply == message.as_bytes();
                    println!(
                        "{addr} ok {} {}",
                        reply.len(),
                        String::from_utf8_lossy(&reply)
                    );
                }
                Err(e) => {
                    all_ok = false;
                    println!("{addr} error {:?} {e}", e.kind());
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
         `cargo build -p guest-sdk --example connect --target wasm32-wasip2` and run it with `tulip run`"
    );
    std::process::exit(2);
}
