//! Comparing two [`TraceLog`]s: the first differing event, with context, worded for a
//! failing test.

use std::fmt;

use crate::trace::{Event, Payload, TraceLog};

/// Events shown before the first difference.
const CONTEXT: usize = 4;

/// Where two traces first differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The lane.
    pub lane: String,
    /// Index of the first differing event in that lane.
    pub index: usize,
    /// The expected trace's event there (`None`: its lane ends, or does not exist).
    pub expected: Option<Event>,
    /// The other trace's event there.
    pub actual: Option<Event>,
    /// The events just before, identical in both.
    pub context: Vec<Event>,
}

impl Mismatch {
    /// An explanation for differing received bytes: how many, and where they first
    /// differ (lost or reordered bytes show up here).
    pub fn detail(&self) -> Option<String> {
        let (Some(Event::Data(e)), Some(Event::Data(a))) = (&self.expected, &self.actual) else {
            return None;
        };
        Some(bytes_detail(e, a))
    }
}

fn bytes_detail(expected: &Payload, actual: &Payload) -> String {
    match (expected.bytes(), actual.bytes()) {
        (Some(e), Some(a)) => {
            let at = e.iter().zip(a).position(|(x, y)| x != y);
            match at {
                Some(i) => format!(
                    "bytes reordered or corrupted: {} received, {} expected, first difference at offset {i}",
                    a.len(),
                    e.len()
                ),
                None if a.len() < e.len() => {
                    format!("bytes lost: {} of {} received (a prefix)", a.len(), e.len())
                }
                None => format!(
                    "extra bytes: {} received, {} expected (the expected bytes are a prefix)",
                    a.len(),
                    e.len()
                ),
            }
        }
        _ => format!(
            "{} bytes received, {} expected (contents compared by digest)",
            actual.len(),
            expected.len()
        ),
    }
}

/// The first difference between `expected` and `actual`, lane by lane in name order.
pub fn first_difference(expected: &TraceLog, actual: &TraceLog) -> Option<Mismatch> {
    let mut names: Vec<&String> = expected
        .lanes()
        .keys()
        .chain(actual.lanes().keys())
        .collect();
    names.sort();
    names.dedup();
    for name in names {
        let (e, a) = (expected.lane(name), actual.lane(name));
        let Some(index) = (0..e.len().max(a.len())).find(|&i| e.get(i) != a.get(i)) else {
            continue;
        };
        return Some(Mismatch {
            lane: name.clone(),
            index,
            expected: e.get(index).cloned(),
            actual: a.get(index).cloned(),
            context: e[index.saturating_sub(CONTEXT)..index].to_vec(),
        });
    }
    None
}

/// A failed comparison of one scenario's traces on two backends, printed as the test's
/// failure message.
#[derive(Clone, Debug)]
pub struct TraceDiff {
    /// The scenario.
    pub scenario: String,
    /// The backend whose trace is the reference (`"sim"`, `"golden"`, …).
    pub expected_backend: String,
    /// The backend that differs (`"native"`, `"sim seed 17"`, …).
    pub actual_backend: String,
    /// The first difference.
    pub mismatch: Mismatch,
    /// The whole differing trace, to see what happened after.
    pub actual: TraceLog,
}

impl fmt::Display for TraceDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.mismatch;
        let show = |e: &Option<Event>| match e {
            Some(e) => e.to_string(),
            None => "(nothing: the lane ends here)".to_owned(),
        };
        let width = self.expected_backend.len().max(self.actual_backend.len()) + 1;
        writeln!(
            f,
            "scenario `{}`: {} and {} differ in lane `{}` at event {}",
            self.scenario, self.expected_backend, self.actual_backend, m.lane, m.index
        )?;
        if !m.context.is_empty() {
            writeln!(f, "  after (identical on both):")?;
            for e in &m.context {
                writeln!(f, "    {e}")?;
            }
        }
        writeln!(
            f,
            "  {:<width$} {}",
            format!("{}:", self.expected_backend),
            show(&m.expected)
        )?;
        writeln!(
            f,
            "  {:<width$} {}",
            format!("{}:", self.actual_backend),
            show(&m.actual)
        )?;
        if let Some(d) = m.detail() {
            writeln!(f, "  {d}")?;
        }
        writeln!(f, "  full trace on {}:", self.actual_backend)?;
        for line in self.actual.to_string().lines() {
            writeln!(f, "    {line}")?;
        }
        Ok(())
    }
}

/// Compare `actual` with `expected`: `Err` with the first difference worded for a test
/// failure.
///
/// # Errors
///
/// The [`TraceDiff`] when the traces differ.
pub fn compare(
    scenario: &str,
    (expected_backend, expected): (&str, &TraceLog),
    (actual_backend, actual): (&str, &TraceLog),
) -> Result<(), Box<TraceDiff>> {
    match first_difference(expected, actual) {
        None => Ok(()),
        Some(mismatch) => Err(Box::new(TraceDiff {
            scenario: scenario.to_owned(),
            expected_backend: expected_backend.to_owned(),
            actual_backend: actual_backend.to_owned(),
            mismatch,
            actual: actual.clone(),
        })),
    }
}

/// How a run with injected resets relates to the run without faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetOutcome {
    /// Identical: no reset struck, or it struck after everything was recorded.
    Identical,
    /// At least one lane was cut short by a reset.
    Truncated,
}

/// Check a run with injected resets against the run without faults. Each lane must be
/// the same as the reference, or the reference cut short by a reset: an identical
/// prefix, then optionally received bytes that are a *prefix* of the reference's bytes
/// at that point (nothing lost or reordered before the reset), then only what a reset
/// leaves behind ([`Event::is_reset_consequence`]), at least one of them.
///
/// # Errors
///
/// The first difference that is not explained by a reset.
pub fn compare_reset_tolerant(
    reference: &TraceLog,
    faulted: &TraceLog,
) -> Result<ResetOutcome, Box<Mismatch>> {
    let mut outcome = ResetOutcome::Identical;
    let mut names: Vec<&String> = reference
        .lanes()
        .keys()
        .chain(faulted.lanes().keys())
        .collect();
    names.sort();
    names.dedup();
    for name in names {
        let (r, f) = (reference.lane(name), faulted.lane(name));
        let Some(split) = (0..r.len().max(f.len())).find(|&i| r.get(i) != f.get(i)) else {
            continue;
        };
        let fail = |at: usize| {
            Box::new(Mismatch {
                lane: name.clone(),
                index: at,
                expected: r.get(at).cloned(),
                actual: f.get(at).cloned(),
                context: r[at.saturating_sub(CONTEXT).min(r.len())..at.min(r.len())].to_vec(),
            })
        };
        let mut rest = split;
        if let (Some(Event::Data(fd)), Some(Event::Data(rd))) = (f.get(split), r.get(split)) {
            if fd.is_prefix_of(rd) != Some(true) {
                return Err(fail(split));
            }
            rest += 1;
        }
        let tail = &f[rest.min(f.len())..];
        if tail.is_empty() {
            return Err(fail(rest));
        }
        if let Some(i) = tail.iter().position(|e| !e.is_reset_consequence()) {
            return Err(fail(rest + i));
        }
        outcome = ResetOutcome::Truncated;
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{Kind, Trace};
    use loop_core::ErrorKind;

    fn log(build: impl FnOnce(&Trace)) -> TraceLog {
        let t = Trace::new();
        build(&t);
        t.log()
    }

    #[test]
    fn equal_traces_have_no_difference() {
        let a = log(|t| {
            t.lane("x").push(Event::Made);
            t.lane("x").data(b"hi");
        });
        assert_eq!(first_difference(&a, &a.clone()), None);
        assert!(compare("s", ("sim", &a), ("native", &a)).is_ok());
    }

    #[test]
    fn the_first_difference_is_reported_with_context() {
        let a = log(|t| {
            let c = t.lane("client");
            c.push(Event::Made);
            c.data(b"hello");
            c.lost(None);
        });
        let b = log(|t| {
            let c = t.lane("client");
            c.push(Event::Made);
            c.data(b"helo");
            c.lost(None);
        });
        let diff = compare("echo", ("sim", &a), ("native", &b)).unwrap_err();
        assert_eq!(diff.mismatch.lane, "client");
        assert_eq!(diff.mismatch.index, 1);
        assert_eq!(diff.mismatch.context, [Event::Made]);
        let text = diff.to_string();
        assert!(
            text.starts_with("scenario `echo`: sim and native differ in lane `client` at event 1"),
            "{text}"
        );
        assert!(text.contains("sim:    data \"hello\""), "{text}");
        assert!(text.contains("native: data \"helo\""), "{text}");
        assert!(
            text.contains("first difference at offset 3"),
            "bytes detail: {text}"
        );
    }

    #[test]
    fn a_missing_lane_or_tail_is_a_difference() {
        let a = log(|t| {
            t.lane("a").push(Event::Made);
            t.lane("b").push(Event::Made);
        });
        let b = log(|t| t.lane("a").push(Event::Made));
        let m = first_difference(&a, &b).unwrap();
        assert_eq!((m.lane.as_str(), m.index), ("b", 0));
        assert_eq!(m.actual, None);
        let c = log(|t| {
            t.lane("a").push(Event::Made);
            t.lane("a").push(Event::Eof);
            t.lane("b").push(Event::Made);
        });
        let m = first_difference(&a, &c).unwrap();
        assert_eq!((m.lane.as_str(), m.index), ("a", 1));
        assert_eq!(m.expected, None);
        assert!(
            compare("s", ("sim", &a), ("guest", &c))
                .unwrap_err()
                .to_string()
                .contains("sim:   (nothing: the lane ends here)")
        );
    }

    #[test]
    fn reset_truncation_is_accepted_only_as_a_prefix_then_a_reset() {
        let reference = log(|t| {
            let c = t.lane("c");
            c.push(Event::Made);
            c.data(b"abcdef");
            c.push(Event::Eof);
            c.lost(None);
        });
        let reset = Some(Kind::of(ErrorKind::ConnectionReset));
        let cut = log(|t| {
            let c = t.lane("c");
            c.push(Event::Made);
            c.data(b"abc");
            c.push(Event::Lost(reset.clone()));
        });
        assert_eq!(
            compare_reset_tolerant(&reference, &cut),
            Ok(ResetOutcome::Truncated)
        );
        assert_eq!(
            compare_reset_tolerant(&reference, &reference),
            Ok(ResetOutcome::Identical)
        );
        let reordered = log(|t| {
            let c = t.lane("c");
            c.push(Event::Made);
            c.data(b"acb");
            c.push(Event::Lost(reset.clone()));
        });
        assert_eq!(
            compare_reset_tolerant(&reference, &reordered)
                .unwrap_err()
                .index,
            1
        );
        let cut_without_reset = log(|t| {
            let c = t.lane("c");
            c.push(Event::Made);
            c.data(b"abc");
        });
        assert_eq!(
            compare_reset_tolerant(&reference, &cut_without_reset)
                .unwrap_err()
                .index,
            2
        );
        let clean_loss = log(|t| {
            let c = t.lane("c");
            c.push(Event::Made);
            c.data(b"abc");
            c.lost(None);
        });
        assert!(compare_reset_tolerant(&reference, &clean_loss).is_err());
    }
}
