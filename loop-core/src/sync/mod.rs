//! asyncio's synchronisation primitives and queues, for tasks on one loop.
//!
//! [`Lock`], [`Event`], [`Condition`], [`Semaphore`], [`BoundedSemaphore`], and the
//! queues [`Queue`], [`PriorityQueue`] and [`LifoQueue`] (with `task_done` / `join`).
//!
//! They are not thread-safe (the loop runs on one thread; they are `!Send`), need no
//! [`EventLoop`](crate::EventLoop) to be created, and work in any task: waiting is done
//! through the task's waker. Each is a cheap handle; clones share the primitive.
//!
//! # Fairness
//!
//! Waiters are served first come, first served. A wake-up (the lock, a permit, an item,
//! a free slot) is granted to the first waiter when it becomes available and reserved
//! for it until it runs, so a task that starts waiting later never overtakes it.
//!
//! # Cancellation
//!
//! A task is cancelled by dropping its future at its next step, so cancellation happens
//! in the waiting futures' `Drop`:
//!
//! - a waiter that had not been woken leaves the line; the others keep their order;
//! - a waiter that had already been granted its wake-up passes it to the next waiter
//!   (the lock, the permit, the item or slot reservation, a condition's notification) —
//!   a wake-up is never lost.
//!
//! # Differences from asyncio
//!
//! - Acquiring returns a guard ([`LockGuard`], [`SemaphorePermit`]) that releases on
//!   drop; asyncio's explicit `release()` is there too (call `forget()` on the guard).
//! - [`Condition::wait`] does not re-acquire the lock when it is dropped before it
//!   completes (see [`Condition`]).
//! - A waiter whose task was cancelled keeps its place until its task's next step drops
//!   it (asyncio marks its future cancelled at once); a wake-up granted meanwhile is
//!   passed on when it is dropped.
//! - `Queue::get().await` / `put().await` are strictly FIFO: asyncio lets a newcomer take
//!   an item (a slot) while the getter (putter) woken for it has not run yet.
//! - Values are `usize`: a negative semaphore value cannot be expressed, and a queue's
//!   `maxsize` 0 means unbounded. asyncio's `ValueError` is [`ErrorKind::InvalidInput`]
//!   and `RuntimeError` is [`ErrorKind::Runtime`](crate::ErrorKind::Runtime).
//!
//! [`ErrorKind::InvalidInput`]: crate::ErrorKind::InvalidInput

mod condition;
mod event;
mod lock;
mod queue;
mod semaphore;
mod waitqueue;

pub use condition::{Condition, ConditionWait};
pub use event::{Event, EventWait};
pub use lock::{Lock, LockAcquire, LockGuard};
pub use queue::{
    Fifo, GenericQueue, Lifo, LifoQueue, Priority, PriorityQueue, Queue, QueueEmpty, QueueFull,
    QueueGet, QueueJoin, QueuePut, Storage,
};
pub use semaphore::{BoundedSemaphore, Semaphore, SemaphoreAcquire, SemaphorePermit};
