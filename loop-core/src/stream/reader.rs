//! [`StreamReader`]: a buffer that a protocol feeds and tasks read from, with asyncio's
//! read methods and its reading flow control.

use alloc::format;
use alloc::rc::{Rc, Weak};
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use super::buffer::Buffer;
use super::error::{IncompleteReadError, LimitOverrunError};
use crate::error::{Error, ErrorKind, Result};
use crate::transport::Transport;

/// asyncio's default reader limit (`asyncio.streams._DEFAULT_LIMIT`): 64 KiB.
pub const DEFAULT_LIMIT: usize = 64 * 1024;

/// A stream's read side (asyncio's `StreamReader`).
///
/// A protocol feeds it ([`feed_data`](Self::feed_data), [`feed_eof`](Self::feed_eof),
/// [`set_exception`](Self::set_exception)); one task at a time reads from it. `StreamReader`
/// is a cheap handle: clones share the same buffer.
///
/// # Flow control
///
/// With a transport set ([`set_transport`](Self::set_transport)), the reader pauses the
/// transport's reading when its buffer grows past twice the [`limit`](Self::limit) and
/// resumes it once reads bring the buffer down to the limit or below. A read that has to
/// wait for data resumes a paused transport first, so
/// [`readexactly(n)`](Self::readexactly) with `n` above the limit cannot deadlock.
///
/// # Errors
///
/// Once an error is set with [`set_exception`](Self::set_exception) (the protocol does it
/// when the connection fails), every read fails with it, even if data is still buffered —
/// including a read already waiting.
///
/// # Examples
///
/// ```
/// use loop_core::{EventLoop, sim::SimHost, stream::StreamReader};
///
/// let lp = EventLoop::new(SimHost::new(1));
/// let reader = StreamReader::new();
/// reader.feed_data(b"GET / HTTP/1.1\r\nHost: x\r\n")?;
/// reader.feed_eof();
/// let r = reader.clone();
/// let (request_line, rest) = lp.run_until_complete(async move {
///     let line = r.readline().await?;
///     let rest = r.read_to_end().await?;
///     Ok::<_, loop_core::Error>((line, rest))
/// })??;
/// assert_eq!(request_line, b"GET / HTTP/1.1\r\n");
/// assert_eq!(rest, b"Host: x\r\n");
/// assert!(reader.at_eof());
/// # Ok::<(), loop_core::Error>(())
/// ```
#[derive(Clone)]
pub struct StreamReader {
    inner: Rc<ReaderInner>,
}

pub(crate) struct ReaderInner {
    limit: usize,
    state: RefCell<ReaderState>,
}

struct ReaderState {
    buffer: Buffer,
    eof: bool,
    exception: Option<Error>,
    transport: Option<Rc<dyn Transport>>,
    /// Whether this reader paused the transport's reading.
    paused: bool,
    /// The one task waiting for data, if any.
    waiter: Option<DataWaiter>,
    next_waiter_id: u64,
}

struct DataWaiter {
    id: u64,
    waker: Waker,
}

impl Default for StreamReader {
    fn default() -> Self {
        StreamReader::new()
    }
}

impl StreamReader {
    /// A reader with the [default limit](DEFAULT_LIMIT) of 64 KiB.
    pub fn new() -> Self {
        StreamReader::with_valid_limit(DEFAULT_LIMIT)
    }

    /// A reader with the given buffer `limit`: the longest line or chunk
    /// [`readuntil`](Self::readuntil) accepts, and half the buffer size at which the
    /// transport's reading is paused.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] if `limit` is 0.
    pub fn with_limit(limit: usize) -> Result<Self> {
        if limit == 0 {
            return Err(Error::new(ErrorKind::InvalidInput, "limit cannot be 0"));
        }
        Ok(StreamReader::with_valid_limit(limit))
    }

    /// A reader with a limit already checked to be non-zero.
    pub(crate) fn with_valid_limit(limit: usize) -> Self {
        debug_assert!(limit > 0);
        StreamReader {
            inner: Rc::new(ReaderInner {
                limit,
                state: RefCell::new(ReaderState {
                    buffer: Buffer::default(),
                    eof: false,
                    exception: None,
                    transport: None,
                    paused: false,
                    waiter: None,
                    next_waiter_id: 0,
                }),
            }),
        }
    }

    pub(crate) fn downgrade(&self) -> Weak<ReaderInner> {
        Rc::downgrade(&self.inner)
    }

    pub(crate) fn upgrade(weak: &Weak<ReaderInner>) -> Option<StreamReader> {
        weak.upgrade().map(|inner| StreamReader { inner })
    }

    /// The buffer limit.
    pub fn limit(&self) -> usize {
        self.inner.limit
    }

    /// The number of bytes buffered and not yet read.
    pub fn buffered(&self) -> usize {
        self.inner.state.borrow().buffer.len()
    }

    /// The error set with [`set_exception`](Self::set_exception), if any.
    pub fn exception(&self) -> Option<Error> {
        self.inner.state.borrow().exception.clone()
    }

    /// Make every read fail with `error` from now on, and wake a waiting read with it.
    pub fn set_exception(&self, error: Error) {
        let waker = {
            let mut st = self.inner.state.borrow_mut();
            st.exception = Some(error);
            st.waiter.take()
        };
        if let Some(w) = waker {
            w.waker.wake();
        }
    }

    /// Give the reader the transport it reads from, for flow control.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidState`] if a transport was already set.
    pub fn set_transport(&self, transport: Rc<dyn Transport>) -> Result<()> {
        let mut st = self.inner.state.borrow_mut();
        if st.transport.is_some() {
            return Err(Error::new(
                ErrorKind::InvalidState,
                "the reader already has a transport",
            ));
        }
        st.transport = Some(transport);
        Ok(())
    }

    /// Append received bytes and wake a waiting read. Pauses the transport's reading if
    /// the buffer is now larger than twice the limit. Empty data does nothing.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidState`] after [`feed_eof`](Self::feed_eof).
    pub fn feed_data(&self, data: &[u8]) -> Result<()> {
        let pause = {
            let mut st = self.inner.state.borrow_mut();
            if st.eof {
                return Err(Error::new(
                    ErrorKind::InvalidState,
                    "feed_data after feed_eof",
                ));
            }
            if data.is_empty() {
                return Ok(());
            }
            st.buffer.extend(data);
            if let Some(w) = st.waiter.take() {
                w.waker.wake();
            }
            if !st.paused && st.transport.is_some() && st.buffer.len() > 2 * self.inner.limit {
                st.paused = true;
                st.transport.clone()
            } else {
                None
            }
        };
        if let Some(t) = pause {
            t.pause_reading();
        }
        Ok(())
    }

    /// Mark the end of the stream and wake a waiting read.
    pub fn feed_eof(&self) {
        let waiter = {
            let mut st = self.inner.state.borrow_mut();
            st.eof = true;
            st.waiter.take()
        };
        if let Some(w) = waiter {
            w.waker.wake();
        }
    }

    /// Whether EOF was fed and the buffer is empty.
    pub fn at_eof(&self) -> bool {
        let st = self.inner.state.borrow();
        st.eof && st.buffer.is_empty()
    }

    /// Read up to `n` bytes: what is buffered (at most `n`), waiting only while nothing
    /// is. Returns an empty vector at EOF, and at once when `n` is 0.
    ///
    /// # Errors
    ///
    /// The reader's exception; [`ErrorKind::Runtime`] if another task is already waiting
    /// for data on this reader.
    pub async fn read(&self, n: usize) -> Result<Vec<u8>> {
        self.check_exception()?;
        if n == 0 {
            return Ok(Vec::new());
        }
        let wait = {
            let st = self.inner.state.borrow();
            st.buffer.is_empty() && !st.eof
        };
        if wait {
            self.wait_for_data("read").await?;
        }
        let data = {
            let mut st = self.inner.state.borrow_mut();
            let n = n.min(st.buffer.len());
            st.buffer.take(n)
        };
        self.maybe_resume_transport();
        Ok(data)
    }

    /// Read until EOF (asyncio's `read(-1)`).
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read); the data read so far is dropped.
    pub async fn read_to_end(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            self.check_exception()?;
            let eof = {
                let mut st = self.inner.state.borrow_mut();
                if out.is_empty() {
                    out = st.buffer.take_all();
                } else {
                    out.extend_from_slice(st.buffer.as_slice());
                    st.buffer.clear();
                }
                st.eof
            };
            self.maybe_resume_transport();
            if eof {
                return Ok(out);
            }
            self.wait_for_data("read").await?;
        }
    }

    /// Read one line, up to and including `b"\n"`. At EOF, returns the partial last line
    /// (empty if nothing is left).
    ///
    /// # Errors
    ///
    /// The reader's exception; [`ErrorKind::Runtime`] for a concurrent read;
    /// [`ErrorKind::InvalidInput`] (with the [`LimitOverrunError`] as its source) when the
    /// line is longer than the limit. As asyncio's `readline` does, the overlong line is
    /// then discarded from the buffer: up to and including its `b"\n"` if that is
    /// buffered, otherwise the whole buffer.
    pub async fn readline(&self) -> Result<Vec<u8>> {
        const SEP: &[u8] = b"\n";
        match self.readuntil(SEP).await {
            Ok(line) => Ok(line),
            Err(e) => {
                if let Some(partial) = e.downcast_ref::<IncompleteReadError>() {
                    return Ok(partial.partial.clone());
                }
                if let Some(overrun) = e.downcast_ref::<LimitOverrunError>() {
                    {
                        let mut st = self.inner.state.borrow_mut();
                        let at = overrun.consumed;
                        if st.buffer.as_slice()[at..].starts_with(SEP) {
                            st.buffer.discard(at + SEP.len());
                        } else {
                            st.buffer.clear();
                        }
                    }
                    self.maybe_resume_transport();
                    return Err(Error::with_source(ErrorKind::InvalidInput, *overrun));
                }
                Err(e)
            }
        }
    }

    /// Read up to and including `separator`.
    ///
    /// # Errors
    ///
    /// - [`ErrorKind::InvalidInput`] for an empty separator;
    /// - [`ErrorKind::IncompleteRead`] when EOF comes first: the source
    ///   [`IncompleteReadError`] carries everything that was buffered (the buffer is
    ///   consumed) and `expected: None`;
    /// - [`ErrorKind::LimitOverrun`] when the separator is not within the first
    ///   [`limit`](Self::limit) bytes: the source [`LimitOverrunError`] says how far the
    ///   search got, and the data stays in the buffer;
    /// - the reader's exception; [`ErrorKind::Runtime`] for a concurrent read.
    pub async fn readuntil(&self, separator: &[u8]) -> Result<Vec<u8>> {
        let seplen = separator.len();
        if seplen == 0 {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "separator should be at least one byte",
            ));
        }
        self.check_exception()?;
        let limit = self.inner.limit;
        // Where the next search starts: everything before it is known not to start a
        // match.
        let mut offset = 0;
        let isep = loop {
            {
                let mut st = self.inner.state.borrow_mut();
                let buflen = st.buffer.len();
                if buflen - offset >= seplen {
                    if let Some(i) = find(&st.buffer.as_slice()[offset..], separator) {
                        break offset + i;
                    }
                    offset = buflen + 1 - seplen;
                    if offset > limit {
                        return Err(LimitOverrunError {
                            consumed: offset,
                            separator_found: false,
                        }
                        .into());
                    }
                }
                if st.eof {
                    let partial = st.buffer.take_all();
                    return Err(IncompleteReadError {
                        partial,
                        expected: None,
                    }
                    .into());
                }
            }
            self.wait_for_data("readuntil").await?;
        };
        if isep > limit {
            return Err(LimitOverrunError {
                consumed: isep,
                separator_found: true,
            }
            .into());
        }
        let chunk = self.inner.state.borrow_mut().buffer.take(isep + seplen);
        self.maybe_resume_transport();
        Ok(chunk)
    }

    /// Read exactly `n` bytes.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::IncompleteRead`] when EOF comes first: the source
    /// [`IncompleteReadError`] carries the bytes that were buffered (the buffer is
    /// consumed) and `expected: Some(n)`; the reader's exception; [`ErrorKind::Runtime`]
    /// for a concurrent read.
    pub async fn readexactly(&self, n: usize) -> Result<Vec<u8>> {
        self.check_exception()?;
        if n == 0 {
            return Ok(Vec::new());
        }
        loop {
            {
                let mut st = self.inner.state.borrow_mut();
                if st.buffer.len() >= n {
                    break;
                }
                if st.eof {
                    let partial = st.buffer.take_all();
                    return Err(IncompleteReadError {
                        partial,
                        expected: Some(n),
                    }
                    .into());
                }
            }
            self.wait_for_data("readexactly").await?;
        }
        let data = self.inner.state.borrow_mut().buffer.take(n);
        self.maybe_resume_transport();
        Ok(data)
    }

    fn check_exception(&self) -> Result<()> {
        match &self.inner.state.borrow().exception {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// asyncio's `_maybe_resume_transport`: resume reading once the buffer is down to the
    /// limit.
    fn maybe_resume_transport(&self) {
        let resume = {
            let mut st = self.inner.state.borrow_mut();
            if st.paused && st.buffer.len() <= self.inner.limit {
                st.paused = false;
                st.transport.clone()
            } else {
                None
            }
        };
        if let Some(t) = resume {
            t.resume_reading();
        }
    }

    fn wait_for_data(&self, func: &'static str) -> WaitForData<'_> {
        WaitForData {
            reader: &self.inner,
            func,
            id: None,
        }
    }
}

impl fmt::Debug for StreamReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.inner.state.borrow();
        f.debug_struct("StreamReader")
            .field("limit", &self.inner.limit)
            .field("buffered", &st.buffer.len())
            .field("eof", &st.eof)
            .field("exception", &st.exception)
            .field("paused", &st.paused)
            .field("waiting", &st.waiter.is_some())
            .finish()
    }
}

/// Find `needle` (non-empty) in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    match needle {
        [b] => memchr::memchr(*b, haystack),
        _ => memchr::memmem::find(haystack, needle),
    }
}

/// asyncio's `_wait_for_data`: wait until data, EOF or an error is fed. Completes with
/// the reader's exception if one is set by then.
struct WaitForData<'a> {
    reader: &'a ReaderInner,
    func: &'static str,
    /// The waiter slot this wait registered, once polled.
    id: Option<u64>,
}

impl core::future::Future for WaitForData<'_> {
    type Output = Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let reader = self.reader;
        match self.id {
            None => {
                let resume = {
                    let mut st = reader.state.borrow_mut();
                    if st.waiter.is_some() {
                        return Poll::Ready(Err(Error::new(
                            ErrorKind::Runtime,
                            format!(
                                "{}() called while another task is already waiting for incoming data",
                                self.func
                            ),
                        )));
                    }
                    if let Some(e) = &st.exception {
                        return Poll::Ready(Err(e.clone()));
                    }
                    let id = st.next_waiter_id;
                    st.next_waiter_id += 1;
                    st.waiter = Some(DataWaiter {
                        id,
                        waker: cx.waker().clone(),
                    });
                    self.id = Some(id);
                    // Waiting for data while paused would deadlock (readexactly(n) with
                    // n above the limit): resume first.
                    if st.paused {
                        st.paused = false;
                        st.transport.clone()
                    } else {
                        None
                    }
                };
                if let Some(t) = resume {
                    t.resume_reading();
                }
                Poll::Pending
            }
            Some(id) => {
                let mut st = reader.state.borrow_mut();
                match &mut st.waiter {
                    Some(w) if w.id == id => {
                        w.waker.clone_from(cx.waker());
                        Poll::Pending
                    }
                    _ => {
                        self.id = None;
                        Poll::Ready(match &st.exception {
                            Some(e) => Err(e.clone()),
                            None => Ok(()),
                        })
                    }
                }
            }
        }
    }
}

impl Drop for WaitForData<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            let mut st = self.reader.state.borrow_mut();
            if st.waiter.as_ref().is_some_and(|w| w.id == id) {
                st.waiter = None;
            }
        }
    }
}
