//! The write buffer of a stream transport: one contiguous `Vec<u8>` with a consumed
//! prefix.
//!
//! Appends copy into spare capacity (no allocation once the buffer has grown to its
//! working size); sends take one slice; consuming moves a cursor. The consumed prefix is
//! reclaimed when the buffer empties (the common case) or, by one `copy_within`, when it
//! is at least half of the buffer — amortised O(1) per byte. Compared with a `VecDeque`
//! of owned chunks this avoids an allocation per buffered write and lets one send cover
//! many writes.

use alloc::vec::Vec;

/// Capacity kept after the buffer empties; a larger one (left by a burst) is released.
const KEEP_CAPACITY: usize = 256 * 1024;

#[derive(Debug, Default)]
pub(crate) struct WriteBuffer {
    buf: Vec<u8>,
    head: usize,
}

impl WriteBuffer {
    /// Bytes waiting to be sent.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.buf.len() - self.head
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.head == self.buf.len()
    }

    /// The bytes waiting to be sent, oldest first.
    #[inline]
    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.buf[self.head..]
    }

    /// Append `data` after the waiting bytes.
    pub(crate) fn extend(&mut self, data: &[u8]) {
        if self.head > 0 && self.head >= self.buf.len() / 2 {
            self.buf.copy_within(self.head.., 0);
            self.buf.truncate(self.buf.len() - self.head);
            self.head = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// `n` bytes (at most [`len`](Self::len)) were sent.
    pub(crate) fn consume(&mut self, n: usize) {
        self.head += n.min(self.len());
        if self.is_empty() {
            self.clear();
        }
    }

    /// Drop everything waiting.
    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.head = 0;
        if self.buf.capacity() > KEEP_CAPACITY {
            self.buf.shrink_to(KEEP_CAPACITY);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_consume_and_compact() {
        let mut b = WriteBuffer::default();
        assert!(b.is_empty());
        b.extend(b"hello");
        b.extend(b" world");
        assert_eq!(b.as_slice(), b"hello world");
        b.consume(6);
        assert_eq!(b.as_slice(), b"world");
        assert_eq!(b.len(), 5);
        // The consumed prefix (6) is more than half of 11: the next append compacts.
        b.extend(b"!");
        assert_eq!(b.head, 0);
        assert_eq!(b.as_slice(), b"world!");
        b.consume(100);
        assert!(b.is_empty());
        assert_eq!(b.len(), 0);
    }

    #[test]
    fn large_burst_releases_capacity() {
        let mut b = WriteBuffer::default();
        b.extend(&alloc::vec![7u8; 4 * KEEP_CAPACITY]);
        b.consume(4 * KEEP_CAPACITY);
        assert!(b.buf.capacity() <= KEEP_CAPACITY);
    }
}
