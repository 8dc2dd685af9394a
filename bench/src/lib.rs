#![doc = include_str!("../README.md")]
#![doc(test(attr(deny(warnings))))]
#![forbid(unsafe_code)]

#[cfg(not(target_os = "linux"))]
compile_error!("tulip-bench reads server CPU time and memory from Linux's /proc");

pub mod client;
mod echo;
mod error;
mod idle;
mod limits;
mod process;
pub mod procfs;
pub mod servers;
mod slot;
mod spec;
mod syscalls;
mod table;
mod units;

pub use echo::{EchoOptions, EchoReport, EchoRow, EchoSample, EchoSummary, run_echo};
pub use error::{Error, Result};
pub use idle::{IdleOptions, IdleReport, IdleSample, run_idle};
pub use limits::{ensure_open_files, raise_open_files};
pub use process::{ServerProcess, free_port};
pub use slot::Outcome;
pub use spec::{
    Availability, BASELINE, Environment, Launch, Program, ServerSpec, TargetKind, builtin_servers,
    prepare, select,
};
pub use syscalls::{SyscallOptions, SyscallReport, SyscallSample, run_syscalls};
pub use table::{Table, median};
pub use units::{format_size, parse_duration, parse_size};
