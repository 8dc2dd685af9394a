//! The stream errors that carry data back to the caller: what was read before the stream
//! ended, how far the search for a separator got.
//!
//! Both convert into [`Error`] (kinds [`ErrorKind::IncompleteRead`] and
//! [`ErrorKind::LimitOverrun`]) with themselves as the source, so a read returns the
//! crate's one error type and the caller gets the details back with
//! [`Error::downcast_ref`]:
//!
//! ```
//! use loop_core::{ErrorKind, EventLoop, sim::SimHost};
//! use loop_core::stream::{IncompleteReadError, StreamReader};
//!
//! let lp = EventLoop::new(SimHost::new(1));
//! let reader = StreamReader::new();
//! reader.feed_data(b"abc")?;
//! reader.feed_eof();
//! let r = reader.clone();
//! let err = lp.run_until_complete(async move { r.readexactly(5).await })?.unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::IncompleteRead);
//! let incomplete = err.downcast_ref::<IncompleteReadError>().unwrap();
//! assert_eq!(incomplete.partial, b"abc");
//! assert_eq!(incomplete.expected, Some(5));
//! # Ok::<(), loop_core::Error>(())
//! ```

use alloc::vec::Vec;
use core::fmt;

use crate::error::{Error, ErrorKind};

/// The stream reached EOF before the read was satisfied (`asyncio.IncompleteReadError`).
#[derive(Clone, PartialEq, Eq)]
pub struct IncompleteReadError {
    /// The bytes read before EOF (the reader's buffer was consumed into this).
    pub partial: Vec<u8>,
    /// The number of bytes asked for: `Some(n)` from
    /// [`readexactly`](super::StreamReader::readexactly), `None` when reading up to a
    /// separator.
    pub expected: Option<usize>,
}

impl fmt::Debug for IncompleteReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IncompleteReadError")
            .field("partial_len", &self.partial.len())
            .field("expected", &self.expected)
            .finish()
    }
}

impl fmt::Display for IncompleteReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.expected {
            Some(n) => write!(
                f,
                "{} bytes read on a total of {n} expected bytes",
                self.partial.len()
            ),
            None => write!(
                f,
                "{} bytes read before EOF, separator not found",
                self.partial.len()
            ),
        }
    }
}

impl core::error::Error for IncompleteReadError {}

impl From<IncompleteReadError> for Error {
    fn from(e: IncompleteReadError) -> Self {
        Error::with_source(ErrorKind::IncompleteRead, e)
    }
}

/// The buffer limit was reached while looking for a separator
/// (`asyncio.LimitOverrunError`). The data stays in the reader's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitOverrunError {
    /// How many bytes can be consumed without containing the separator's first byte:
    /// the separator's offset when it was found beyond the limit, otherwise the number
    /// of bytes searched.
    pub consumed: usize,
    /// Whether the separator was found (past the limit) or not found at all.
    pub separator_found: bool,
}

impl fmt::Display for LimitOverrunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.separator_found {
            f.write_str("separator is found, but chunk is longer than limit")
        } else {
            f.write_str("separator is not found, and chunk exceeds the limit")
        }
    }
}

impl core::error::Error for LimitOverrunError {}

impl From<LimitOverrunError> for Error {
    fn from(e: LimitOverrunError) -> Self {
        Error::with_source(ErrorKind::LimitOverrun, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    #[test]
    fn incomplete_read_converts_and_downcasts() {
        let e: Error = IncompleteReadError {
            partial: vec![1, 2],
            expected: Some(4),
        }
        .into();
        assert_eq!(e.kind(), ErrorKind::IncompleteRead);
        assert_eq!(
            e.to_string(),
            "incomplete read: 2 bytes read on a total of 4 expected bytes"
        );
        let inner = e.downcast_ref::<IncompleteReadError>().unwrap();
        assert_eq!(inner.partial, [1, 2]);
    }

    #[test]
    fn limit_overrun_converts_and_downcasts() {
        let e: Error = LimitOverrunError {
            consumed: 7,
            separator_found: false,
        }
        .into();
        assert_eq!(e.kind(), ErrorKind::LimitOverrun);
        assert_eq!(e.downcast_ref::<LimitOverrunError>().unwrap().consumed, 7);
    }
}
