#![doc = include_str!("../README.md")]
#![doc(test(attr(deny(warnings))))]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

#[cfg(not(unix))]
compile_error!("host-native supports Unix-like systems only (see the Portability table)");

mod clock;
mod executor;
mod host;
mod native_loop;
pub mod net;
mod resolve;
mod selector;
mod sock;
mod sys;
mod watch;

pub use executor::{Executor, Job, RunInExecutor, ThreadPoolExecutor};
pub use host::NativeHost;
pub use native_loop::NativeLoop;
pub use net::{
    ConnectOptions, DatagramOptions, HostPort, ListenOptions, UnixConnectOptions, UnixListenOptions,
};
pub use resolve::{
    AddrInfo, AddrInfoFlags, AddrInfoHints, GaiError, GaiErrorKind, NameInfoFlags, Service,
};
pub use selector::Trigger;

/// The socket crate of this crate's API ([`socket2::Socket`], [`socket2::SockAddr`],
/// [`socket2::Domain`], …), re-exported so that callers use the same version.
pub use socket2;
