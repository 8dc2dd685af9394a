//! The tokio echo server: a current_thread runtime and one task per connection that reads
//! into a buffer and writes it back with `write_all` — the echo a tokio user would write.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::READ_BUFFER;

/// Serves on `127.0.0.1:port` until the process is killed; returns only on a failure to
/// bind or accept.
pub fn serve_tokio(port: u16) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    runtime.block_on(async {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            tokio::spawn(echo(stream));
        }
    })
}

async fn echo(mut stream: TcpStream) {
    // The buffer is allocated once data has arrived, so that an idle connection costs
    // only its task and socket (the "lazy buffers" of the idle-connection comparison).
    // `readable()` cannot tell: a new socket reports itself ready until a read fails,
    // so wait with a one-byte peek, once per connection.
    match stream.peek(&mut [0u8; 1]).await {
        Ok(0) | Err(_) => return,
        Ok(_) => {}
    }
    let mut buf = vec![0u8; READ_BUFFER];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if stream.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
