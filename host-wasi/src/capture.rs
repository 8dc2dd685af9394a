//! Captured guest stdout/stderr: an in-memory buffer that keeps the first `capacity`
//! bytes and quietly drops the rest.
//!
//! wasmtime-wasi's `MemoryOutputPipe` traps the guest when it is full, which would let a
//! chatty log line kill a server. This capture always accepts writes, so output can
//! never stop a guest, and counts what it dropped.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// The most a guest may write in one `write` call (the permit `check-write` grants).
const WRITE_PERMIT: usize = 64 * 1024;

/// A shared, bounded capture buffer; clones write to and read from the same buffer.
#[derive(Clone, Debug)]
pub(crate) struct Capture {
    inner: Arc<Mutex<Buffer>>,
}

#[derive(Debug)]
struct Buffer {
    bytes: Vec<u8>,
    capacity: usize,
    dropped: u64,
}

impl Capture {
    pub(crate) fn new(capacity: usize) -> Self {
        let buffer = Buffer {
            bytes: Vec::new(),
            capacity,
            dropped: 0,
        };
        Self {
            inner: Arc::new(Mutex::new(buffer)),
        }
    }

    /// A copy of what was captured so far.
    pub(crate) fn contents(&self) -> Vec<u8> {
        self.lock().bytes.clone()
    }

    /// Everything captured, and how many bytes were dropped past the capacity.
    pub(crate) fn take(&self) -> (Vec<u8>, u64) {
        let mut buffer = self.lock();
        (std::mem::take(&mut buffer.bytes), buffer.dropped)
    }

    fn push(&self, data: &[u8]) {
        let mut buffer = self.lock();
        let room = buffer.capacity.saturating_sub(buffer.bytes.len());
        let kept = room.min(data.len());
        buffer.bytes.extend_from_slice(&data[..kept]);
        buffer.dropped += (data.len() - kept) as u64;
    }

    fn lock(&self) -> MutexGuard<'_, Buffer> {
        // Appending bytes cannot leave the buffer invalid, even after a panic.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Capture {
    async fn ready(&mut self) {}
}

#[wasmtime_wasi::async_trait]
impl OutputStream for Capture {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

impl AsyncWrite for Capture {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_bytes_and_counts_the_rest() {
        let capture = Capture::new(5);
        let mut stream = capture.p2_stream();
        stream.write(Bytes::from_static(b"abc")).unwrap();
        stream.write(Bytes::from_static(b"defg")).unwrap();
        assert_eq!(stream.check_write().unwrap(), WRITE_PERMIT, "never closes");
        assert_eq!(capture.contents(), b"abcde");
        assert_eq!(capture.take(), (b"abcde".to_vec(), 2));
    }
}
