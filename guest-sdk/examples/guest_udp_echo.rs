//! A UDP echo server as a WASI 0.2 guest: every datagram goes back to its sender.
//!
//! ```text
//! cargo build -p guest-sdk --example guest_udp_echo --target wasm32-wasip2
//! tulip run target/wasm32-wasip2/debug/examples/guest_udp_echo.wasm --udp --listen 127.0.0.1:7001 -- 127.0.0.1:7001
//! ```
//!
//! Binds the address given as its first argument (default `127.0.0.1:7001`; port 0
//! picks a free port), prints `listening on ADDR`, and echoes until stopped. A refused
//! bind (UDP not granted) is reported on stderr with exit status 1.

#[cfg(all(target_os = "wasi", target_env = "p2"))]
fn main() -> std::process::ExitCode {
    use std::net::SocketAddr;
    use std::process::ExitCode;
    use std::rc::Rc;

    use loop_core::net::Net;
    use loop_core::{DatagramProtocol, DatagramTransport, Error, ErrorKind, ExtraInfo};

    /// Sends each datagram back where it came from.
    #[derive(Default)]
    struct UdpEcho {
        transport: Option<Rc<dyn DatagramTransport>>,
    }

    impl DatagramProtocol for UdpEcho {
        fn connection_made(&mut self, transport: Rc<dyn DatagramTransport>) {
            self.transport = Some(transport);
        }
        fn datagram_received(&mut self, data: &[u8], addr: SocketAddr) {
            if let Some(t) = &self.transport {
                // Fails only once closing.
                let _ = t.sendto(data, Some(addr));
            }
        }
        fn error_received(&mut self, error: Error) {
            eprintln!("guest_udp_echo: {error}");
        }
    }

    let text = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7001".to_owned());
    guest_sdk::run(|lp, net| async move {
        let served = async {
            let addr: SocketAddr = text.parse().map_err(|_| {
                Error::new(
                    ErrorKind::InvalidInput,
                    format!("not a socket address: {text:?}"),
                )
            })?;
            let (transport, _) = net
                .create_datagram_endpoint(UdpEcho::default, Some(addr), None)
                .await?;
            if let Some(ExtraInfo::Addr(bound)) = transport.get_extra_info("sockname") {
                println!("listening on {bound}");
            }
            // Serve until the runtime stops the guest.
            lp.create_future::<()>().await
        };
        match served.await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("guest_udp_echo: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

#[cfg(not(all(target_os = "wasi", target_env = "p2")))]
fn main() {
    eprintln!(
        "guest_udp_echo is a WASI 0.2 guest: build it with \
         `cargo build -p guest-sdk --example guest_udp_echo --target wasm32-wasip2` \
         and run it with `tulip run`"
    );
    std::process::exit(2);
}
