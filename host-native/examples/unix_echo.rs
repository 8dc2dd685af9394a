//! An echo server and client over a Unix-domain socket, with streams: the server
//! upper-cases each line it receives.
//!
//! ```text
//! cargo run -p host-native --example unix_echo [PATH]
//! ```
//!
//! `PATH` defaults to a file in the temporary directory; a name starting with `@` is a
//! Linux abstract name (`@tulip` for `"\0tulip"`). The server removes its socket file
//! when it closes.

use std::path::PathBuf;

use host_native::NativeLoop;
use loop_core::Error;
use loop_core::stream::{ClientConnected, DEFAULT_LIMIT, StreamReader, StreamWriter};

async fn shout(reader: StreamReader, writer: StreamWriter) -> Result<(), Error> {
    loop {
        let line = reader.readline().await?;
        if line.is_empty() {
            break;
        }
        writer.write(&line.to_ascii_uppercase())?;
        writer.drain().await?;
    }
    writer.close();
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = match std::env::args().nth(1) {
        Some(name) if name.starts_with('@') => PathBuf::from(format!("\0{}", &name[1..])),
        Some(path) => PathBuf::from(path),
        None => std::env::temp_dir().join(format!("tulip-echo-{}.sock", std::process::id())),
    };
    let lp = NativeLoop::new()?;
    let l = lp.clone();
    lp.run_until_complete(async move {
        let server = l
            .start_unix_server(ClientConnected::task(shout), path.as_path(), DEFAULT_LIMIT)
            .await?;
        println!("listening on {:?}", path);
        let (reader, writer) = l
            .open_unix_connection(path.as_path(), DEFAULT_LIMIT)
            .await?;
        for line in ["hello over a unix socket\n", "bye\n"] {
            writer.write(line.as_bytes())?;
            print!(
                "echo: {}",
                String::from_utf8_lossy(&reader.readline().await?)
            );
        }
        writer.close();
        writer.wait_closed().await?;
        server.close();
        server.wait_closed().await;
        Ok::<(), Error>(())
    })??;
    Ok(())
}
