//! Write-buffer flow control: when to call `pause_writing` and `resume_writing`.

use crate::error::{Error, ErrorKind, Result};
use crate::transport::{DEFAULT_HIGH_WATER, default_low_water};

/// The high/low-water marks of a write buffer and whether the protocol is paused
/// (asyncio's `_maybe_pause_protocol` / `_maybe_resume_protocol` as a value).
///
/// - pause when the buffer goes **strictly above** `high`, once, even if it keeps
///   growing;
/// - resume when it falls **to or below** `low`, once;
/// - the two always alternate, which is what makes marks of 0 work: with `(0, 0)` any
///   non-empty buffer pauses and only an empty one resumes.
///
/// Defaults: `high` = 64 KiB, `low` = 16 KiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteFlow {
    high: usize,
    low: usize,
    paused: bool,
}

impl Default for WriteFlow {
    fn default() -> Self {
        WriteFlow::new()
    }
}

impl WriteFlow {
    /// The default marks (64 KiB / 16 KiB), not paused.
    pub const fn new() -> Self {
        WriteFlow {
            high: DEFAULT_HIGH_WATER,
            low: default_low_water(DEFAULT_HIGH_WATER),
            paused: false,
        }
    }

    /// The `(low, high)` marks.
    pub fn limits(&self) -> (usize, usize) {
        (self.low, self.high)
    }

    /// Whether the protocol was told to pause and not told to resume yet.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Set the marks. `high` defaults to `4 * low` when only `low` is given, else to
    /// 64 KiB; `low` defaults to `high / 4`. Call [`check_pause`](Self::check_pause) and
    /// [`check_resume`](Self::check_resume) afterwards: the new marks may change the
    /// verdict for the current buffer.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] if `low > high` (the marks are left unchanged).
    pub fn set_limits(&mut self, high: Option<usize>, low: Option<usize>) -> Result<()> {
        let high = match (high, low) {
            (Some(h), _) => h,
            (None, Some(l)) => l.saturating_mul(4),
            (None, None) => DEFAULT_HIGH_WATER,
        };
        let low = low.unwrap_or_else(|| default_low_water(high));
        if low > high {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "high must be greater than or equal to low",
            ));
        }
        self.high = high;
        self.low = low;
        Ok(())
    }

    /// The buffer now holds `size` bytes: returns `true` when the protocol must be told
    /// to pause (and records that it is).
    #[inline]
    pub fn check_pause(&mut self, size: usize) -> bool {
        if !self.paused && size > self.high {
            self.paused = true;
            true
        } else {
            false
        }
    }

    /// The buffer now holds `size` bytes: returns `true` when the protocol must be told
    /// to resume (and records that it is no longer paused).
    #[inline]
    pub fn check_resume(&mut self, size: usize) -> bool {
        if self.paused && size <= self.low {
            self.paused = false;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_asyncio_s() {
        let f = WriteFlow::new();
        assert_eq!(f.limits(), (16 * 1024, 64 * 1024));
        assert!(!f.is_paused());
        assert_eq!(WriteFlow::default(), f);
    }

    #[test]
    fn pause_only_strictly_above_high_and_once() {
        let mut f = WriteFlow::new();
        f.set_limits(Some(10), Some(5)).unwrap();
        assert!(!f.check_pause(10), "equal to high does not pause");
        assert!(f.check_pause(11));
        assert!(
            !f.check_pause(100),
            "paused once, even if the buffer keeps growing"
        );
        assert!(!f.check_resume(6));
        assert!(f.check_resume(5), "equal to low resumes");
        assert!(!f.check_resume(0), "resumed once");
    }

    #[test]
    fn zero_marks() {
        let mut f = WriteFlow::new();
        f.set_limits(Some(0), Some(0)).unwrap();
        assert!(!f.check_pause(0));
        assert!(f.check_pause(1), "(0, 0): any non-empty buffer pauses");
        assert!(!f.check_resume(1));
        assert!(f.check_resume(0), "(0, 0): only an empty buffer resumes");

        f.set_limits(Some(1), Some(0)).unwrap();
        assert!(!f.check_pause(1));
        assert!(f.check_pause(2));
        assert!(!f.check_resume(1));
        assert!(f.check_resume(0));
    }

    #[test]
    fn limits_validation_and_defaults() {
        let mut f = WriteFlow::new();
        assert_eq!(
            f.set_limits(Some(1), Some(2)).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            f.limits(),
            (16 * 1024, 64 * 1024),
            "unchanged after an error"
        );
        f.set_limits(Some(100), None).unwrap();
        assert_eq!(f.limits(), (25, 100), "low defaults to high / 4");
        f.set_limits(None, Some(10)).unwrap();
        assert_eq!(f.limits(), (10, 40), "high defaults to 4 * low");
        f.set_limits(None, None).unwrap();
        assert_eq!(f.limits(), (16 * 1024, 64 * 1024));
        f.set_limits(Some(0), None).unwrap();
        assert_eq!(f.limits(), (0, 0), "high 0 forces low 0");
    }
}
