//! Every call into the C library, and so every `unsafe` block of the crate.
//!
//! The rest of the crate uses the safe wrappers re-exported here; they take Rust types
//! (`&str`, [`SocketAddr`](std::net::SocketAddr), [`socket2::Socket`]) and return
//! `io::Result`.

#[cfg(unix)]
mod unix;

#[cfg(unix)]
pub(crate) use unix::{
    GaiFailure, RawAddrInfo, SEND_FLAGS, gai_strerror, getaddrinfo, getnameinfo, recv_to_vec,
};
