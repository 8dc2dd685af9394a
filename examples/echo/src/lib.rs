//! The echo protocol (RFC 862): every byte received is sent back, and the end of the
//! client's stream closes the connection once everything has been echoed.
//!
//! One source for every echo server of the project: host-native's `echo` example and
//! guest-sdk's `echo` guest both call [`serve`], so the protocol that runs natively is,
//! byte for byte, the one that runs in a `wasm32-wasip2` guest. It is written against
//! loop-core only (`no_std` + `alloc`), over the [`Net`] abstraction, so it runs on any
//! backend — the simulated network included.
//!
//! ```
//! use core::net::SocketAddr;
//! use loop_core::{EventLoop, net::Net, sim::{SimHost, SimNet}};
//!
//! let host = SimHost::new(1);
//! let lp = EventLoop::new(host.clone());
//! let net = SimNet::new(&lp, &host);
//! let addr: SocketAddr = "127.0.0.1:7".parse()?;
//! let server = lp.run_until_complete({
//!     let net = net.clone();
//!     async move { tulip_echo::serve(&net, addr).await }
//! })??;
//! assert_eq!(server.sockets(), vec![addr]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![no_std]

extern crate alloc;

use alloc::rc::Rc;
use core::net::SocketAddr;

use loop_core::net::{Net, Server, ServerOptions};
use loop_core::{Protocol, Result, Transport};

/// The echo protocol for one connection.
///
/// Flow control follows the transport: when the peer reads slower than it sends, the
/// echoes fill the write buffer past its high-water mark and the transport calls
/// [`pause_writing`](Protocol::pause_writing); the protocol then stops reading, so the
/// peer's data waits in the network rather than in memory, and reads again on
/// [`resume_writing`](Protocol::resume_writing).
#[derive(Default)]
pub struct Echo {
    transport: Option<Rc<dyn Transport>>,
}

impl core::fmt::Debug for Echo {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Echo")
            .field("connected", &self.transport.is_some())
            .finish()
    }
}

impl Protocol for Echo {
    fn connection_made(&mut self, transport: Rc<dyn Transport>) {
        self.transport = Some(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        if let Some(t) = &self.transport {
            // Fails only once the transport is closing, when there is nobody to echo to.
            let _ = t.write(data);
        }
    }

    /// The client has sent everything: close after the echoes are flushed (returning
    /// `false` makes the transport close itself).
    fn eof_received(&mut self) -> bool {
        false
    }

    fn connection_lost(&mut self, _error: Option<loop_core::Error>) {
        self.transport = None;
    }

    fn pause_writing(&mut self) {
        if let Some(t) = &self.transport {
            t.pause_reading();
        }
    }

    fn resume_writing(&mut self) {
        if let Some(t) = &self.transport {
            t.resume_reading();
        }
    }
}

/// Serve the echo protocol on `addr` (port 0 picks a free port; see
/// [`Server::sockets`] for the address bound) with asyncio's default server options.
///
/// # Errors
///
/// As [`Net::create_server`]: the address is in use or not available, or the backend
/// refuses it (a guest without a grant to listen there gets
/// [`ErrorKind::PermissionDenied`](loop_core::ErrorKind::PermissionDenied)).
pub async fn serve<N: Net>(net: &N, addr: SocketAddr) -> Result<Server> {
    net.create_server(Echo::default, addr, ServerOptions::default())
        .await
}
