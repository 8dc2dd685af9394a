//! The echo server as a WASI 0.2 guest: the protocol is `tulip_echo`'s, the very source
//! host-native's echo example runs, compiled to `wasm32-wasip2`.
//!
//! ```text
//! cargo build -p guest-sdk --example echo --target wasm32-wasip2 --release
//! tulip run target/wasm32-wasip2/release/examples/echo.wasm --listen 127.0.0.1:7000 -- 127.0.0.1:7000
//! ```
//!
//! Listens on the address given as its first argument (`IP:PORT`, or a bare `PORT` on
//! 127.0.0.1), else on `$TULIP_ECHO_ADDR`, else on `127.0.0.1:7000` (port 0 picks a free
//! port), prints `listening on ADDR` once it
//! accepts connections, and serves until stopped. A refused address (no `--listen`
//! grant) is reported on stderr with exit status 1.

#[cfg(all(target_os = "wasi", target_env = "p2"))]
fn main() -> std::process::ExitCode {
    use std::net::SocketAddr;
    use std::process::ExitCode;

    use loop_core::{Error, ErrorKind};

    /// `IP:PORT`, or a bare `PORT` on 127.0.0.1.
    fn listen_addr() -> Result<SocketAddr, Error> {
        let text = std::env::args()
            .nth(1)
            .or_else(|| std::env::var("TULIP_ECHO_ADDR").ok())
            .unwrap_or_else(|| "127.0.0.1:7000".to_owned());
        let parsed = match text.parse::<u16>() {
            Ok(port) => Ok(SocketAddr::from(([127, 0, 0, 1], port))),
            Err(_) => text.parse(),
        };
        parsed.map_err(|_| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("not a socket address: {text:?} (expected IP:PORT or PORT)"),
            )
        })
    }

    guest_sdk::run(|_lp, net| async move {
        let served = async {
            let server = tulip_echo::serve(&net, listen_addr()?).await?;
            for addr in server.sockets() {
                println!("listening on {addr}");
            }
            server.serve_forever().await
        };
        match served.await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("echo: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

#[cfg(not(all(target_os = "wasi", target_env = "p2")))]
fn main() {
    eprintln!(
        "echo is a WASI 0.2 guest: build it with \
         `cargo build -p guest-sdk --example echo --target wasm32-wasip2` \
         and run it with `tulip run`"
    );
    std::process::exit(2);
}
