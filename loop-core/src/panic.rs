//! Catching panics in callbacks and tasks (with the `std` feature; without it a panic
//! follows the target's panic strategy).

use crate::error::Error;

/// Run `f`, turning a panic into an [`ErrorKind::Panicked`](crate::ErrorKind::Panicked)
/// error when the `std` feature is on.
#[cfg(feature = "std")]
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, Error> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(Error::panicked)
}

/// Run `f` (no unwinding support without `std`).
#[cfg(not(feature = "std"))]
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, Error> {
    Ok(f())
}
