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
pub use sync::{
    BoundedSemaphore, Condition, LifoQueue, Lock, LockGuard, PriorityQueue, Queue, QueueEmpty,
    QueueFull, Semaphore, SemaphorePermit,
};
pub use task::{Task, TaskBody, TaskFactory, TaskRef};
pub use time::Instant;
pub use transport::{BaseTransport, DatagramTransport, ExtraInfo, SubprocessTransport, Transport};
