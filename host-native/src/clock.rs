//! The native clock: [`std::time::Instant`] measured from the host's creation, as loop
//! [`Instant`]s (nanoseconds).

use core::time::Duration;

use loop_core::Instant;

/// A monotonic clock whose epoch is the moment it was created.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    origin: std::time::Instant,
}

impl Clock {
    /// A clock starting at zero now.
    pub(crate) fn new() -> Self {
        Clock {
            origin: std::time::Instant::now(),
        }
    }

    /// Nanoseconds since the clock's creation. Monotonic, because
    /// `std::time::Instant` is; saturates after 584 years.
    pub(crate) fn now(&self) -> Instant {
        let nanos = self.origin.elapsed().as_nanos();
        Instant::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// Round a poll timeout up to whole milliseconds, the resolution of `epoll_wait`: a
/// sub-millisecond timeout must never become a zero timeout (a busy poll), and a timeout
/// must never end before the deadline the loop computed. `ZERO` stays `ZERO`.
pub(crate) fn round_up_to_millis(timeout: Duration) -> Duration {
    let sub_ms = timeout.subsec_nanos() % 1_000_000;
    if sub_ms == 0 {
        timeout
    } else {
        timeout
            .checked_add(Duration::from_nanos(u64::from(1_000_000 - sub_ms)))
            .unwrap_or(Duration::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_never_shortens_and_keeps_zero() {
        assert_eq!(round_up_to_millis(Duration::ZERO), Duration::ZERO);
        assert_eq!(
            round_up_to_millis(Duration::from_nanos(1)),
            Duration::from_millis(1)
        );
        assert_eq!(
            round_up_to_millis(Duration::from_micros(1500)),
            Duration::from_millis(2)
        );
        assert_eq!(
            round_up_to_millis(Duration::from_millis(7)),
            Duration::from_millis(7)
        );
        assert_eq!(round_up_to_millis(Duration::MAX), Duration::MAX);
    }

    #[test]
    fn clock_is_monotonic_from_zero() {
        let c = Clock::new();
        let a = c.now();
        let b = c.now();
        assert!(b >= a);
        assert!(a.as_nanos() < 1_000_000_000);
    }
}
