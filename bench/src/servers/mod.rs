//! The Rust comparison servers, run by `tulip-bench serve KIND PORT` in their own process.
//!
//! Both listen on `127.0.0.1:PORT`, set `TCP_NODELAY` on accepted sockets (as asyncio
//! and uvloop do) and echo with a 64 KiB read buffer.

mod mio_echo;
mod tokio_echo;

use std::io;

pub use mio_echo::serve_mio;
pub use tokio_echo::serve_tokio;

/// Bytes read from a socket at once.
pub const READ_BUFFER: usize = 64 * 1024;

/// A built-in Rust echo server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ServerKind {
    /// A plain mio loop: the floor no event loop can beat.
    Mio,
    /// tokio's current_thread runtime, one task per connection.
    Tokio,
}

impl ServerKind {
    /// Serves on `127.0.0.1:port` until the process is killed.
    pub fn serve(self, port: u16) -> io::Result<()> {
        match self {
            ServerKind::Mio => serve_mio(port),
            ServerKind::Tokio => serve_tokio(port),
        }
    }
}
