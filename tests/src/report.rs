//! The text a backend running many scenarios in another process prints (the WASI guest
//! writes it on stdout), and its parser on the host side.
//!
//! ```text
//! scenario tcp_echo
//! lane client
//! made
//! …
//! end tcp_echo
//! scenario udp_ping_pong
//! failed scenario `udp_ping_pong` failed on guest: …
//! end udp_ping_pong
//! scenario panicking_callback_is_reported
//! unsupported CatchPanics
//! end panicking_callback_is_reported
//! ```
//!
//! Each block holds the scenario's trace in [`TraceLog`]'s text form, one `failed` line
//! with the runner's error (line breaks escaped as in notes), or one `unsupported` line
//! naming the [`Need`] the backend lacks.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::Need;
use crate::trace::{TraceLog, escape_line_into, unescape_line};

/// What one scenario produced on a backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScenarioResult {
    /// It ran: its trace.
    Trace(TraceLog),
    /// It was not run: the backend lacks this [`Need`] of the scenario.
    Unsupported(Need),
    /// It failed there (the runner's description).
    Failed(String),
}

/// The block for scenario `name`.
pub fn block(name: &str, result: &ScenarioResult) -> String {
    let mut out = format!("scenario {name}\n");
    match result {
        ScenarioResult::Trace(trace) => out.push_str(&trace.to_string()),
        ScenarioResult::Unsupported(need) => {
            let _ = writeln!(out, "unsupported {}", need.name());
        }
        ScenarioResult::Failed(message) => {
            out.push_str("failed ");
            // Writing to a String cannot fail.
            let _ = escape_line_into(&mut out, message);
            out.push('\n');
        }
    }
    let _ = writeln!(out, "end {name}");
    out
}

/// What [`parse`] read from a report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Each reported scenario's result, by name.
    pub results: BTreeMap<String, ScenarioResult>,
    /// The scenario whose block was opened but never closed: the backend stopped (or
    /// crashed) while running it.
    pub cut_short: Option<String>,
}

/// Parse the blocks in `text` (other lines between blocks are ignored: a runtime may
/// print its own). A last block left open is not an error: it is reported as
/// [`Parsed::cut_short`], the results before it stand.
///
/// # Errors
///
/// A block closed under another name, repeated, or whose trace does not parse.
pub fn parse(text: &str) -> Result<Parsed, String> {
    let mut parsed = Parsed::default();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line.strip_prefix("scenario ") else {
            continue;
        };
        let mut body = String::new();
        let mut failed = None;
        let mut unsupported = None;
        let mut closed = false;
        for line in lines.by_ref() {
            if let Some(end) = line.strip_prefix("end ") {
                if end != name {
                    return Err(format!("block `{name}` closed as `{end}`"));
                }
                closed = true;
                break;
            }
            if let Some(message) = line.strip_prefix("failed ") {
                failed = Some(unescape_line(message)?);
                continue;
            }
            if let Some(need) = line.strip_prefix("unsupported ") {
                let need = Need::from_name(need)
                    .ok_or_else(|| format!("`{name}`: unknown need `{need}`"))?;
                unsupported = Some(need);
                continue;
            }
            body.push_str(line);
            body.push('\n');
        }
        if !closed {
            parsed.cut_short = Some(name.to_owned());
            break;
        }
        let result = match (failed, unsupported) {
            (Some(message), _) => ScenarioResult::Failed(message),
            (None, Some(need)) => ScenarioResult::Unsupported(need),
            (None, None) => ScenarioResult::Trace(
                body.parse::<TraceLog>()
                    .map_err(|e| format!("the trace of `{name}` does not parse: {e}"))?,
            ),
        };
        if parsed.results.insert(name.to_owned(), result).is_some() {
            return Err(format!("scenario `{name}` reported twice"));
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{Event, Trace};

    #[test]
    fn blocks_round_trip() {
        let t = Trace::new();
        t.lane("client").push(Event::Made);
        t.lane("client").data(b"scenario x\nend x");
        t.lane("main").note("end of the world\nscenario y");
        let ok = ScenarioResult::Trace(t.log());
        let failed = ScenarioResult::Failed("it broke\non two lines".to_owned());
        let unsupported = ScenarioResult::Unsupported(Need::CatchPanics);
        let text = format!(
            "runtime noise\n{}{}{}",
            block("first", &ok),
            block("second", &failed),
            block("third", &unsupported)
        );
        let parsed = parse(&text).unwrap();
        assert_eq!(parsed.results.len(), 3);
        assert_eq!(parsed.results["first"], ok);
        assert_eq!(parsed.results["second"], failed);
        assert_eq!(parsed.results["third"], unsupported);
        assert_eq!(parsed.cut_short, None);
    }

    #[test]
    fn cut_short_and_broken_output() {
        let ok = ScenarioResult::Trace(TraceLog::default());
        let text = block("a", &ok);
        let cut = format!(
            "{text}{}",
            &text[..text.len() - "end a\n".len()].replace(" a", " b")
        );
        let parsed = parse(&cut).unwrap();
        assert_eq!(parsed.cut_short.as_deref(), Some("b"));
        assert_eq!(parsed.results.len(), 1, "the block before the cut stands");
        assert!(
            parse(&format!("{text}{text}"))
                .unwrap_err()
                .contains("twice")
        );
        assert!(
            parse("scenario a\nend b\n")
                .unwrap_err()
                .contains("closed as")
        );
    }
}
