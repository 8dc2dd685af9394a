//! The exception-handler hook: errors nobody can return to (a panicking callback, a
//! task's failure reported by the loop, a slow callback in debug mode) are passed, with a
//! context, to a handler the application may replace.

use alloc::rc::Rc;
use alloc::string::String;
use core::fmt;
use core::time::Duration;

use crate::error::Error;
use crate::event_loop::EventLoop;
use crate::future::FutureRef;
use crate::handle::Handle;
use crate::task::TaskRef;

/// What the loop knows about an error it reports: asyncio's context dict as a struct.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ExceptionContext {
    /// Always present: what happened.
    pub message: String,
    /// The error, if there is one.
    pub error: Option<Error>,
    /// The callback involved.
    pub handle: Option<Handle>,
    /// The future involved.
    pub future: Option<FutureRef>,
    /// The task involved.
    pub task: Option<TaskRef>,
    /// For slow-callback reports in debug mode: how long the callback ran.
    pub duration: Option<Duration>,
}

impl ExceptionContext {
    /// A context with only a message.
    pub fn new(message: impl Into<String>) -> Self {
        ExceptionContext {
            message: message.into(),
            error: None,
            handle: None,
            future: None,
            task: None,
            duration: None,
        }
    }

    /// Attach an error.
    #[must_use]
    pub fn with_error(mut self, error: Error) -> Self {
        self.error = Some(error);
        self
    }

    /// Attach the callback involved.
    #[must_use]
    pub fn with_handle(mut self, handle: Handle) -> Self {
        self.handle = Some(handle);
        self
    }

    /// Attach the future involved.
    #[must_use]
    pub fn with_future(mut self, future: FutureRef) -> Self {
        self.future = Some(future);
        self
    }

    /// Attach the task involved.
    #[must_use]
    pub fn with_task(mut self, task: TaskRef) -> Self {
        self.task = Some(task);
        self
    }

    /// Attach a duration.
    #[must_use]
    pub fn with_duration(mut self, duration: Duration) -> Self {
        self.duration = Some(duration);
        self
    }
}

impl fmt::Display for ExceptionContext {
    /// The message, then one `key: value` line per present field, as asyncio's default
    /// handler logs it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(e) = &self.error {
            write!(f, "\nerror: {e}")?;
        }
        if let Some(h) = &self.handle {
            write!(f, "\nhandle: {h:?}")?;
        }
        if let Some(t) = &self.future {
            write!(f, "\nfuture: {t:?}")?;
        }
        if let Some(t) = &self.task {
            write!(f, "\ntask: {t:?}")?;
        }
        if let Some(d) = &self.duration {
            write!(f, "\nduration: {:.3}s", d.as_secs_f64())?;
        }
        Ok(())
    }
}

/// An exception handler: called with the loop and the context.
pub type ExceptionHandler = Rc<dyn Fn(&EventLoop, &ExceptionContext)>;
