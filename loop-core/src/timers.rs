//! The timer heap: a min-heap on `(deadline, sequence)`, so equal deadlines fire in the
//! order they were scheduled. Cancellation is lazy; [`Timers::compact`] drops cancelled
//! entries when they dominate, as asyncio does.

use alloc::collections::BinaryHeap;
use core::cmp::{Ordering, Reverse};

use crate::handle::Handle;
use crate::time::Instant;

/// asyncio's `_MIN_SCHEDULED_TIMER_HANDLES`: below this size the heap is never compacted.
const MIN_SCHEDULED_FOR_COMPACTION: usize = 100;

struct Entry {
    when: Instant,
    seq: u64,
    handle: Handle,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.when, self.seq) == (other.when, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.when, self.seq).cmp(&(other.when, other.seq))
    }
}

#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<Entry>>,
    next_seq: u64,
    /// Entries in the heap whose handle was cancelled.
    cancelled: usize,
}

impl Timers {
    pub(crate) fn push(&mut self, when: Instant, handle: Handle) {
        handle.set_in_heap(true);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Reverse(Entry { when, seq, handle }));
    }

    /// A timer in the heap was cancelled. Compacts as soon as cancelled entries dominate,
    /// so even a single callback that schedules and cancels millions of timers keeps the
    /// heap bounded (amortised O(1) per cancel).
    pub(crate) fn note_cancelled(&mut self) {
        self.cancelled += 1;
        if self.should_compact() {
            self.compact();
        }
    }

    fn should_compact(&self) -> bool {
        self.heap.len() > MIN_SCHEDULED_FOR_COMPACTION && self.cancelled * 2 > self.heap.len()
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Drop cancelled entries: all of them when they are more than half of a heap of at
    /// least [`MIN_SCHEDULED_FOR_COMPACTION`], else those at the top.
    #[inline]
    pub(crate) fn compact(&mut self) {
        if !self.heap.is_empty() {
            self.compact_nonempty();
        }
    }

    fn compact_nonempty(&mut self) {
        if self.should_compact() {
            self.heap.retain(|Reverse(e)| {
                let keep = !e.handle.cancelled();
                if !keep {
                    e.handle.set_in_heap(false);
                }
                keep
            });
            self.cancelled = 0;
            if self.heap.capacity() > 2 * self.heap.len().max(MIN_SCHEDULED_FOR_COMPACTION) {
                self.heap.shrink_to_fit();
            }
        } else {
            while let Some(Reverse(top)) = self.heap.peek() {
                if !top.handle.cancelled() {
                    break;
                }
                let Some(Reverse(e)) = self.heap.pop() else {
                    break;
                };
                e.handle.set_in_heap(false);
                self.cancelled = self.cancelled.saturating_sub(1);
            }
        }
    }

    /// The earliest deadline, cancelled entries included (call [`compact`](Self::compact)
    /// first to skip those at the top).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(e)| e.when)
    }

    /// Pop the earliest entry if it is due before `end`. Cancelled entries are returned
    /// too (and no longer counted); the caller skips them.
    pub(crate) fn pop_due(&mut self, end: Instant) -> Option<Handle> {
        let Reverse(top) = self.heap.peek()?;
        if top.when >= end {
            return None;
        }
        let Reverse(e) = self.heap.pop()?;
        e.handle.set_in_heap(false);
        if e.handle.cancelled() {
            self.cancelled = self.cancelled.saturating_sub(1);
        }
        Some(e.handle)
    }
}
