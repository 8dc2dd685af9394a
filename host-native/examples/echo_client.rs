//! A TCP echo client with streams (asyncio's `open_connection` example): sends a few
//! lines to an echo server and prints what comes back.
//!
//! ```text
//! cargo run -p host-native --example echo_server_protocol &
//! cargo run -p host-native --example echo_client [HOST:PORT] [MESSAGE...]
//! ```

use host_native::{ConnectOptions, NativeLoop};
use loop_core::stream::DEFAULT_LIMIT;
use loop_core::{Error, ExtraInfo};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let target = args.next().unwrap_or_else(|| "127.0.0.1:8888".into());
    let (host, port) = target
        .rsplit_once(':')
        .ok_or_else(|| format!("expected HOST:PORT, got {target:?}"))?;
    let options = ConnectOptions::new()
        .host(host.trim_start_matches('[').trim_end_matches(']'))
        .port(port.parse()?);
    let mut messages: Vec<String> = args.collect();
    if messages.is_empty() {
        messages = vec!["Hello World!".into(), "Goodbye!".into()];
    }

    let lp = NativeLoop::new()?;
    let l = lp.clone();
    lp.run_until_complete(async move {
        let (reader, writer) = l.open_connection(options, DEFAULT_LIMIT).await?;
        if let Some(ExtraInfo::Addr(peer)) = writer.get_extra_info("peername") {
            println!("connected to {peer}");
        }
        for message in messages {
            println!("send: {message}");
            writer.write(format!("{message}\n").as_bytes())?;
            writer.drain().await?;
            let line = reader.readline().await?;
            if line.is_empty() {
                println!("the server closed the connection");
                break;
            }
            print!("received: {}", String::from_utf8_lossy(&line));
        }
        println!("close the connection");
        writer.close();
        writer.wait_closed().await?;
        Ok::<(), Error>(())
    })??;
    Ok(())
}
