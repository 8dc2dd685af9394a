#![doc = include_str!("../README.md")]
//!
//! # Modules
//!
//! - [`Grants`] (grants.rs): what a guest may reach; deny by default.
//! - [`Limits`] (limits.rs): memory, CPU (fuel), deadline, handles, captured output.
//! - [`Runtime`], [`Guest`], [`GuestBuilder`] (guest.rs): compile or load once,
//!   instantiate per run from a pre-linked `CommandPre`, run, report.
//! - [`Supervisor`] (supervisor.rs): many guests at once, each on its own thread.
//! - [`Report`], [`Outcome`] (report.rs): how a run ended and what it used.
#![deny(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

mod capture;
mod error;
mod grants;
mod guest;
mod limits;
mod lookup;
mod policy;
mod report;
mod supervisor;

pub use error::Error;
pub use grants::{AddrRange, AddrRangeError, Denial, Grants, Operation, Target};
pub use guest::{Guest, GuestBuilder, RunningGuest, Runtime, Stdio, YIELD_FUEL};
pub use limits::{FUEL_PER_CPU_SECOND, Limits, fuel_for};
pub use report::{Outcome, Report};
pub use supervisor::{GuestId, Supervisor};
