//! [`Cx`]: what a scenario gets from the runner — the loop, the backend's network, the
//! trace, and the addresses to use.

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use loop_core::net::Net;
use loop_core::{Error, ErrorKind, EventLoop, ExceptionContext, wait_for};

use crate::trace::{Kind, Lane, Trace};

/// A network backend a scenario can run on: any [`Net`] that can be cloned into tasks.
pub trait Backend: Net + Clone + 'static {}

impl<N: Net + Clone + 'static> Backend for N {}

/// The lane where the loop's exception handler records what it is given.
pub const EXCEPTIONS_LANE: &str = "exceptions";

/// How long a scenario may run before the runner gives up on it (real time on native
/// and guest backends, virtual time on the simulation). A guard against hangs, never a
/// timing assertion: scenarios finish in milliseconds.
pub const GUARD: Duration = Duration::from_secs(60);

/// `text` without its `<…>` groups: a callback's name in an exception message is its
/// type name, whose generic arguments name the backend (`…::scenario<SimNet>::{{closure}}`).
pub fn without_generics(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '<' => depth += 1,
            '>' if depth > 0 => depth -= 1,
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// What the runner tells scenarios about its backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Env {
    /// The backend's name in failure messages (`"sim"`, `"native"`, `"guest"`).
    pub backend: String,
    /// The address scenarios listen and bind on (with port 0). The simulated network
    /// takes any; the native host uses 127.0.0.1; a guest, the loopback it was granted.
    pub loopback: IpAddr,
}

impl Env {
    /// A backend named `backend` whose scenarios use 127.0.0.1.
    pub fn loopback_v4(backend: impl Into<String>) -> Self {
        Env {
            backend: backend.into(),
            loopback: IpAddr::V4(Ipv4Addr::LOCALHOST),
        }
    }
}

/// A scenario's context. Cheap handles all round: clone what a task or protocol needs.
pub struct Cx<N: Backend> {
    lp: EventLoop,
    net: N,
    trace: Trace,
    env: Rc<Env>,
}

impl<N: Backend> fmt::Debug for Cx<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cx")
            .field("backend", &self.env.backend)
            .field("trace", &self.trace)
            .finish()
    }
}

impl<N: Backend> Clone for Cx<N> {
    fn clone(&self) -> Self {
        Cx {
            lp: self.lp.clone(),
            net: self.net.clone(),
            trace: self.trace.clone(),
            env: self.env.clone(),
        }
    }
}

impl<N: Backend> Cx<N> {
    /// A context over `net`, recording into a new trace. Installs an exception handler on
    /// `net`'s loop that records each report (its message, [`without_generics`], and
    /// its error's kind) in the [`EXCEPTIONS_LANE`], so that an unexpected report shows
    /// up as a trace difference.
    pub fn new(net: N, env: Env) -> Self {
        let lp = net.event_loop().clone();
        let trace = Trace::new();
        let lane = trace.lane(EXCEPTIONS_LANE);
        lp.set_exception_handler(Some(Rc::new(
            move |_: &EventLoop, ctx: &ExceptionContext| {
                let kind = ctx
                    .error
                    .as_ref()
                    .map_or_else(String::new, |e| format!(" ({})", Kind::of_error(e)));
                lane.note(format!("{}{kind}", without_generics(&ctx.message)));
            },
        )));
        Cx {
            lp,
            net,
            trace,
            env: Rc::new(env),
        }
    }

    /// The loop (not running when the scenario starts).
    pub fn lp(&self) -> &EventLoop {
        &self.lp
    }

    /// The backend's network.
    pub fn net(&self) -> &N {
        &self.net
    }

    /// The trace.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// A handle on lane `name` of the trace.
    pub fn lane(&self, name: &str) -> Lane {
        self.trace.lane(name)
    }

    /// The runner's description of the backend.
    pub fn env(&self) -> &Env {
        &self.env
    }

    /// Where to listen: the backend's loopback, port 0 (the server's
    /// [`sockets`](loop_core::net::Server::sockets) give the port chosen).
    pub fn listen_addr(&self) -> SocketAddr {
        SocketAddr::new(self.env.loopback, 0)
    }

    /// Where to bind a datagram endpoint: the backend's loopback, port 0 (the endpoint's
    /// `"sockname"` gives the port chosen).
    pub fn bind_addr(&self) -> SocketAddr {
        SocketAddr::new(self.env.loopback, 0)
    }

    /// Run `fut` on the loop until it completes, bounded by [`GUARD`].
    ///
    /// # Errors
    ///
    /// `fut`'s error; [`ErrorKind::Timeout`] when the guard expired; the loop's failure
    /// ([`ErrorKind::Stalled`] when a simulated scenario waits for what cannot happen).
    pub fn run<T: 'static>(
        &self,
        fut: impl Future<Output = Result<T, Error>> + 'static,
    ) -> Result<T, Error> {
        match self
            .lp
            .run_until_complete(wait_for(&self.lp, fut, Some(GUARD)))?
        {
            Ok(inner) => inner,
            Err(e) if e.kind() == ErrorKind::Timeout => Err(Error::new(
                ErrorKind::Timeout,
                "the scenario did not finish within the runner's guard",
            )),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::without_generics;

    #[test]
    fn generic_arguments_are_removed() {
        assert_eq!(
            without_generics("exception in callback a::f<x::Y<Z>>::{{closure}} (Panicked)"),
            "exception in callback a::f::{{closure}} (Panicked)"
        );
        assert_eq!(without_generics("a > b"), "a > b");
    }
}
