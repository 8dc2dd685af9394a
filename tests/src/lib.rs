#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod context;
pub mod diff;
pub mod golden;
pub mod record;
pub mod runner;
mod scenarios;
pub mod sim;
pub mod trace;

pub use context::{Backend, Cx, Env};
pub use trace::{Event, Kind, Lane, Payload, Trace, TraceLog};

use loop_core::Error;

/// The faults a scenario runs under on the simulation (besides its fault-free run).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Faults {
    /// Split reads, latency, delayed accept, small windows: the trace must not change.
    Standard,
    /// [`Standard`](Self::Standard) plus resets on segment arrival: lanes may be cut
    /// short by a reset, with nothing lost or reordered before it.
    Resets,
    /// [`Standard`](Self::Standard) for scenarios that move megabytes: segments of up to
    /// at least 1 KiB (still split at random points, 1-byte pieces included) instead of
    /// down to 1 byte, which would only make the sweep slow — the scenarios that move
    /// little data cover byte-sized segments.
    Bulk,
}

/// A registered scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// Its area (the module it lives in).
    pub area: &'static str,
    /// Its name (unique; also its golden file's name and its tests' names).
    pub name: &'static str,
    /// The faults it runs under on the simulation.
    pub faults: Faults,
}

/// Calls macro `$m` with the list of every scenario, as
/// `area::name => Faults,` items (`Faults` is a [`Faults`] variant).
///
/// Each backend's runner generates its tests from this one list, and the crate builds
/// its own registry ([`SCENARIOS`], [`run_scenario`]) from it, so a scenario is either
/// everywhere or nowhere: a name without a function fails to compile, and a scenario
/// function missing from the list is dead code (a warning, an error in CI).
///
/// ```
/// macro_rules! count {
///     ($($area:ident :: $name:ident => $faults:ident,)*) => {
///         [$(stringify!($name)),*].len()
///     };
/// }
/// assert_eq!(conformance::foreach_scenario!(count), conformance::SCENARIOS.len());
/// ```
#[macro_export]
macro_rules! foreach_scenario {
    ($m:ident) => {
        $m! {
            loop_order::call_soon_fifo => Standard,
            loop_order::stop_runs_current_batch => Standard,
            loop_order::stop_before_run_forever => Standard,
            loop_order::run_until_complete_outcomes => Standard,
            loop_order::panicking_callback_is_reported => Standard,
            loop_order::done_callbacks_order => Standard,
            loop_order::closed_loop_refuses_work => Standard,
            timers::timers_fire_in_deadline_order => Standard,
            timers::timer_cancel => Standard,
            timers::call_later_zero_after_call_soon => Standard,
            timers::sleep_zero_yields_once => Standard,
            timers::wait_for_timeout => Standard,
            tasks::task_cancel_while_sleeping => Standard,
            tasks::task_cancel_propagates => Standard,
            tasks::gather_order_and_first_error => Standard,
            tasks::gather_settled_outcomes => Standard,
            tasks::wait_return_when => Standard,
            tasks::as_completed_order => Standard,
            tasks::shield_protects_inner => Standard,
            tasks::task_errors_propagate => Standard,
            sync::lock_fifo_under_contention => Standard,
            sync::semaphore_limits_concurrency => Standard,
            sync::event_wakes_every_waiter => Standard,
            sync::condition_notify_order => Standard,
            sync::queue_producers_consumers => Standard,
            sync::cancelled_waiter_passes_the_lock => Standard,
            tcp::tcp_echo => Standard,
            tcp::tcp_half_close_by_client => Standard,
            tcp::tcp_half_close_by_server => Standard,
            tcp::tcp_close_flushes_buffer => Bulk,
            tcp::tcp_abort_drops_buffer => Bulk,
            tcp::tcp_peer_reset => Standard,
            tcp::tcp_connect_refused => Standard,
            tcp::tcp_addresses => Standard,
            tcp::tcp_writelines => Standard,
            tcp::tcp_buffered_protocol => Standard,
            tcp::tcp_echo_under_resets => Resets,
            flow::flow_limits_zero => Bulk,
            flow::flow_limits_one_zero => Bulk,
            flow::flow_limits_small => Bulk,
            flow::flow_limits_high_only => Bulk,
            flow::flow_limits_default => Bulk,
            flow::flow_limits_change => Bulk,
            flow::flow_limits_validation => Standard,
            flow::flow_pause_reading => Standard,
            flow::flow_paced_producer => Bulk,
            servers::server_close_keeps_connections => Standard,
            servers::server_wait_closed_without_connections => Standard,
            servers::server_start_serving_later => Standard,
            servers::server_serve_forever_cancelled => Standard,
            servers::server_close_clients => Standard,
            streams::stream_readline => Standard,
            streams::stream_readuntil => Standard,
            streams::stream_readexactly => Standard,
            streams::stream_limit_overrun => Standard,
            streams::stream_line_server => Standard,
            streams::stream_drain_backpressure => Bulk,
            streams::stream_writer_after_close => Standard,
            udp::udp_ping_pong => Standard,
            udp::udp_datagram_sizes => Standard,
            udp::udp_connected_endpoint => Standard,
            udp::udp_unreachable_peer => Standard,
            udp::udp_close_and_abort => Standard,
        }
    };
}

macro_rules! registry {
    ($($area:ident :: $name:ident => $faults:ident,)*) => {
        /// Every scenario, in registry order.
        pub const SCENARIOS: &[Scenario] = &[
            $(Scenario {
                area: stringify!($area),
                name: stringify!($name),
                faults: Faults::$faults,
            },)*
        ];

        /// Run scenario `name` on `cx`'s backend: `None` if there is no such scenario,
        /// else its outcome (`Err` means it failed on this backend).
        pub fn run_scenario<N: Backend>(name: &str, cx: &Cx<N>) -> Option<Result<(), Error>> {
            match name {
                $(stringify!($name) => Some(scenarios::$area::$name(cx)),)*
                _ => None,
            }
        }
    };
}

foreach_scenario!(registry);

/// The registered scenario called `name`.
pub fn scenario(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_areas_known() {
        let mut names: Vec<_> = SCENARIOS.iter().map(|s| s.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "duplicate scenario names");
        assert!(SCENARIOS.len() >= 40, "{} scenarios", SCENARIOS.len());
    }
}
