//! The reactor: every WASI socket resource of the guest, keyed by the loop [`Token`] it is
//! registered under, with the pollables created for it and the directions the loop waits
//! for; and the `wasi:io/poll.poll` calls that wait for them.
//!
//! # Resources and drop order
//!
//! A pollable is a child of the resource it was subscribed from, and a socket's streams
//! are children of the socket; a runtime traps a guest that drops a parent before its
//! children ("resource has children"). Each kind of registration is therefore one struct
//! ([`SocketIo`], [`StreamIo`], [`DatagramIo`]) whose fields are declared children first:
//! Rust drops fields in declaration order, so dropping the struct is always in the right
//! order, whoever drops it.
//!
//! # Readiness
//!
//! Pollables are created once per registration and reused by every poll. A poll passes
//! only the pollables of registrations with interest ([`Reactor::set_interest`]) — the
//! cost of a WASI poll grows with the number of pollables passed — plus one
//! monotonic-clock pollable for the timeout; while some connections keep the guest busy,
//! most polls pass only those (see [`Schedule`]). WASI pollables are level-triggered (one
//! subscribed to an input stream stays ready while data, end of stream or an error is
//! pending; one on an output stream while `check-write` would permit bytes or report an
//! error; one on a listening socket while a connection waits), which is what the
//! transport machinery requires.
//!
//! # Lingering closes
//!
//! A runtime may still be writing, in the background, bytes an output stream already
//! accepted; dropping the stream then waits for that write to finish (wasmtime blocks the
//! whole guest in the drop). Closing a registration whose output is busy therefore moves
//! its resources to a *lingering* list that later polls watch, and drops them once the
//! output is idle — the guest never blocks on one slow peer, and no accepted byte is
//! lost, as a kernel keeps sending a closed socket's buffer.

use core::time::Duration;

use loop_core::{Error, ErrorKind, Event, Events, Interest, Result, Token};
use wasip2::clocks::monotonic_clock;
use wasip2::io::poll::{Pollable, poll};
use wasip2::io::streams::{InputStream, OutputStream};
use wasip2::sockets::instance_network::instance_network;
use wasip2::sockets::network::Network;
use wasip2::sockets::tcp::TcpSocket;
use wasip2::sockets::udp::{IncomingDatagramStream, OutgoingDatagramStream, UdpSocket};

use crate::schedule::{Plan, Schedule};

/// A TCP socket before it carries a byte stream (binding, connecting or listening). Its
/// one pollable answers both directions: a pending bind, listen or connect may be
/// finished, or a connection may be accepted.
pub(crate) struct SocketIo {
    /// `socket.subscribe()`; declared first so it is dropped before the socket.
    pub(crate) ready: Pollable,
    pub(crate) socket: TcpSocket,
}

/// A UDP socket before its datagram streams exist (binding).
pub(crate) struct UdpSocketIo {
    /// `socket.subscribe()`; dropped before the socket.
    pub(crate) ready: Pollable,
    pub(crate) socket: UdpSocket,
}

/// A connected TCP socket and its two streams.
pub(crate) struct StreamIo {
    /// `input.subscribe()`.
    pub(crate) readable: Pollable,
    /// `output.subscribe()`.
    pub(crate) writable: Pollable,
    pub(crate) input: InputStream,
    pub(crate) output: OutputStream,
    /// Dropped last: the streams are its children.
    pub(crate) socket: TcpSocket,
}

/// A bound UDP socket and its two datagram streams.
pub(crate) struct DatagramIo {
    /// `incoming.subscribe()`.
    pub(crate) readable: Pollable,
    /// `outgoing.subscribe()`.
    pub(crate) writable: Pollable,
    pub(crate) incoming: IncomingDatagramStream,
    pub(crate) outgoing: OutgoingDatagramStream,
    /// Dropped last: the streams are its children.
    #[expect(
        dead_code,
        reason = "held so the socket outlives its streams; every operation goes through them"
    )]
    pub(crate) socket: UdpSocket,
}

/// The resources registered under one token.
pub(crate) enum Io {
    /// A TCP socket that is binding, connecting or listening.
    Socket(SocketIo),
    /// A UDP socket that is binding.
    UdpSocket(UdpSocketIo),
    /// A connected TCP stream.
    Stream(StreamIo),
    /// A UDP socket with its datagram streams.
    Datagram(DatagramIo),
}

impl Io {
    /// The pollables to pass for `interest`, with the direction each one reports.
    fn pollables(&self, interest: Interest) -> [Option<(&Pollable, Interest)>; 2] {
        let pair = |readable, writable| {
            [
                interest
                    .is_readable()
                    .then_some((readable, Interest::READABLE)),
                interest
                    .is_writable()
                    .then_some((writable, Interest::WRITABLE)),
            ]
        };
        match self {
            // One pollable answers every direction waited for.
            Io::Socket(s) => [Some((&s.ready, interest)), None],
            Io::UdpSocket(s) => [Some((&s.ready, interest)), None],
            Io::Stream(s) => pair(&s.readable, &s.writable),
            Io::Datagram(s) => pair(&s.readable, &s.writable),
        }
    }

    /// Whether the runtime still holds output this registration accepted (a drop now
    /// would block until it is sent): [`Reactor::release`] then lingers.
    fn output_busy(&self) -> bool {
        match self {
            // `flush` asks the runtime to finish what `write` accepted; `check-write`
            // permits nothing until it has. An error or a closed stream is not busy.
            Io::Stream(s) => s.output.flush().is_ok() && matches!(s.output.check_write(), Ok(0)),
            // No permit: the socket cannot send now, and the runtime's drop would wait.
            Io::Datagram(s) => matches!(s.outgoing.check_send(), Ok(0)),
            Io::Socket(_) | Io::UdpSocket(_) => false,
        }
    }

    /// The pollable that becomes ready when [`output_busy`](Self::output_busy) may
    /// have become false.
    fn output_pollable(&self) -> Option<&Pollable> {
        match self {
            Io::Stream(s) => Some(&s.writable),
            Io::Datagram(s) => Some(&s.writable),
            Io::Socket(_) | Io::UdpSocket(_) => None,
        }
    }
}

/// What entry `i` of a poll list stands for.
#[derive(Clone, Copy, Debug)]
enum Target {
    /// A registration's readiness in these directions.
    Io(Token, Interest),
    /// A lingering close.
    Linger,
    /// The timeout.
    Clock,
}

/// Every socket resource of the guest and what the loop waits for; see the
/// [module docs](self).
pub(crate) struct Reactor {
    /// Per token (the loop's tokens are small, reused slab indices): its resources.
    slots: Vec<Option<Io>>,
    /// What the loop waits for, and which registrations the next poll passes.
    schedule: Schedule,
    /// Closed registrations whose output the runtime is still sending.
    lingering: Vec<Io>,
    /// Scratch for a poll: what each passed pollable stands for.
    targets: Vec<Target>,
    /// Scratch for a poll, kept empty between calls (see [`recycle`]).
    list: Vec<&'static Pollable>,
    /// Scratch for a full poll: the tokens it found ready.
    found: Vec<Token>,
    /// `wasi:sockets/instance-network`, fetched on first use.
    network: Option<Network>,
}

/// An empty vector of references of any lifetime that reuses `v`'s allocation (the
/// standard library collects a mapped `IntoIter` in place when the element layouts
/// match; if it did not, this would only allocate). Lets the poll list keep its
/// capacity across calls without tying it to a borrow of the reactor.
fn recycle<'b>(mut v: Vec<&Pollable>) -> Vec<&'b Pollable> {
    v.clear();
    v.into_iter().map(|_| unreachable!("cleared")).collect()
}

/// Which pollables a poll passes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// The hot registrations only (see [`Schedule`]).
    Hot,
    /// Every registration with interest, and the lingering closes.
    All,
}

impl Reactor {
    pub(crate) fn new() -> Self {
        Reactor {
            slots: Vec::new(),
            schedule: Schedule::default(),
            lingering: Vec::new(),
            targets: Vec::new(),
            list: Vec::new(),
            found: Vec::new(),
            network: None,
        }
    }

    /// Call `f` with the resources registered under `token` and the guest's network
    /// capability (`wasi:sockets/instance-network`, fetched on first use).
    pub(crate) fn with_network<R>(
        &mut self,
        token: Token,
        f: impl FnOnce(&Io, &Network) -> R,
    ) -> Option<R> {
        let network = self.network.get_or_insert_with(instance_network);
        let io = self.slots.get(token.0)?.as_ref()?;
        Some(f(io, network))
    }

    /// Register `io` under `token` (freshly allocated by the loop).
    pub(crate) fn insert(&mut self, token: Token, io: Io) {
        let i = token.0;
        if self.slots.len() <= i {
            self.slots.resize_with(i + 1, || None);
        }
        debug_assert!(self.slots[i].is_none(), "token {i} registered twice");
        self.slots[i] = Some(io);
    }

    /// The resources registered under `token`.
    pub(crate) fn get(&self, token: Token) -> Option<&Io> {
        self.slots.get(token.0)?.as_ref()
    }

    /// The resources registered under `token`, to replace them (a socket becoming a
    /// stream).
    pub(crate) fn slot_mut(&mut self, token: Token) -> Option<&mut Option<Io>> {
        self.slots.get_mut(token.0)
    }

    /// Record what the loop waits for on `token`.
    pub(crate) fn set_interest(&mut self, token: Token, interest: Interest) {
        self.schedule.set_interest(token, interest);
    }

    /// Unregister `token` and release its resources: at once, or after the runtime has
    /// sent what the output accepted (see the [module docs](self#lingering-closes)).
    pub(crate) fn release(&mut self, token: Token) {
        let Some(io) = self.slots.get_mut(token.0).and_then(Option::take) else {
            return;
        };
        if io.output_busy() {
            self.lingering.push(io);
        }
    }

    /// How many closed registrations still wait for their output to be sent.
    pub(crate) fn lingering(&self) -> usize {
        self.lingering.len()
    }

    /// Wait for readiness, bounded by `timeout`, and append what is ready to `events`:
    /// a partial poll when the [`Schedule`] allows one and it finds work, else one
    /// WASI poll over the pollables of every registration with interest and of the
    /// lingering closes.
    ///
    /// With nothing to watch, a zero timeout returns at once and `None` is
    /// [`ErrorKind::Stalled`]: a guest has one thread, so nothing could ever wake it.
    pub(crate) fn poll(&mut self, events: &mut Events, timeout: Option<Duration>) -> Result<()> {
        if self.schedule.plan(monotonic_clock::now) == Plan::Partial {
            let before = events.len();
            self.poll_scope(events, Scope::Hot, Some(Duration::ZERO))?;
            if events.len() > before {
                for e in &events[before..] {
                    self.schedule.ready(e.token);
                }
                self.schedule.partial_done();
                return Ok(());
            }
        }
        let before = events.len();
        self.poll_scope(events, Scope::All, timeout)?;
        self.found.clear();
        self.found.extend(events[before..].iter().map(|e| e.token));
        self.schedule
            .full_done(monotonic_clock::now, self.found.iter().copied());
        Ok(())
    }

    /// One WASI poll over `scope`, bounded by `timeout`.
    fn poll_scope(
        &mut self,
        events: &mut Events,
        scope: Scope,
        timeout: Option<Duration>,
    ) -> Result<()> {
        let mut list = recycle(core::mem::take(&mut self.list));
        self.targets.clear();
        let slots = &self.slots;
        let watched: &mut dyn Iterator<Item = (Token, Interest)> = match scope {
            Scope::Hot => &mut self.schedule.hot(),
            Scope::All => &mut self.schedule.interested(),
        };
        for (token, interest) in watched {
            let Some(io) = slots.get(token.0).and_then(Option::as_ref) else {
                continue;
            };
            for (pollable, ready) in io.pollables(interest).into_iter().flatten() {
                list.push(pollable);
                self.targets.push(Target::Io(token, ready));
            }
        }
        if scope == Scope::All {
            for io in &self.lingering {
                if let Some(p) = io.output_pollable() {
                    list.push(p);
                    self.targets.push(Target::Linger);
                }
            }
        }

        if list.is_empty() {
            self.list = recycle(list);
            return match timeout {
                Some(t) if t.is_zero() => Ok(()),
                Some(t) => {
                    monotonic_clock::subscribe_duration(nanos(t)).block();
                    Ok(())
                }
                None => Err(Error::new(
                    ErrorKind::Stalled,
                    "the guest waits for nothing that can happen: no socket is watched and \
                     no timer is set",
                )),
            };
        }
        // A zero timeout still reports readiness: one poll with an already-expired clock
        // pollable returns every ready index at once (cheaper than `ready()` per pollable).
        let clock = timeout.map(|t| monotonic_clock::subscribe_duration(nanos(t)));
        if let Some(c) = &clock {
            list.push(c);
            self.targets.push(Target::Clock);
        }

        let ready = poll(&list);
        self.list = recycle(list);
        drop(clock);

        let mut linger_ready = false;
        for index in ready {
            let Some(target) = usize::try_from(index)
                .ok()
                .and_then(|i| self.targets.get(i))
            else {
                continue;
            };
            match *target {
                Target::Io(token, ready) => match events.last_mut() {
                    Some(last) if last.token == token => last.ready = last.ready.add(ready),
                    _ => events.push(Event { token, ready }),
                },
                Target::Linger => linger_ready = true,
                Target::Clock => {}
            }
        }
        if linger_ready {
            self.lingering.retain(Io::output_busy);
        }
        Ok(())
    }

    /// Wait, at most `limit`, for the lingering closes to finish; what is left after
    /// that is abandoned to the runtime (its handles are leaked rather than dropped, as a
    /// drop would block). For the end of a guest's `main`, once the loop has stopped.
    pub(crate) fn finish_lingering(&mut self, limit: Duration) {
        let deadline = monotonic_clock::now().saturating_add(nanos(limit));
        // Only lingering closes can make progress now: the registrations with interest
        // belong to a loop that has stopped.
        let schedule = core::mem::take(&mut self.schedule);
        while !self.lingering.is_empty() {
            let now = monotonic_clock::now();
            if now >= deadline {
                break;
            }
            let mut events = Events::new();
            let wait = Some(Duration::from_nanos(deadline - now));
            if self.poll_scope(&mut events, Scope::All, wait).is_err() {
                break;
            }
        }
        self.schedule = schedule;
        for io in self.lingering.drain(..) {
            core::mem::forget(io);
        }
    }
}

/// `d` in the nanoseconds of `wasi:clocks/monotonic-clock`, saturating.
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
