//! Tulip's loop backend inside a `wasm32-wasip2` guest: the same protocol code that runs
//! natively runs as a sandboxed WebAssembly component, over standard WASI 0.2 only, so
//! it runs under `tulip` (host-wasi) or any other WASI 0.2 runtime.
//!
//! # In a guest (`wasm32-wasip2`)
//!
//! - `GuestHost` implements the loop's [`Host`](loop_core::Host) boundary:
//!   `wasi:clocks/monotonic-clock` for time, and `wasi:io/poll` over the pollables of
//!   the sockets with interest plus a clock pollable for the next timer — all of them,
//!   or, while a few busy connections keep the guest occupied, those alone.
//! - `GuestNet` implements [`Net`](loop_core::net::Net) over `wasi:sockets`: TCP
//!   connections and listeners (`GuestStream`, `GuestListener`) and UDP sockets
//!   (`GuestDatagram`), driven by loop-core's shared transport machinery, so flow
//!   control, the connection state machine and the stream API are the same as on every
//!   other backend.
//! - `run` is the entry point of a guest's `main`; it documents the single-threaded
//!   model.
//!
//! ```ignore
//! // A guest's src/main.rs (compiled only for wasm32-wasip2, hence not a doc test).
//! use std::process::ExitCode;
//!
//! fn main() -> ExitCode {
//!     guest_sdk::run(|lp, _net| async move {
//!         lp.sleep(core::time::Duration::from_millis(10)).await?;
//!         println!("hello from a guest");
//!         Ok::<(), loop_core::Error>(())
//!     })
//! }
//! ```
//!
//! Build with `cargo build --target wasm32-wasip2`; the example guests are in this
//! crate's `examples/` (`echo`, `connect`, `guest_udp_echo`).
//!
//! # WASI interfaces a guest imports
//!
//! Standard WASI 0.2 interfaces only (`@0.2.12`, through the `wasip2` bindings crate),
//! and only those the guest uses — the linker drops the rest. Through this crate:
//! `wasi:io/poll`, `wasi:io/streams`, `wasi:io/error`, `wasi:clocks/monotonic-clock`,
//! `wasi:sockets/network`, `wasi:sockets/instance-network`, `wasi:sockets/tcp`,
//! `wasi:sockets/tcp-create-socket`, `wasi:sockets/udp`,
//! `wasi:sockets/udp-create-socket`. Rust's standard library adds `wasi:cli/environment`,
//! `wasi:cli/exit` and the stdio interfaces (`wasi:cli/stdin`, `stdout`, `stderr`,
//! `terminal-*`). The echo example imports exactly these minus UDP socket creation: no
//! filesystem, no random numbers, no name lookup.
//!
//! (The guest items are documented for `wasm32-wasip2`, the builder for the host: the
//! names above are not links because each exists on one side only.)
//!
//! # On other targets
//!
//! The guest backend exists only when compiling for `wasm32-wasip2`
//! (`target_os = "wasi"`, `target_env = "p2"`); browse its documentation with
//! `cargo doc -p guest-sdk --target wasm32-wasip2`. On the host, the crate offers
//! `build::GuestBuild`, which builds guest programs for `wasm32-wasip2` from a test,
//! a build script or a tool without deadlocking on cargo's lock.

#[cfg(all(target_os = "wasi", target_env = "p2"))]
extern crate alloc;

#[cfg(any(test, all(target_os = "wasi", target_env = "p2")))]
mod addr;
#[cfg(any(test, all(target_os = "wasi", target_env = "p2")))]
mod error;

#[cfg(all(target_os = "wasi", target_env = "p2"))]
mod host;
#[cfg(all(target_os = "wasi", target_env = "p2"))]
mod net;
#[cfg(all(target_os = "wasi", target_env = "p2"))]
mod reactor;
#[cfg(any(test, all(target_os = "wasi", target_env = "p2")))]
mod read_size;
#[cfg(all(target_os = "wasi", target_env = "p2"))]
mod run;
#[cfg(any(test, all(target_os = "wasi", target_env = "p2")))]
mod schedule;
#[cfg(all(target_os = "wasi", target_env = "p2"))]
mod tcp;
#[cfg(all(target_os = "wasi", target_env = "p2"))]
mod udp;

#[cfg(not(target_os = "wasi"))]
pub mod build;

#[cfg(all(target_os = "wasi", target_env = "p2"))]
pub use host::GuestHost;
#[cfg(all(target_os = "wasi", target_env = "p2"))]
pub use net::GuestNet;
#[cfg(all(target_os = "wasi", target_env = "p2"))]
pub use run::{LINGER_LIMIT, run};
#[cfg(all(target_os = "wasi", target_env = "p2"))]
pub use tcp::{GuestListener, GuestStream};
#[cfg(all(target_os = "wasi", target_env = "p2"))]
pub use udp::GuestDatagram;
