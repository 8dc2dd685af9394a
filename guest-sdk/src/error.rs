//! WASI socket and stream errors as [`loop_core::Error`]s, with the kinds the simulated
//! network and the native host use for the same failures, so a protocol sees one
//! vocabulary on every backend.

use loop_core::{Error, ErrorKind};
use wasip2::sockets::network::ErrorCode;

/// The portable kind of a `wasi:sockets/network.error-code`.
///
/// The table follows what the native host reports for the POSIX errors each code
/// stands for (`access-denied` is `EACCES`/`EPERM`, so
/// [`ErrorKind::PermissionDenied`]); codes with no portable kind of their own (resource
/// limits, unreachable hosts, name resolution) are [`ErrorKind::Io`], as an
/// uncategorised OS error is natively.
pub(crate) fn kind_of(code: ErrorCode) -> ErrorKind {
    match code {
        ErrorCode::AccessDenied => ErrorKind::PermissionDenied,
        ErrorCode::NotSupported => ErrorKind::Unsupported,
        ErrorCode::InvalidArgument | ErrorCode::DatagramTooLarge => ErrorKind::InvalidInput,
        ErrorCode::Timeout => ErrorKind::Timeout,
        ErrorCode::ConcurrencyConflict | ErrorCode::NotInProgress | ErrorCode::InvalidState => {
            ErrorKind::InvalidState
        }
        ErrorCode::WouldBlock => ErrorKind::WouldBlock,
        ErrorCode::AddressNotBindable => ErrorKind::AddrNotAvailable,
        ErrorCode::AddressInUse => ErrorKind::AddrInUse,
        ErrorCode::ConnectionRefused => ErrorKind::ConnectionRefused,
        ErrorCode::ConnectionReset => ErrorKind::ConnectionReset,
        ErrorCode::ConnectionAborted => ErrorKind::ConnectionAborted,
        ErrorCode::Unknown
        | ErrorCode::OutOfMemory
        | ErrorCode::NewSocketLimit
        | ErrorCode::RemoteUnreachable
        | ErrorCode::NameUnresolvable
        | ErrorCode::TemporaryResolverFailure
        | ErrorCode::PermanentResolverFailure => ErrorKind::Io,
    }
}

/// `code` as an error whose message names the operation that failed and the WASI code
/// (`"connect to 10.0.0.1:80: access-denied"`). `would-block` stays allocation-free: it
/// is the common "not now" answer of every non-blocking call.
pub(crate) fn socket_error(code: ErrorCode, what: impl FnOnce() -> String) -> Error {
    let kind = kind_of(code);
    if kind == ErrorKind::WouldBlock {
        return Error::from_kind(kind);
    }
    Error::new(kind, format!("{}: {}", what(), code.name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code maps, and the kinds a protocol reacts to are the ones the native host
    /// reports for the same POSIX errors.
    #[test]
    fn codes_map_to_the_native_kinds() {
        let cases = [
            (ErrorCode::AccessDenied, ErrorKind::PermissionDenied),
            (ErrorCode::ConnectionRefused, ErrorKind::ConnectionRefused),
            (ErrorCode::ConnectionReset, ErrorKind::ConnectionReset),
            (ErrorCode::ConnectionAborted, ErrorKind::ConnectionAborted),
            (ErrorCode::AddressInUse, ErrorKind::AddrInUse),
            (ErrorCode::AddressNotBindable, ErrorKind::AddrNotAvailable),
            (ErrorCode::WouldBlock, ErrorKind::WouldBlock),
            (ErrorCode::Timeout, ErrorKind::Timeout),
            (ErrorCode::NotSupported, ErrorKind::Unsupported),
            (ErrorCode::InvalidArgument, ErrorKind::InvalidInput),
            (ErrorCode::DatagramTooLarge, ErrorKind::InvalidInput),
            (ErrorCode::RemoteUnreachable, ErrorKind::Io),
            (ErrorCode::NewSocketLimit, ErrorKind::Io),
        ];
        for (code, kind) in cases {
            assert_eq!(kind_of(code), kind, "{code:?}");
        }
    }

    #[test]
    fn message_names_the_operation_and_the_code() {
        let e = socket_error(ErrorCode::AccessDenied, || "connect to 10.0.0.1:80".into());
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        assert_eq!(e.message(), Some("connect to 10.0.0.1:80: access-denied"));
    }

    #[test]
    fn would_block_carries_no_message() {
        let e = socket_error(ErrorCode::WouldBlock, || unreachable!("not formatted"));
        assert!(e.is_would_block());
        assert_eq!(e.message(), None);
    }
}
