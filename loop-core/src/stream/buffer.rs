//! The reader's byte buffer: a `Vec` with a read offset, so consuming from the front is
//! O(1) (asyncio's `del buffer[:n]` moves the rest every time).
//!
//! Dead space at the front is reclaimed when new data would otherwise make the vector
//! grow and at least half of it is dead; each byte is therefore moved at most a constant
//! number of times on average.

use alloc::vec::Vec;

#[derive(Default)]
pub(crate) struct Buffer {
    data: Vec<u8>,
    /// Index of the first unread byte in `data`.
    start: usize,
}

impl Buffer {
    pub(crate) fn len(&self) -> usize {
        self.data.len() - self.start
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.data[self.start..]
    }

    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.data.len() + bytes.len() > self.data.capacity() {
            let live = self.len();
            if self.start >= live {
                self.data.copy_within(self.start.., 0);
                self.data.truncate(live);
                self.start = 0;
            }
        }
        self.data.extend_from_slice(bytes);
    }

    /// Remove and return the first `n` bytes (`n <= len`).
    pub(crate) fn take(&mut self, n: usize) -> Vec<u8> {
        debug_assert!(n <= self.len());
        if self.start == 0 && n == self.data.len() {
            return core::mem::take(&mut self.data);
        }
        let out = self.data[self.start..self.start + n].to_vec();
        self.discard(n);
        out
    }

    /// Remove and return everything.
    pub(crate) fn take_all(&mut self) -> Vec<u8> {
        self.take(self.len())
    }

    /// Drop the first `n` bytes (`n <= len`).
    pub(crate) fn discard(&mut self, n: usize) {
        debug_assert!(n <= self.len());
        self.start += n;
        if self.start == self.data.len() {
            self.data.clear();
            self.start = 0;
        }
    }

    pub(crate) fn clear(&mut self) {
        self.data.clear();
        self.start = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::Buffer;

    #[test]
    fn take_and_extend_keep_order() {
        let mut b = Buffer::default();
        b.extend(b"hello ");
        b.extend(b"world");
        assert_eq!(b.take(2), b"he");
        assert_eq!(b.as_slice(), b"llo world");
        b.discard(4);
        assert_eq!(b.as_slice(), b"world");
        b.extend(b"!");
        assert_eq!(b.take_all(), b"world!");
        assert!(b.is_empty());
    }

    #[test]
    fn reclaims_front_space_instead_of_growing() {
        let mut b = Buffer::default();
        b.extend(&[1; 64]);
        let cap = b.data.capacity();
        b.discard(60);
        b.extend(&[2; 8]);
        assert_eq!(b.data.capacity(), cap);
        assert_eq!(b.as_slice(), [1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2]);
    }

    #[test]
    fn take_everything_moves_the_vector_out() {
        let mut b = Buffer::default();
        b.extend(b"abc");
        let v = b.take(3);
        assert_eq!(v, b"abc");
        assert_eq!(b.len(), 0);
        b.extend(b"d");
        assert_eq!(b.as_slice(), b"d");
    }
}
