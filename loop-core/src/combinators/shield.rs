//! [`shield`]: asyncio's `shield(aw)`.

use super::{Awaitable, check_loop};
use crate::event_loop::EventLoop;
use crate::future::Future;

/// Protect an awaitable from cancellation (asyncio's `shield`): the returned future
/// completes with the awaitable's result or error, but cancelling it (or the task
/// awaiting it) leaves the awaitable running. If the awaitable itself is cancelled by
/// other means, the returned future is cancelled too.
///
/// An awaitable that is already done is returned as it is. A Rust future is wrapped in
/// a task at once.
///
/// # Errors
///
/// The returned future fails with
/// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) if the awaitable belongs
/// to another loop.
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use loop_core::{EventLoop, shield, sim::SimHost};
///
/// let lp = EventLoop::new(SimHost::new(1));
/// let lp2 = lp.clone();
/// let work = lp.create_task(async move {
///     lp2.sleep(Duration::from_secs(1)).await.unwrap();
///     "saved"
/// });
/// let shielded = shield(&lp, &work);
/// let caller = lp.create_task(async move { shielded.await });
/// let c = caller.clone();
/// lp.call_soon(move || {
///     c.cancel();
/// })?;
/// assert!(lp.run_until_complete(&caller)?.unwrap_err().is_cancelled());
/// // The shielded work was not cancelled.
/// assert_eq!(lp.run_until_complete(work)??, "saved");
/// # Ok::<(), loop_core::Error>(())
/// ```
pub fn shield<A: Awaitable>(lp: &EventLoop, aw: A) -> Future<A::Output> {
    let inner = aw.ensure_future(lp);
    if let Err(e) = check_loop(lp, &inner) {
        let outer = Future::new(lp);
        outer.complete(Err(e));
        return outer;
    }
    if inner.done() {
        return inner;
    }
    let outer = Future::new(lp);
    let o = outer.clone();
    let id = inner.add_done_callback(move |inner| {
        if o.done() {
            return;
        }
        if inner.cancelled() {
            o.cancel();
        } else {
            o.complete(A::take_output(inner));
        }
    });
    let i = inner;
    outer.add_done_callback(move |_| {
        if !i.done() {
            i.remove_done_callback(id);
        }
    });
    outer
}
