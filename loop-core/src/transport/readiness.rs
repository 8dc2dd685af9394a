//! Awaiting the readiness of a raw I/O object, for backends' asynchronous steps (a
//! non-blocking connect completes when the socket becomes writable).

use crate::error::{Error, ErrorKind, Result};
use crate::event_loop::EventLoop;
use crate::host::{Interest, Token};

/// Removes the callbacks when the wait ends or is dropped (cancelled).
struct Registration<'a> {
    lp: &'a EventLoop,
    token: Token,
    interest: Interest,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        // Removing can only fail in the host; nothing useful to do with that here.
        if self.interest.is_readable() {
            let _ = self.lp.remove_reader(self.token);
        }
        if self.interest.is_writable() {
            let _ = self.lp.remove_writer(self.token);
        }
    }
}

/// Wait until `token` is ready in one of the directions of `interest` (a spurious
/// readiness report also ends the wait: callers retry the operation and wait again on
/// `WouldBlock`). Replaces, then removes, the token's reader and/or writer callback, so
/// use it only on a token no transport is driving yet.
///
/// # Errors
///
/// [`ErrorKind::InvalidInput`] for an empty interest or an unknown token; the host's
/// error while registering; a cancellation.
pub async fn wait_ready(lp: &EventLoop, token: Token, interest: Interest) -> Result<()> {
    if interest.is_none() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "wait_ready needs a direction",
        ));
    }
    let fut = lp.create_future::<()>();
    let _registration = Registration {
        lp,
        token,
        interest,
    };
    if interest.is_readable() {
        let f = fut.clone();
        lp.add_reader(token, move || {
            // Level-triggered reports repeat until the waiting task runs; only the first
            // completes the future.
            if !f.done() {
                let _ = f.set_result(());
            }
        })?;
    }
    if interest.is_writable() {
        let f = fut.clone();
        lp.add_writer(token, move || {
            if !f.done() {
                let _ = f.set_result(());
            }
        })?;
    }
    fut.await
}
