//! [`run`]: the entry point of a guest's `main`, asyncio's `asyncio.run` for a guest.

use core::time::Duration;
use std::process::{ExitCode, Termination};

use loop_core::EventLoop;

use crate::host::GuestHost;
use crate::net::GuestNet;

/// How long [`run`] waits, after `main` returns, for the runtime to send what closed
/// sockets had accepted.
pub const LINGER_LIMIT: Duration = Duration::from_secs(5);

/// Most loop iterations [`run`] spends after `main` returns, letting cancelled tasks end
/// and closing transports release their sockets.
const SETTLE_ITERATIONS: usize = 16;

/// Run a guest's asynchronous `main` on a new loop and return its exit code, for the
/// guest's `fn main() -> ExitCode`.
///
/// `main` gets the loop and the guest's network. Its output is reported as a `main`
/// function's is ([`Termination`]: `()` is success, `Err(e)` prints `Error: {e:?}` and
/// fails, an [`ExitCode`] is used as is). When it returns, like `asyncio.run`, the tasks
/// still running are cancelled and the loop runs a few more iterations so they end and
/// closing transports release their sockets; the loop is closed, and `run` waits (at
/// most [`LINGER_LIMIT`]) for the runtime to send the bytes closed sockets had accepted.
/// A failure of the loop itself (for instance
/// [`ErrorKind::Stalled`](loop_core::ErrorKind::Stalled): `main` waits for something
/// nothing can complete) is printed to stderr and is a failure exit.
///
/// # The single-threaded model
///
/// A WASI 0.2 guest has one thread, and everything — the loop, every task, every
/// protocol callback — runs on it; the loop blocks only inside `wasi:io/poll`. Tasks and
/// callbacks need not be `Send`, `call_soon_threadsafe` and wakers work (from that one
/// thread), and anything that blocks (a busy loop, a blocking WASI call) stalls every
/// connection of the guest. The runtime, not the guest, decides what the guest may reach:
/// a denied operation fails with
/// [`ErrorKind::PermissionDenied`](loop_core::ErrorKind::PermissionDenied) and the guest
/// keeps running.
///
/// ```no_run
/// use std::process::ExitCode;
/// use loop_core::net::{Net, ServerOptions};
///
/// # #[derive(Default)] struct Echo;
/// # impl loop_core::Protocol for Echo {}
/// fn main() -> ExitCode {
///     guest_sdk::run(|_lp, net| async move {
///         let addr = "127.0.0.1:7000".parse().expect("an address");
///         let server = net.create_server(Echo::default, addr, ServerOptions::default()).await?;
///         server.serve_forever().await
///     })
/// }
/// ```
pub fn run<F, Fut>(main: F) -> ExitCode
where
    F: FnOnce(EventLoop, GuestNet) -> Fut,
    Fut: Future + 'static,
    Fut::Output: Termination + 'static,
{
    let host = GuestHost::new();
    let lp = EventLoop::new(host.clone());
    let net = GuestNet::new(&lp, &host);
    let outcome = lp.run_until_complete(main(lp.clone(), net));
    settle(&lp);
    // Not running, so closing cannot fail.
    let _ = lp.close();
    host.finish_lingering_closes(LINGER_LIMIT);
    match outcome {
        Ok(output) => output.report(),
        Err(error) => {
            eprintln!("guest event loop failed: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Cancel the remaining tasks and run iterations until they have ended (at least two,
/// so callbacks scheduled by the last ones — a transport's `connection_lost` — run).
fn settle(lp: &EventLoop) {
    for task in lp.all_tasks() {
        task.cancel();
    }
    for i in 0..SETTLE_ITERATIONS {
        if i >= 2 && lp.all_tasks().is_empty() {
            break;
        }
        // `stop` before `run_forever` runs exactly one iteration, without blocking.
        lp.stop();
        if lp.run_forever().is_err() {
            break;
        }
    }
}
