//! A client guest: connects out to each address it is given, sends a message, reads the
//! reply until the server closes, and reports every attempt — a refused one included,
//! after which it carries on with the next address. It uses loop-core's streams
//! (`open_connection`), exactly as a native program would.
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
    use std::net::SocketAddr;
    use std::process::ExitCode;

    use guest_sdk::GuestNet;
    use loop_core::Error;
    use loop_core::stream::{DEFAULT_LIMIT, open_connection};

    /// asyncio's streams, as in any other backend: send, half-close, read to the end.
    async fn exchange(net: &GuestNet, addr: SocketAddr, message: &[u8]) -> Result<Vec<u8>, Error> {
        let (reader, writer) = open_connection(net, addr, DEFAULT_LIMIT).await?;
        writer.write(message)?;
        writer.write_eof()?;
        let reply = reader.read_to_end().await?;
        writer.close();
        Ok(reply)
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
         `cargo build -p guest-sdk --example connect --target wasm32-wasip2` \
         and run it with `tulip run`"
    );
    std::process::exit(2);
}
