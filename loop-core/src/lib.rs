//! # loop-core
//!
//! asyncio's event loop, in a `#![no_std]` + `alloc` core that runs natively, on small
//! targets and inside WebAssembly guests. Hosts supply the clock, the poll and the I/O
//! (see [`host`]); everything else — the iteration rules, timers, futures, tasks,
//! combinators and synchronisation primitives — lives here and behaves as asyncio
//! documents.
//!
//! ```
//! use loop_core::{EventLoop, sim::SimHost};
//!
//! let lp = EventLoop::new(SimHost::new(1));
//! let task = lp.create_task(async { 6 * 7 });
//! assert_eq!(lp.run_until_complete(task).unwrap().unwrap(), 42);
//! ```
//!
//! ## Features
//!
//! - `std` (default): panics in callbacks and tasks are caught and reported through the
//!   exception handler; the default handler prints to stderr.
//!
//! ## Differences from asyncio
//!
//! - A cancelled task's Rust future is dropped at its next step (its destructors run);
//!   it cannot catch the cancellation and continue as a coroutine can.
//! - Slow callbacks in debug mode are reported through the exception handler (with
//!   [`ExceptionContext::duration`]) instead of a logger, so applications can route them.
//! - Transports ([`transport::StreamTransport`], [`transport::DatagramEndpoint`]):
//!   `write`, `writelines`, `write_eof` and `sendto` on a closing or lost transport
//!   return [`ErrorKind::Runtime`] instead of being dropped silently (asyncio drops
//!   writes after `close` and logs after a loss; it ignores `write_eof` when closing).
//! - `pause_writing` / `resume_writing` raised by a transport call made *inside* a
//!   protocol callback are delivered right after that callback returns, not
//!   re-entrantly; `error_received` from a `sendto` inside `datagram_received` likewise.
//! - `connection_lost` after a `close` flush is scheduled with `call_soon` (asyncio calls
//!   it directly from the writer callback), so it always runs in a later callback.
//! - `set_write_buffer_limits` re-checks resume as well as pause.
//! - A reader callback reads up to [`transport::READ_BUDGET`] (1 MiB, in reads of
//!   256 KiB) instead of one `recv`, stopping early on a short read; readiness must be
//!   level-triggered.
//! - [`net::Net`] takes socket addresses (name resolution, TLS and socket options belong
//!   to backends); [`net::Server::sockets`] lists addresses, empty once closed;
//!   [`net::Server::start_serving`] is synchronous; [`net::Server::wait_closed`] has
//!   asyncio 3.12 semantics (closed *and* every connection gone); dropping a
//!   [`net::Server::serve_forever`] future closes the server.
#![no_std]
#![doc(test(attr(deny(warnings))))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod combinators;
pub mod error;
mod event_loop;
mod exception;
mod future;
mod handle;
pub mod host;
pub mod net;
mod panic;
pub mod protocol;
pub mod sim;
pub mod stream;
pub mod sync;
mod task;
pub mod time;
mod timers;
pub mod transport;
mod wake;

pub use combinators::{
    AsCompleted, Awaitable, ReturnWhen, Sleep, WaitFor, WaitFuture, as_completed, gather,
    gather_settled, shield, wait, wait_for,
};
pub use error::{Error, ErrorKind, Result};
pub use event_loop::{EventLoop, Remote, RemoteHandle};
pub use exception::{ExceptionContext, ExceptionHandler};
pub use future::{CallbackId, Future, FutureRef, Wait};
pub use handle::{Handle, TimerHandle};
pub use host::{Event, Events, Host, Interest, Notify, Token};
pub use protocol::{BufferedProtocol, DatagramProtocol, Protocol, SubprocessProtocol};
pub use stream::{StreamReader, StreamReaderProtocol, StreamWriter};
pub use sync::{
    BoundedSemaphore, Condition, LifoQueue, Lock, LockGuard, PriorityQueue, Queue, QueueEmpty,
    QueueFull, Semaphore, SemaphorePermit,
};
pub use task::{Task, TaskBody, TaskFactory, TaskRef};
pub use time::Instant;
pub use transport::{BaseTransport, DatagramTransport, ExtraInfo, SubprocessTransport, Transport};
