//! Errors: one [`Error`] type with an [`ErrorKind`], cheap to clone so a future's
//! failure can be handed to every waiter, as asyncio hands the same exception object to
//! every `await`.

use alloc::borrow::Cow;
use alloc::sync::Arc;
use core::fmt;

/// What went wrong, in asyncio's vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The operation was cancelled (`asyncio.CancelledError`).
    Cancelled,
    /// A deadline passed (`TimeoutError`).
    Timeout,
    /// The object is not in a state that allows the operation
    /// (`asyncio.InvalidStateError`): a result read before it is set, set twice, …
    InvalidState,
    /// An argument was rejected (`ValueError`).
    InvalidInput,
    /// The operation is not allowed right now (`RuntimeError`): closing a running loop,
    /// running a closed one, releasing an unlocked lock, …
    Runtime,
    /// A callback or task panicked (caught with the `std` feature).
    Panicked,
    /// A non-blocking put on a full queue (`asyncio.QueueFull`).
    QueueFull,
    /// A non-blocking get on an empty queue (`asyncio.QueueEmpty`).
    QueueEmpty,
    /// The host failed (poll, clock or I/O registration).
    Host,
    /// The simulation host has nothing left that could ever happen: the loop would block
    /// forever.
    Stalled,
    /// A non-blocking I/O operation could not proceed now (`BlockingIOError`). Raw I/O
    /// objects return it; transports treat it as "wait for readiness", never as a failure.
    WouldBlock,
    /// The peer refused the connection, or (on a connected datagram endpoint) the peer's
    /// port is unreachable (`ConnectionRefusedError`).
    ConnectionRefused,
    /// The peer reset the connection (`ConnectionResetError`).
    ConnectionReset,
    /// The connection was aborted on this side, for instance before it was accepted
    /// (`ConnectionAbortedError`).
    ConnectionAborted,
    /// Writing to a channel whose other end is closed (`BrokenPipeError`).
    BrokenPipe,
    /// The operation needs a connected socket (`ENOTCONN`).
    NotConnected,
    /// The local address is already in use (`EADDRINUSE`).
    AddrInUse,
    /// The local address cannot be assigned (`EADDRNOTAVAIL`).
    AddrNotAvailable,
    /// The operation is not permitted (`PermissionError`: `EACCES`, `EPERM`); a sandboxed
    /// guest gets it for a socket operation its operator did not grant (WASI's
    /// `access-denied`).
    PermissionDenied,
    /// The operation is not supported by this transport or backend
    /// (`NotImplementedError`).
    Unsupported,
    /// An operating-system error with no kind of its own (`OSError`); the source carries
    /// the details.
    Io,
    /// A stream ended before the requested bytes or separator arrived
    /// (`asyncio.IncompleteReadError`); the source is a
    /// [`stream::IncompleteReadError`](crate::stream::IncompleteReadError) carrying the
    /// partial bytes.
    IncompleteRead,
    /// A stream's buffer limit was reached before the separator was found
    /// (`asyncio.LimitOverrunError`); the source is a
    /// [`stream::LimitOverrunError`](crate::stream::LimitOverrunError).
    LimitOverrun,
    /// An error raised by user code, carried as its source ([`Error::get_ref`]).
    Other,
}

impl ErrorKind {
    fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Timeout => "timed out",
            ErrorKind::InvalidState => "invalid state",
            ErrorKind::InvalidInput => "invalid input",
            ErrorKind::Runtime => "runtime error",
            ErrorKind::Panicked => "panicked",
            ErrorKind::QueueFull => "queue full",
            ErrorKind::QueueEmpty => "queue empty",
            ErrorKind::Host => "host error",
            ErrorKind::Stalled => "simulation stalled",
            ErrorKind::WouldBlock => "operation would block",
            ErrorKind::ConnectionRefused => "connection refused",
            ErrorKind::ConnectionReset => "connection reset by peer",
            ErrorKind::ConnectionAborted => "connection aborted",
            ErrorKind::BrokenPipe => "broken pipe",
            ErrorKind::NotConnected => "not connected",
            ErrorKind::AddrInUse => "address in use",
            ErrorKind::AddrNotAvailable => "address not available",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::Unsupported => "unsupported operation",
            ErrorKind::Io => "i/o error",
            ErrorKind::IncompleteRead => "incomplete read",
            ErrorKind::LimitOverrun => "limit overrun",
            ErrorKind::Other => "error",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type Source = Arc<dyn core::error::Error + Send + Sync + 'static>;

/// An error: a kind, an optional message and an optional source error.
///
/// Cloning is cheap (the message and the source are shared), which lets one failed
/// future report the same error to every waiter. An error is two words: the kind, and
/// the message and source behind one shared pointer when there are any, so that every
/// `Result` of the crate (and every future's outcome slot) stays small.
#[derive(Clone)]
pub struct Error {
    kind: ErrorKind,
    detail: Option<Arc<Detail>>,
}

/// What an [`Error`] carries besides its kind.
struct Detail {
    message: Option<Cow<'static, str>>,
    source: Option<Source>,
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

impl Error {
    /// An error of `kind` with no message.
    pub const fn from_kind(kind: ErrorKind) -> Self {
        Error { kind, detail: None }
    }

    fn with_detail(
        kind: ErrorKind,
        message: Option<Cow<'static, str>>,
        source: Option<Source>,
    ) -> Self {
        let detail =
            (message.is_some() || source.is_some()).then(|| Arc::new(Detail { message, source }));
        Error { kind, detail }
    }

    /// An error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Error::with_detail(kind, Some(message.into()), None)
    }

    /// An [`ErrorKind::Other`] error wrapping a user error.
    pub fn other<E>(error: E) -> Self
    where
        E: core::error::Error + Send + Sync + 'static,
    {
        Error::with_detail(ErrorKind::Other, None, Some(Arc::new(error)))
    }

    /// An error of `kind` caused by `source`.
    pub fn with_source<E>(kind: ErrorKind, source: E) -> Self
    where
        E: core::error::Error + Send + Sync + 'static,
    {
        Error::with_detail(kind, None, Some(Arc::new(source)))
    }

    /// A cancellation error, with the message given to `cancel(msg)` if any.
    pub fn cancelled(message: Option<Cow<'static, str>>) -> Self {
        Error::with_detail(ErrorKind::Cancelled, message, None)
    }

    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, if one was given.
    pub fn message(&self) -> Option<&str> {
        self.detail.as_ref()?.message.as_deref()
    }

    fn source_ref(&self) -> Option<&Source> {
        self.detail.as_ref()?.source.as_ref()
    }

    /// Whether this is a cancellation.
    pub fn is_cancelled(&self) -> bool {
        self.kind == ErrorKind::Cancelled
    }

    /// Whether this is a timeout.
    pub fn is_timeout(&self) -> bool {
        self.kind == ErrorKind::Timeout
    }

    /// Whether this is [`ErrorKind::WouldBlock`]: a non-blocking operation must wait for
    /// readiness.
    pub fn is_would_block(&self) -> bool {
        self.kind == ErrorKind::WouldBlock
    }

    /// The wrapped source error, if any.
    pub fn get_ref(&self) -> Option<&(dyn core::error::Error + Send + Sync + 'static)> {
        self.source_ref().map(|s| &**s)
    }

    /// Downcast the source error to a concrete type.
    pub fn downcast_ref<E: core::error::Error + 'static>(&self) -> Option<&E> {
        self.source_ref()?.downcast_ref::<E>()
    }

    #[cfg(feature = "std")]
    pub(crate) fn panicked(payload: alloc::boxed::Box<dyn core::any::Any + Send>) -> Self {
        let message: Cow<'static, str> = if let Some(s) = payload.downcast_ref::<&'static str>() {
            Cow::Borrowed(*s)
        } else if let Some(s) = payload.downcast_ref::<alloc::string::String>() {
            Cow::Owned(s.clone())
        } else {
            Cow::Borrowed("panic with a non-string payload")
        };
        Error::new(ErrorKind::Panicked, message)
    }
}

/// Maps an OS error to the portable kinds, so the same failure looks the same on every
/// backend (the simulated network produces these kinds directly).
#[cfg(feature = "std")]
impl From<std::io::Error> for Error {
    fn from(error: std::io::Error) -> Self {
        use std::io::ErrorKind as Io;
        let kind = match error.kind() {
            Io::WouldBlock => ErrorKind::WouldBlock,
            Io::ConnectionRefused => ErrorKind::ConnectionRefused,
            Io::ConnectionReset => ErrorKind::ConnectionReset,
            Io::ConnectionAborted => ErrorKind::ConnectionAborted,
            Io::BrokenPipe => ErrorKind::BrokenPipe,
            Io::NotConnected => ErrorKind::NotConnected,
            Io::AddrInUse => ErrorKind::AddrInUse,
            Io::AddrNotAvailable => ErrorKind::AddrNotAvailable,
            Io::PermissionDenied => ErrorKind::PermissionDenied,
            Io::Unsupported => ErrorKind::Unsupported,
            Io::TimedOut => ErrorKind::Timeout,
            Io::InvalidInput => ErrorKind::InvalidInput,
            _ => ErrorKind::Io,
        };
        if kind == ErrorKind::WouldBlock {
            // The hot path: no allocation for the most common "error".
            return Error::from_kind(kind);
        }
        Error::with_source(kind, error)
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error::from_kind(kind)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind);
        if let Some(m) = self.message() {
            d.field("message", &m);
        }
        if let Some(s) = self.source_ref() {
            d.field("source", s);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.message(), self.source_ref()) {
            (Some(m), _) => write!(f, "{}: {}", self.kind, m),
            (None, Some(s)) if self.kind == ErrorKind::Other => write!(f, "{s}"),
            (None, Some(s)) => write!(f, "{}: {}", self.kind, s),
            (None, None) => f.write_str(self.kind.as_str()),
        }
    }
}

impl core::error::Error for Error {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self.source_ref() {
            Some(s) => Some(&**s as &(dyn core::error::Error + 'static)),
            None => None,
        }
    }
}

impl PartialEq for Error {
    /// Errors compare by kind and message (sources are not comparable).
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.message() == other.message()
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use alloc::string::ToString;

    use super::{Error, ErrorKind};

    /// An OS permission failure (`PermissionError` in asyncio) keeps its own kind, so a
    /// native program and a sandboxed guest that is denied an operation see the same one.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn an_error_is_two_words_and_so_is_a_result_of_one() {
        assert_eq!(core::mem::size_of::<Error>(), 16);
        assert_eq!(core::mem::size_of::<super::Result<()>>(), 16);
        assert_eq!(core::mem::size_of::<Option<super::Result<u64>>>(), 16);
    }

    #[test]
    fn permission_denied_is_its_own_kind() {
        let e = Error::from(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        assert_eq!(ErrorKind::PermissionDenied.to_string(), "permission denied");
    }
}
