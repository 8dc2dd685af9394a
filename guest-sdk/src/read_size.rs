//! How many bytes to ask of `input-stream.read`.
//!
//! A runtime prepares a buffer of the size asked before it knows how much data waits
//! (wasmtime zero-fills it, up to 64 KiB per read), so asking the most every time costs
//! a 64 KiB fill for a 100-byte message. [`ReadSize`] adapts the request to what reads
//! return, like an adaptive receive buffer: it grows fast when a read fills the request
//! (more data is probably waiting) and shrinks slowly when reads come back small.

/// Smallest request.
pub(crate) const MIN_READ: usize = 4 * 1024;
/// Largest request: wasmtime returns at most 64 KiB per read.
pub(crate) const MAX_READ: usize = 64 * 1024;

/// The adaptive request size of one stream; see the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ReadSize {
    hint: usize,
}

impl Default for ReadSize {
    fn default() -> Self {
        ReadSize { hint: MIN_READ }
    }
}

impl ReadSize {
    /// The request for a buffer with `room` bytes free (never more than `room`).
    pub(crate) fn request(&self, room: usize) -> usize {
        self.hint.min(room)
    }

    /// A read asked for `asked` bytes and got `got`.
    pub(crate) fn observe(&mut self, asked: usize, got: usize) {
        if got >= asked && asked == self.hint {
            self.hint = (self.hint * 4).min(MAX_READ);
        } else if got.saturating_mul(8) < self.hint {
            self.hint = (self.hint / 2).max(MIN_READ);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_messages_keep_the_request_small() {
        let mut r = ReadSize::default();
        for _ in 0..100 {
            let asked = r.request(256 * 1024);
            r.observe(asked, 1024.min(asked));
        }
        assert_eq!(r.request(256 * 1024), MIN_READ);
    }

    #[test]
    fn full_reads_grow_the_request_fast_up_to_the_maximum() {
        let mut r = ReadSize::default();
        let mut asked = Vec::new();
        for _ in 0..5 {
            let a = r.request(1 << 20);
            asked.push(a);
            r.observe(a, a);
        }
        assert_eq!(asked, vec![4096, 16384, 65536, 65536, 65536]);
    }

    #[test]
    fn small_reads_shrink_it_slowly_down_to_the_minimum() {
        let mut r = ReadSize { hint: MAX_READ };
        let mut asked = Vec::new();
        for _ in 0..6 {
            let a = r.request(1 << 20);
            asked.push(a);
            r.observe(a, 100);
        }
        assert_eq!(asked, vec![65536, 32768, 16384, 8192, 4096, 4096]);
    }

    #[test]
    fn a_short_buffer_limits_the_request_without_growing_it() {
        let mut r = ReadSize::default();
        assert_eq!(r.request(100), 100);
        r.observe(100, 100);
        assert_eq!(
            r.request(1 << 20),
            MIN_READ,
            "a full small read says nothing"
        );
        r.observe(MIN_READ, MIN_READ / 2);
        assert_eq!(
            r.request(1 << 20),
            MIN_READ,
            "a half-full read keeps the size"
        );
    }
}
