//! The servers of one run and what became of each: the shared bookkeeping of the modes.

use crate::process::ServerProcess;
use crate::spec::Availability;

/// What one cell of a result table holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<T> {
    /// Measured.
    Measured(T),
    /// The server cannot be had on this machine; the reason.
    Unavailable(String),
    /// The server failed (did not start, crashed, echoed wrong bytes); the error.
    Failed(String),
}

impl<T> Outcome<T> {
    /// The measurement, if there is one.
    pub fn measured(&self) -> Option<&T> {
        match self {
            Outcome::Measured(value) => Some(value),
            _ => None,
        }
    }
}

/// A server of the run: running, unavailable, or failed.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) name: String,
    state: State,
}

#[derive(Debug)]
enum State {
    Running(ServerProcess),
    Unavailable(String),
    Failed(String),
}

impl Slot {
    /// Starts an available server; an unavailable one or one that does not start becomes
    /// a slot that says why.
    pub(crate) fn start(availability: &Availability, log: &mut dyn FnMut(&str)) -> Slot {
        let name = availability.name().to_string();
        let state = match availability {
            Availability::Unavailable { reason, .. } => State::Unavailable(reason.clone()),
            Availability::Ready(launch) => match ServerProcess::start(launch) {
                Ok(server) => {
                    log(&format!(
                        "started {name} (pid {}) on {}",
                        server.pid(),
                        server.addr()
                    ));
                    State::Running(server)
                }
                Err(e) => State::Failed(e.to_string()),
            },
        };
        Slot { name, state }
    }

    /// The running server, if it is running.
    pub(crate) fn server(&mut self) -> Option<&mut ServerProcess> {
        match &mut self.state {
            State::Running(server) => Some(server),
            _ => None,
        }
    }

    /// Stops the server for good with `message` as every later cell's outcome.
    pub(crate) fn fail(&mut self, message: String) {
        self.state = State::Failed(message);
    }

    /// The outcome of a cell this server cannot measure, if it cannot.
    pub(crate) fn not_running<T>(&self) -> Option<Outcome<T>> {
        match &self.state {
            State::Running(_) => None,
            State::Unavailable(reason) => Some(Outcome::Unavailable(reason.clone())),
            State::Failed(message) => Some(Outcome::Failed(message.clone())),
        }
    }
}
