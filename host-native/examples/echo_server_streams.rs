//! A TCP echo server with streams (asyncio's `start_server` example): each client is
//! served by a task that reads, writes back and drains.
//!
//! ```text
//! cargo run --release -p host-native --example echo_server_streams [HOST:PORT]
//! ```
//!
//! Listens on `127.0.0.1:8888` by default and prints `listening on ADDR` once ready
//! (the benchmark harness waits for that line).

use std::io::Write;

use host_native::{ListenOptions, NativeLoop};
use loop_core::Error;
use loop_core::stream::{ClientConnected, DEFAULT_LIMIT, StreamReader, StreamWriter};

/// Echo until the client closes its side, then close ours.
async fn handle_echo(reader: StreamReader, writer: StreamWriter) -> Result<(), Error> {
    loop {
        let data = reader.read(DEFAULT_LIMIT).await?;
        if data.is_empty() {
            break;
        }
        writer.write(&data)?;
        writer.drain().await?;
    }
    writer.close();
    Ok(())
}

/// `HOST:PORT` (or `[V6]:PORT`) from the command line.
fn listen_options(arg: &str) -> Result<ListenOptions, String> {
    let (host, port) = arg
        .rsplit_once(':')
        .ok_or_else(|| format!("expected HOST:PORT, got {arg:?}"))?;
    let port = port
        .parse()
        .map_err(|e| format!("bad port {port:?}: {e}"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok(ListenOptions::new().host(host).port(port))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arg = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8888".into());
    let options = listen_options(&arg)?;
    let lp = NativeLoop::new()?;
    let l = lp.clone();
    let server = lp.run_until_complete(async move {
        l.start_server(ClientConnected::task(handle_echo), options, DEFAULT_LIMIT)
            .await
    })??;
    for addr in server.sockets() {
        println!("listening on {addr}");
    }
    std::io::stdout().flush()?;
    lp.run_until_complete(async move { server.serve_forever().await })??;
    Ok(())
}
