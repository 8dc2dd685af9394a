//! What a scenario records: a [`Trace`] of [`Event`]s in named [`Lane`]s, and its owned,
//! comparable form [`TraceLog`] with a stable text encoding.
//!
//! # Lanes
//!
//! Each lane is one sequence of events whose order every backend must reproduce: one
//! endpoint of a connection, one task, the loop's callbacks. Events of *different* lanes
//! are not ordered against each other, because on a real network nothing orders them:
//! whether the server's `connection_made` runs before or after the client's depends on
//! the kernel. A scenario puts two events in one lane only when the program itself orders
//! them (one caused the other, or one task awaited the other).
//!
//! # Received bytes
//!
//! How a stream is split into `data_received` calls depends on the backend (segment
//! sizes, kernel buffers, read sizes), so consecutive [`Event::Data`] of a lane are
//! coalesced: the lane records each *run* of received bytes, never its chunk boundaries.
//!
//! # Text form
//!
//! One event per line (see [`Event`]'s `Display`), lanes introduced by `lane NAME`. The
//! same form is the golden files' (`traces/NAME.trace`) and what the WASI guest prints,
//! so [`TraceLog`] parses it back ([`FromStr`]).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::rc::Rc;
use std::str::FromStr;

use loop_core::{Error, ErrorKind};

/// Bytes shown in full in the text form; longer payloads are shown by length and digest.
pub const SHOWN_BYTES: usize = 64;

/// An error kind as recorded: `ErrorKind`'s name (`"ConnectionReset"`). Errors are
/// compared by kind only: messages carry backend details (OS error text, addresses).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Kind(String);

impl Kind {
    /// The recorded kind of `kind`.
    pub fn of(kind: ErrorKind) -> Self {
        Kind(format!("{kind:?}"))
    }

    /// The recorded kind of `error`.
    pub fn of_error(error: &Error) -> Self {
        Kind::of(error.kind())
    }

    /// The kind's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is `kind`.
    pub fn is(&self, kind: ErrorKind) -> bool {
        self.0 == format!("{kind:?}")
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Received bytes: their length and 64-bit FNV-1a digest, and the bytes themselves when
/// known (always while recording; after parsing only for payloads of at most
/// [`SHOWN_BYTES`]). Payloads compare by length and digest.
#[derive(Clone)]
pub struct Payload {
    len: usize,
    hash: u64,
    bytes: Option<Vec<u8>>,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv(mut hash: u64, data: &[u8]) -> u64 {
    for &b in data {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

impl Payload {
    /// A payload holding `data`.
    pub fn new(data: &[u8]) -> Self {
        Payload {
            len: data.len(),
            hash: fnv(FNV_OFFSET, data),
            bytes: Some(data.to_vec()),
        }
    }

    /// Append `data` (coalescing a lane's consecutive reads).
    pub fn extend(&mut self, data: &[u8]) {
        self.len += data.len();
        self.hash = fnv(self.hash, data);
        if let Some(b) = &mut self.bytes {
            b.extend_from_slice(data);
        }
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes, when known.
    pub fn bytes(&self) -> Option<&[u8]> {
        self.bytes.as_deref()
    }

    /// Whether `self` is a prefix of `other` (`None` when either's bytes are unknown).
    pub fn is_prefix_of(&self, other: &Payload) -> Option<bool> {
        Some(other.bytes()?.starts_with(self.bytes()?))
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.hash == other.hash
    }
}
impl Eq for Payload {}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.bytes {
            Some(b) if b.len() <= SHOWN_BYTES => {
                f.write_char('"')?;
                escape_into(f, b)?;
                f.write_char('"')
            }
            _ => write!(f, "len={} fnv={:016x}", self.len, self.hash),
        }
    }
}

impl FromStr for Payload {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(quoted) = s.strip_prefix('"') {
            let inner = quoted
                .strip_suffix('"')
                .ok_or_else(|| format!("unterminated bytes: {s}"))?;
            return Ok(Payload::new(&unescape(inner)?));
        }
        let rest = s
            .strip_prefix("len=")
            .ok_or_else(|| format!("bad payload: {s}"))?;
        let (len, hash) = rest
            .split_once(" fnv=")
            .ok_or_else(|| format!("bad payload: {s}"))?;
        Ok(Payload {
            len: len.parse().map_err(|e| format!("bad length in {s}: {e}"))?,
            hash: u64::from_str_radix(hash, 16).map_err(|e| format!("bad digest in {s}: {e}"))?,
            bytes: None,
        })
    }
}

/// One recorded event.
///
/// Text form, one line each: `made`, `data PAYLOAD`, `eof`, `lost` / `lost KIND`,
/// `pause`, `resume`, `datagram FROM PAYLOAD`, `error_received KIND`, `note TEXT`, where
/// a payload is `"escaped bytes"` or `len=N fnv=HEX`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// `connection_made`.
    Made,
    /// Received stream bytes (`data_received` or a buffered protocol's
    /// `buffer_updated`), coalesced with the lane's previous `Data`.
    Data(Payload),
    /// `eof_received`.
    Eof,
    /// `connection_lost`, with the error's kind if it failed.
    Lost(Option<Kind>),
    /// `pause_writing`.
    Pause,
    /// `resume_writing`.
    Resume,
    /// `datagram_received`: the sender as a label the scenario chose (addresses differ
    /// between backends), and the datagram (never coalesced).
    Datagram(String, Payload),
    /// A datagram protocol's `error_received`.
    ErrorReceived(Kind),
    /// Anything else the scenario observed: a step, a timer firing, a task result, an
    /// operation's error kind. One line of text.
    Note(String),
}

impl Event {
    /// Whether this event is what a connection reset leaves behind: a `connection_lost`
    /// or a note reporting a reset or a broken pipe. Used to check runs with injected
    /// resets.
    pub fn is_reset_consequence(&self) -> bool {
        let reset = |k: &str| k == "ConnectionReset" || k == "BrokenPipe";
        match self {
            Event::Lost(Some(k)) => reset(k.as_str()),
            Event::Note(text) => text.contains("ConnectionReset") || text.contains("BrokenPipe"),
            _ => false,
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Made => f.write_str("made"),
            Event::Data(p) => write!(f, "data {p}"),
            Event::Eof => f.write_str("eof"),
            Event::Lost(None) => f.write_str("lost"),
            Event::Lost(Some(k)) => write!(f, "lost {k}"),
            Event::Pause => f.write_str("pause"),
            Event::Resume => f.write_str("resume"),
            Event::Datagram(from, p) => write!(f, "datagram {from} {p}"),
            Event::ErrorReceived(k) => write!(f, "error_received {k}"),
            Event::Note(text) => {
                f.write_str("note ")?;
                escape_line_into(f, text)
            }
        }
    }
}

impl FromStr for Event {
    type Err = String;

    fn from_str(line: &str) -> Result<Self, String> {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        let no_arg = |e: Event| {
            if rest.is_empty() {
                Ok(e)
            } else {
                Err(format!("`{word}` takes no argument: {line}"))
            }
        };
        match word {
            "made" => no_arg(Event::Made),
            "eof" => no_arg(Event::Eof),
            "pause" => no_arg(Event::Pause),
            "resume" => no_arg(Event::Resume),
            "lost" if rest.is_empty() => Ok(Event::Lost(None)),
            "lost" => Ok(Event::Lost(Some(Kind(rest.to_owned())))),
            "data" => Ok(Event::Data(rest.parse()?)),
            "datagram" => {
                let (from, payload) = rest
                    .split_once(' ')
                    .ok_or_else(|| format!("bad datagram: {line}"))?;
                Ok(Event::Datagram(from.to_owned(), payload.parse()?))
            }
            "error_received" => Ok(Event::ErrorReceived(Kind(rest.to_owned()))),
            "note" => Ok(Event::Note(unescape_line(rest)?)),
            _ => Err(format!("unknown event: {line}")),
        }
    }
}

/// `\\`, `\"`, `\n`, `\r`, `\t`, and `\xHH` for other bytes outside printable ASCII.
fn escape_into(f: &mut impl fmt::Write, bytes: &[u8]) -> fmt::Result {
    for &b in bytes {
        match b {
            b'\\' => f.write_str("\\\\")?,
            b'"' => f.write_str("\\\"")?,
            b'\n' => f.write_str("\\n")?,
            b'\r' => f.write_str("\\r")?,
            b'\t' => f.write_str("\\t")?,
            0x20..=0x7e => f.write_char(char::from(b))?,
            _ => write!(f, "\\x{b:02x}")?,
        }
    }
    Ok(())
}

fn unescape(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'\\') => out.push(b'\\'),
            Some(b'"') => out.push(b'"'),
            Some(b'n') => out.push(b'\n'),
            Some(b'r') => out.push(b'\r'),
            Some(b't') => out.push(b'\t'),
            Some(b'x') => {
                let hi = bytes.next();
                let lo = bytes.next();
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(format!("truncated \\x escape in {s:?}"));
                };
                let hex = [hi, lo];
                let hex = std::str::from_utf8(&hex).map_err(|e| e.to_string())?;
                out.push(u8::from_str_radix(hex, 16).map_err(|e| format!("{e} in {s:?}"))?);
            }
            other => return Err(format!("bad escape {other:?} in {s:?}")),
        }
    }
    Ok(out)
}

/// A note on one line: only `\` and line breaks are escaped.
fn escape_line_into(f: &mut impl fmt::Write, text: &str) -> fmt::Result {
    for c in text.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            c => f.write_char(c)?,
        }
    }
    Ok(())
}

fn unescape_line(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            other => return Err(format!("bad escape {other:?} in note {s:?}")),
        }
    }
    Ok(out)
}

/// The recorded lanes of one run: lane name → events, lanes ordered by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceLog {
    lanes: BTreeMap<String, Vec<Event>>,
}

impl TraceLog {
    /// The lanes, ordered by name.
    pub fn lanes(&self) -> &BTreeMap<String, Vec<Event>> {
        &self.lanes
    }

    /// The events of lane `name` (empty if the lane was never used).
    pub fn lane(&self, name: &str) -> &[Event] {
        self.lanes.get(name).map_or(&[], Vec::as_slice)
    }

    /// Total number of events.
    pub fn len(&self) -> usize {
        self.lanes.values().map(Vec::len).sum()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.lanes.is_empty()
    }
}

impl fmt::Display for TraceLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, events) in &self.lanes {
            writeln!(f, "lane {name}")?;
            for e in events {
                writeln!(f, "{e}")?;
            }
        }
        Ok(())
    }
}

impl FromStr for TraceLog {
    type Err = String;

    /// Parse the text form. Blank lines and lines starting with `#` are ignored (golden
    /// files may carry comments).
    fn from_str(s: &str) -> Result<Self, String> {
        let mut log = TraceLog::default();
        let mut current: Option<String> = None;
        for (n, line) in s.lines().enumerate() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(name) = line.strip_prefix("lane ") {
                if log.lanes.contains_key(name) {
                    return Err(format!("line {}: lane {name} appears twice", n + 1));
                }
                log.lanes.insert(name.to_owned(), Vec::new());
                current = Some(name.to_owned());
                continue;
            }
            let Some(lane) = &current else {
                return Err(format!(
                    "line {}: an event before any `lane`: {line}",
                    n + 1
                ));
            };
            let event = line.parse().map_err(|e| format!("line {}: {e}", n + 1))?;
            log.lanes.get_mut(lane).expect("inserted above").push(event);
        }
        Ok(log)
    }
}

/// The live recorder a scenario writes to. Cloning gives another handle to the same
/// record (protocols and tasks each keep one).
#[derive(Clone, Default)]
pub struct Trace {
    lanes: Rc<RefCell<BTreeMap<String, Vec<Event>>>>,
}

impl fmt::Debug for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trace")
            .field("lanes", &self.lanes.borrow().len())
            .finish()
    }
}

impl Trace {
    /// An empty trace.
    pub fn new() -> Self {
        Trace::default()
    }

    /// A handle that records into lane `name` (created on first use).
    pub fn lane(&self, name: impl Into<String>) -> Lane {
        Lane {
            trace: self.clone(),
            name: Rc::from(name.into()),
        }
    }

    /// What was recorded so far.
    pub fn log(&self) -> TraceLog {
        TraceLog {
            lanes: self.lanes.borrow().clone(),
        }
    }

    fn push(&self, lane: &str, event: Event) {
        let mut lanes = self.lanes.borrow_mut();
        let events = match lanes.get_mut(lane) {
            Some(events) => events,
            None => lanes.entry(lane.to_owned()).or_default(),
        };
        if let (Event::Data(new), Some(Event::Data(last))) = (&event, events.last_mut())
            && let Some(bytes) = new.bytes()
        {
            last.extend(bytes);
            return;
        }
        events.push(event);
    }
}

/// A handle on one lane of a [`Trace`]. Cloning is cheap.
#[derive(Clone)]
pub struct Lane {
    trace: Trace,
    name: Rc<str>,
}

impl fmt::Debug for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Lane").field(&self.name).finish()
    }
}

impl Lane {
    /// The lane's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Record `event` (a `Data` event extends the lane's last one if that is `Data`).
    pub fn push(&self, event: Event) {
        self.trace.push(&self.name, event);
    }

    /// Record received bytes (coalesced with the lane's previous received bytes).
    pub fn data(&self, data: &[u8]) {
        self.push(Event::Data(Payload::new(data)));
    }

    /// Record a `connection_lost`.
    pub fn lost(&self, error: Option<&Error>) {
        self.push(Event::Lost(error.map(Kind::of_error)));
    }

    /// Record a note: one line of text.
    pub fn note(&self, text: impl Into<String>) {
        self.push(Event::Note(text.into()));
    }

    /// Record the outcome of an operation: `LABEL: ok VALUE` with the value's `Debug`
    /// form, or `LABEL: err KIND`.
    pub fn outcome<T: fmt::Debug>(&self, label: &str, result: &Result<T, Error>) {
        match result {
            Ok(v) => self.note(format!("{label}: ok {v:?}")),
            Err(e) => self.note(format!("{label}: err {}", Kind::of_error(e))),
        }
    }

    /// Record the outcome of an operation without its value: `LABEL: ok` or
    /// `LABEL: err KIND`.
    pub fn status<T>(&self, label: &str, result: &Result<T, Error>) {
        match result {
            Ok(_) => self.note(format!("{label}: ok")),
            Err(e) => self.note(format!("{label}: err {}", Kind::of_error(e))),
        }
    }

    /// Record a check that every backend must pass: `LABEL: true` or `LABEL: false`.
    /// Use it for what a backend shows differently but must agree on (a byte count that
    /// depends on kernel buffers, an address that depends on the port allocator).
    pub fn check(&self, label: &str, holds: bool) {
        self.note(format!("{label}: {holds}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_coalesces_within_a_lane_only() {
        let t = Trace::new();
        let a = t.lane("a");
        let b = t.lane("b");
        a.data(b"he");
        b.data(b"x");
        a.data(b"llo");
        a.push(Event::Eof);
        a.data(b"!");
        let log = t.log();
        assert_eq!(
            log.lane("a"),
            [
                Event::Data(Payload::new(b"hello")),
                Event::Eof,
                Event::Data(Payload::new(b"!"))
            ]
        );
        assert_eq!(log.lane("b"), [Event::Data(Payload::new(b"x"))]);
    }

    #[test]
    fn text_form_round_trips() {
        let t = Trace::new();
        let c = t.lane("client");
        c.push(Event::Made);
        c.data(b"a\"b\\c\n\x00\xff");
        c.push(Event::Pause);
        c.push(Event::Resume);
        c.push(Event::Eof);
        c.lost(Some(&Error::from_kind(ErrorKind::ConnectionReset)));
        let s = t.lane("server");
        s.data(&[7u8; 1000]);
        s.lost(None);
        s.push(Event::Datagram("peer".into(), Payload::new(b"ping")));
        s.push(Event::ErrorReceived(Kind::of(ErrorKind::ConnectionRefused)));
        s.note("line one\nline two \\ done");
        s.outcome::<u32>("read", &Ok(5));
        s.status::<()>(
            "connect",
            &Err(Error::from_kind(ErrorKind::ConnectionRefused)),
        );
        let log = t.log();
        let text = log.to_string();
        let parsed: TraceLog = text.parse().unwrap();
        assert_eq!(parsed, log);
        assert_eq!(parsed.to_string(), text);
        assert!(text.contains("data len=1000 fnv="), "{text}");
        assert!(
            text.contains("note connect: err ConnectionRefused"),
            "{text}"
        );
        assert!(text.contains(r#"data "a\"b\\c\n\x00\xff""#), "{text}");
    }

    #[test]
    fn payloads_compare_by_content() {
        let mut p = Payload::new(b"ab");
        p.extend(b"c");
        assert_eq!(p, Payload::new(b"abc"));
        assert_ne!(p, Payload::new(b"acb"), "reordered bytes differ");
        assert_ne!(p, Payload::new(b"ab"), "lost bytes differ");
        let long = Payload::new(&[1u8; 100]);
        let parsed: Payload = long.to_string().parse().unwrap();
        assert_eq!(parsed, long);
        assert_eq!(parsed.bytes(), None);
        assert_eq!(Payload::new(b"ab").is_prefix_of(&p), Some(true));
        assert_eq!(Payload::new(b"b").is_prefix_of(&p), Some(false));
    }

    #[test]
    fn parse_errors_say_where() {
        let err = "lane a\nmade\nbogus 1\n".parse::<TraceLog>().unwrap_err();
        assert!(err.starts_with("line 3: unknown event"), "{err}");
        let err = "made\n".parse::<TraceLog>().unwrap_err();
        assert!(err.contains("before any `lane`"), "{err}");
        assert!("lane a\ndata \"open\n".parse::<TraceLog>().is_err());
    }

    #[test]
    fn reset_consequences() {
        assert!(Event::Lost(Some(Kind::of(ErrorKind::ConnectionReset))).is_reset_consequence());
        assert!(Event::Note("write: err BrokenPipe".into()).is_reset_consequence());
        assert!(!Event::Lost(None).is_reset_consequence());
        assert!(!Event::Eof.is_reset_consequence());
    }
}
