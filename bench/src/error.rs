//! The harness's error type.

use std::fmt;
use std::io;

/// What went wrong in a benchmark run.
///
/// A server that cannot be had on this machine (uvloop not installable, strace missing)
/// is not an error: its row is [`Outcome::Unavailable`](crate::Outcome::Unavailable).
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system call failed; `what` names the operation.
    Io {
        /// The operation, e.g. "connect to 127.0.0.1:4000".
        what: String,
        /// The OS error.
        source: io::Error,
    },
    /// The echoed bytes differ from the bytes sent.
    Mismatch {
        /// Index of the client connection.
        connection: usize,
        /// Offset of the first differing byte in the message.
        offset: usize,
    },
    /// The server closed a connection before the whole echo came back.
    Closed {
        /// Index of the client connection.
        connection: usize,
        /// Bytes of the current echo received so far.
        received: usize,
        /// Bytes expected.
        expected: usize,
    },
    /// Something the harness waits for did not happen within its bound.
    Stalled {
        /// What was awaited.
        what: String,
    },
    /// A server process did not start, or exited while it was measured.
    Server {
        /// The server's name in the table.
        name: String,
        /// What happened, with the server's standard error when it printed any.
        message: String,
    },
    /// An option or a server specification could not be understood.
    Usage(String),
}

impl Error {
    /// An [`Error::Io`] for `what`.
    pub fn io(what: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { what, source } => write!(f, "{what}: {source}"),
            Error::Mismatch { connection, offset } => write!(
                f,
                "connection {connection}: echoed bytes differ from the bytes sent at offset {offset}"
            ),
            Error::Closed {
                connection,
                received,
                expected,
            } => write!(
                f,
                "connection {connection}: the server closed the connection after {received} of {expected} echoed bytes"
            ),
            Error::Stalled { what } => write!(f, "stalled: {what}"),
            Error::Server { name, message } => write!(f, "server {name}: {message}"),
            Error::Usage(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The harness's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
