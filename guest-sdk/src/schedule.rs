//! Which registrations a poll passes to `wasi:io/poll`.
//!
//! A WASI 0.2 poll costs time for every pollable passed (wasmtime builds a future per
//! pollable per call, and polls them all again on every wake-up), while a guest serving
//! many mostly idle connections finds only a few of them ready at a time. The
//! [`Schedule`] therefore splits the registrations with interest into *hot* ones —
//! reported ready since the last full poll, or whose interest just grew — and *cold*
//! ones, and alternates two kinds of poll:
//!
//! - a **partial** poll passes only the hot pollables, with a zero timeout. If one of
//!   them is ready, its readiness is reported and the cold ones are not looked at this
//!   time;
//! - a **full** poll passes every pollable with interest and the loop's timeout. It runs
//!   whenever a partial poll finds nothing (so the guest never blocks without watching
//!   everything), when there is nothing cold to save, and at least every
//!   [`MAX_PARTIAL_POLLS`] polls or [`sweep_interval`] — whichever comes first — so a
//!   cold connection that becomes ready while the hot ones keep the guest busy waits at
//!   most that long. A full poll decides what is hot next: what it found ready.
//!
//! When every watched registration is hot (a handful of busy connections), every poll is
//! a full poll and nothing changes. The cost of the scheme is the latency bound above,
//! paid only by a cold connection while others are busy; its gain is that a busy guest
//! polls a few pollables per iteration instead of all of them.
//!
//! The schedule knows tokens and interests only, so its rules are tested on any target.

use core::time::Duration;

use loop_core::{Interest, Token};

/// Most partial polls in a row before a full poll.
pub(crate) const MAX_PARTIAL_POLLS: u32 = 64;

/// Longest time between full polls while partial polls keep finding work, for `cold`
/// registrations not looked at: proportional to what a full poll costs (about 2 µs per
/// cold pollable, so a full poll takes at most a tenth of a busy guest's time — an
/// estimate from wasmtime's cost per pollable), between 250 µs and 5 ms.
pub(crate) fn sweep_interval(cold: usize) -> Duration {
    const PER_COLD: Duration = Duration::from_micros(2);
    const MIN: Duration = Duration::from_micros(250);
    const MAX: Duration = Duration::from_millis(5);
    let cold = u32::try_from(cold).unwrap_or(u32::MAX);
    PER_COLD.saturating_mul(cold).clamp(MIN, MAX)
}

/// The next poll's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Only the hot registrations, without blocking; a full poll follows if none is
    /// ready.
    Partial,
    /// Every registration with interest, with the loop's timeout.
    Full,
}

/// Interest per token and the hot set; see the [module docs](self).
#[derive(Debug, Default)]
pub(crate) struct Schedule {
    /// Per token: the directions the loop waits for.
    interest: Vec<Interest>,
    /// Per token: whether it is in `hot`.
    is_hot: Vec<bool>,
    /// The hot tokens (may name tokens whose interest has since gone; those are skipped
    /// and dropped at the next full poll).
    hot: Vec<Token>,
    /// How many tokens have interest.
    interested: usize,
    /// Partial polls since the last full poll.
    partial_polls: u32,
    /// When the last full poll returned (monotonic nanoseconds).
    last_full: u64,
}

impl Schedule {
    /// The directions the loop waits for on `token`.
    pub(crate) fn interest(&self, token: Token) -> Interest {
        self.interest
            .get(token.0)
            .copied()
            .unwrap_or(Interest::NONE)
    }

    /// Every token with interest, in token order.
    pub(crate) fn interested(&self) -> impl Iterator<Item = (Token, Interest)> + '_ {
        self.interest
            .iter()
            .enumerate()
            .filter(|(_, i)| !i.is_none())
            .map(|(t, i)| (Token(t), *i))
    }

    /// The hot tokens that still have interest.
    pub(crate) fn hot(&self) -> impl Iterator<Item = (Token, Interest)> + '_ {
        self.hot
            .iter()
            .map(|&t| (t, self.interest(t)))
            .filter(|(_, i)| !i.is_none())
    }

    /// The loop now waits for `interest` on `token`. A token whose interest grows becomes
    /// hot, so what it newly waits for is watched at once.
    pub(crate) fn set_interest(&mut self, token: Token, interest: Interest) {
        let i = token.0;
        if self.interest.len() <= i {
            if interest.is_none() {
                return;
            }
            self.interest.resize(i + 1, Interest::NONE);
            self.is_hot.resize(i + 1, false);
        }
        let before = self.interest[i];
        self.interest[i] = interest;
        match (before.is_none(), interest.is_none()) {
            (true, false) => self.interested += 1,
            (false, true) => self.interested -= 1,
            _ => {}
        }
        if !interest.remove(before).is_none() {
            self.mark_hot(token);
        }
    }

    fn mark_hot(&mut self, token: Token) {
        if let Some(flag) = self.is_hot.get_mut(token.0)
            && !*flag
        {
            *flag = true;
            self.hot.push(token);
        }
    }

    /// A partial poll reported `token` ready.
    pub(crate) fn ready(&mut self, token: Token) {
        self.mark_hot(token);
    }

    /// What the next poll should be; `now` reads the monotonic clock (nanoseconds), only
    /// when the answer depends on it.
    pub(crate) fn plan(&self, now: impl FnOnce() -> u64) -> Plan {
        let hot = self.hot().count();
        let cold = self.interested.saturating_sub(hot);
        if hot == 0 || cold == 0 || self.partial_polls >= MAX_PARTIAL_POLLS {
            return Plan::Full;
        }
        let due = self
            .last_full
            .saturating_add(u64::try_from(sweep_interval(cold).as_nanos()).unwrap_or(u64::MAX));
        if now() >= due {
            Plan::Full
        } else {
            Plan::Partial
        }
    }

    /// A partial poll found work.
    pub(crate) fn partial_done(&mut self) {
        self.partial_polls += 1;
    }

    /// A full poll found `ready` ready: they are the hot set now. `now` reads the
    /// monotonic clock, only when the time of this sweep matters (something is cold).
    pub(crate) fn full_done(
        &mut self,
        now: impl FnOnce() -> u64,
        ready: impl IntoIterator<Item = Token>,
    ) {
        for t in self.hot.drain(..) {
            if let Some(flag) = self.is_hot.get_mut(t.0) {
                *flag = false;
            }
        }
        for t in ready {
            self.mark_hot(t);
        }
        self.partial_polls = 0;
        if self.hot.len() < self.interested {
            self.last_full = now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: Interest = Interest::READABLE;
    const W: Interest = Interest::WRITABLE;

    fn tokens(it: impl Iterator<Item = (Token, Interest)>) -> Vec<usize> {
        it.map(|(t, _)| t.0).collect()
    }

    /// Ten busy connections among a thousand idle ones: after a full poll finds the busy
    /// ones, the next polls pass only them.
    #[test]
    fn a_full_poll_makes_what_it_found_ready_hot() {
        let mut s = Schedule::default();
        for t in 0..1010 {
            s.set_interest(Token(t), R);
        }
        s.full_done(|| 0, (0..10).map(Token));
        assert_eq!(tokens(s.hot()), (0..10).collect::<Vec<_>>());
        assert_eq!(s.plan(|| 1), Plan::Partial);
        assert_eq!(tokens(s.interested()).len(), 1010);
    }

    /// Nothing hot, or nothing cold: a partial poll would save nothing.
    #[test]
    fn full_when_nothing_is_hot_or_nothing_is_cold() {
        let mut s = Schedule::default();
        for t in 0..3 {
            s.set_interest(Token(t), R);
        }
        s.full_done(|| 0, []);
        assert_eq!(s.plan(|| 1), Plan::Full, "nothing hot");
        s.full_done(|| 0, (0..3).map(Token));
        assert_eq!(s.plan(|| 1), Plan::Full, "nothing cold");
    }

    /// The starvation bounds: a full poll at least every MAX_PARTIAL_POLLS polls and every
    /// sweep interval.
    #[test]
    fn cold_registrations_are_swept_within_the_bounds() {
        let mut s = Schedule::default();
        for t in 0..100 {
            s.set_interest(Token(t), R);
        }
        s.full_done(|| 0, [Token(0)]);
        for _ in 0..MAX_PARTIAL_POLLS {
            assert_eq!(s.plan(|| 1), Plan::Partial);
            s.partial_done();
        }
        assert_eq!(s.plan(|| 1), Plan::Full, "after the most partial polls");
        s.full_done(|| 1_000, [Token(0)]);
        let interval = u64::try_from(sweep_interval(99).as_nanos()).unwrap();
        assert_eq!(s.plan(|| 1_000 + interval - 1), Plan::Partial);
        assert_eq!(
            s.plan(|| 1_000 + interval),
            Plan::Full,
            "after the sweep interval"
        );
    }

    #[test]
    fn the_sweep_interval_grows_with_the_cold_set_within_limits() {
        assert_eq!(sweep_interval(0), Duration::from_micros(250));
        assert_eq!(sweep_interval(1_000), Duration::from_millis(2));
        assert_eq!(sweep_interval(1_000_000), Duration::from_millis(5));
    }

    /// A token whose interest grows (a transport that starts waiting for writability) is
    /// watched at once, even if it was cold; one that loses interest leaves the hot set.
    #[test]
    fn growing_interest_makes_a_token_hot_and_lost_interest_leaves() {
        let mut s = Schedule::default();
        for t in 0..5 {
            s.set_interest(Token(t), R);
        }
        s.full_done(|| 0, [Token(0)]);
        s.set_interest(Token(3), R.add(W));
        assert_eq!(tokens(s.hot()), vec![0, 3]);
        s.set_interest(Token(3), R);
        assert_eq!(
            tokens(s.hot()),
            vec![0, 3],
            "still hot until the next full poll"
        );
        s.set_interest(Token(0), Interest::NONE);
        assert_eq!(tokens(s.hot()), vec![3], "no interest, not polled");
        assert_eq!(tokens(s.interested()), vec![1, 2, 3, 4]);
        s.ready(Token(3));
        assert_eq!(tokens(s.hot()), vec![3], "no duplicates");
    }

    /// A new registration (interest from none) is hot: a just-accepted connection is
    /// read from at once.
    #[test]
    fn new_registrations_are_hot() {
        let mut s = Schedule::default();
        s.set_interest(Token(7), R);
        assert_eq!(tokens(s.hot()), vec![7]);
        s.full_done(|| 0, []);
        assert_eq!(tokens(s.hot()), Vec::<usize>::new());
        s.set_interest(Token(7), Interest::NONE);
        s.set_interest(Token(7), R);
        assert_eq!(tokens(s.hot()), vec![7], "a reused token starts hot again");
    }
}
