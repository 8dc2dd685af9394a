//! The FIFO wait list every primitive shares.
//!
//! A [`WaitQueue`] is an intrusive doubly linked list stored in a [`Slab`], so joining
//! and leaving the line are O(1) and, once the slab has grown to the largest number of
//! simultaneous waiters, allocation-free. Each waiter is either *pending* (waiting for
//! its turn) or *notified* (granted a wake-up it has not consumed yet). Notifying always
//! picks the oldest pending waiter; a cursor remembers where the pending part of the line
//! starts, so granting `n` wake-ups costs O(n), not O(n²).
//!
//! The list never wakes anyone itself: notifying moves the waiter's [`Waker`] into a
//! [`Wakers`] batch that the caller wakes after it has released its `RefCell` borrow of
//! the primitive's state. A waker that re-entered the primitive (or dropped something
//! that does) therefore never finds the state borrowed.

use alloc::vec::Vec;
use core::fmt;
use core::task::Waker;

use slab::Slab;

/// "No node" in the links.
const NIL: usize = usize::MAX;

struct Node {
    /// Position in the line: older waiters have smaller tickets.
    ticket: u64,
    prev: usize,
    next: usize,
    notified: bool,
    /// Present while pending; moved into a [`Wakers`] batch when notified.
    waker: Option<Waker>,
}

/// A waiter's place in a [`WaitQueue`]. It stays valid until the waiter is
/// [removed](WaitQueue::remove); every waiter removes itself exactly once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WaiterId(usize);

/// A FIFO line of waiters, each pending or notified.
pub(crate) struct WaitQueue {
    nodes: Slab<Node>,
    head: usize,
    tail: usize,
    /// Every waiter before this one is notified; `NIL` when every waiter is.
    cursor: usize,
    next_ticket: u64,
    notified: usize,
}

impl WaitQueue {
    /// An empty line.
    pub(crate) const fn new() -> Self {
        WaitQueue {
            nodes: Slab::new(),
            head: NIL,
            tail: NIL,
            cursor: NIL,
            next_ticket: 0,
            notified: 0,
        }
    }

    /// Number of waiters, pending and notified.
    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether nobody waits (not even a notified waiter that has not run yet).
    pub(crate) fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Number of notified waiters that have not consumed their wake-up yet.
    pub(crate) fn notified(&self) -> usize {
        self.notified
    }

    /// Whether some waiter is still pending.
    pub(crate) fn has_pending(&self) -> bool {
        self.len() > self.notified
    }

    /// Join the end of the line, pending, to be woken through `waker`.
    pub(crate) fn push(&mut self, waker: &Waker) -> WaiterId {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        let key = self.nodes.insert(Node {
            ticket,
            prev: self.tail,
            next: NIL,
            notified: false,
            waker: Some(waker.clone()),
        });
        if self.tail == NIL {
            self.head = key;
        } else {
            self.nodes[self.tail].next = key;
        }
        self.tail = key;
        if self.cursor == NIL {
            self.cursor = key;
        }
        WaiterId(key)
    }

    /// Leave the line; returns whether the waiter had been notified (a wake-up the
    /// caller must now consume or pass on).
    pub(crate) fn remove(&mut self, id: WaiterId) -> bool {
        let node = self.nodes.remove(id.0);
        if node.prev == NIL {
            self.head = node.next;
        } else {
            self.nodes[node.prev].next = node.next;
        }
        if node.next == NIL {
            self.tail = node.prev;
        } else {
            self.nodes[node.next].prev = node.prev;
        }
        if self.cursor == id.0 {
            self.cursor = node.next;
        }
        if node.notified {
            self.notified -= 1;
        }
        node.notified
    }

    /// Whether the waiter was notified.
    pub(crate) fn is_notified(&self, id: WaiterId) -> bool {
        self.nodes[id.0].notified
    }

    /// Remember the waker of a pending waiter that was polled again.
    pub(crate) fn set_waker(&mut self, id: WaiterId, waker: &Waker) {
        let node = &mut self.nodes[id.0];
        if node.notified {
            return;
        }
        match &mut node.waker {
            Some(w) => w.clone_from(waker),
            None => node.waker = Some(waker.clone()),
        }
    }

    /// Notify the oldest pending waiter; returns `false` if none is pending.
    pub(crate) fn notify_one(&mut self, wakers: &mut Wakers) -> bool {
        let mut key = self.cursor;
        while key != NIL && self.nodes[key].notified {
            key = self.nodes[key].next;
        }
        if key == NIL {
            self.cursor = NIL;
            return false;
        }
        let node = &mut self.nodes[key];
        node.notified = true;
        self.notified += 1;
        self.cursor = node.next;
        if let Some(w) = node.waker.take() {
            wakers.push(w);
        }
        true
    }

    /// Notify every pending waiter, oldest first; returns how many were notified.
    pub(crate) fn notify_all(&mut self, wakers: &mut Wakers) -> usize {
        let mut n = 0;
        while self.notify_one(wakers) {
            n += 1;
        }
        n
    }

    /// Turn a notified waiter back into a pending one, keeping its place in the line (it
    /// found that another party took what it was woken for).
    pub(crate) fn unnotify(&mut self, id: WaiterId, waker: &Waker) {
        let node = &mut self.nodes[id.0];
        debug_assert!(node.notified, "only a notified waiter can be un-notified");
        if !node.notified {
            return;
        }
        node.notified = false;
        node.waker = Some(waker.clone());
        let ticket = node.ticket;
        self.notified -= 1;
        if self.cursor == NIL || self.nodes[self.cursor].ticket > ticket {
            self.cursor = id.0;
        }
    }
}

impl Default for WaitQueue {
    fn default() -> Self {
        WaitQueue::new()
    }
}

impl fmt::Debug for WaitQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitQueue")
            .field("waiters", &self.len())
            .field("notified", &self.notified)
            .finish()
    }
}

/// Wakers collected while a primitive's state is borrowed, woken (in the order they were
/// collected) once the borrow has ended. One waker is kept inline; the list only
/// allocates when a single operation wakes several waiters.
#[derive(Default)]
#[must_use = "collected wakers must be woken"]
pub(crate) struct Wakers {
    first: Option<Waker>,
    rest: Vec<Waker>,
}

impl Wakers {
    /// An empty batch.
    pub(crate) const fn new() -> Self {
        Wakers {
            first: None,
            rest: Vec::new(),
        }
    }

    fn push(&mut self, waker: Waker) {
        if self.first.is_none() {
            self.first = Some(waker);
        } else {
            self.rest.push(waker);
        }
    }

    /// Wake everyone collected, in order.
    pub(crate) fn wake(self) {
        if let Some(w) = self.first {
            w.wake();
        }
        for w in self.rest {
            w.wake();
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use alloc::sync::Arc;
    use alloc::task::Wake;
    use core::sync::atomic::{AtomicUsize, Ordering};

    /// A waker that counts its wake-ups.
    pub(crate) struct Counter(pub(crate) AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    pub(crate) fn counter() -> (Arc<Counter>, Waker) {
        let c = Arc::new(Counter(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    pub(crate) fn count(c: &Counter) -> usize {
        c.0.load(Ordering::SeqCst)
    }

    #[test]
    fn notifies_in_fifo_order_and_skips_notified() {
        let mut q = WaitQueue::new();
        let (c1, w1) = counter();
        let (c2, w2) = counter();
        let (c3, w3) = counter();
        let a = q.push(&w1);
        let b = q.push(&w2);
        let c = q.push(&w3);
        let mut wk = Wakers::new();
        assert!(q.notify_one(&mut wk));
        assert!(q.is_notified(a) && !q.is_notified(b));
        assert!(q.notify_one(&mut wk));
        wk.wake();
        assert_eq!((count(&c1), count(&c2), count(&c3)), (1, 1, 0));
        assert_eq!(q.notified(), 2);
        assert!(q.has_pending());
        // Removing a notified waiter reports its wake-up.
        assert!(q.remove(a));
        assert!(!q.remove(c));
        assert_eq!(q.notified(), 1);
        assert!(!q.has_pending());
        let mut wk = Wakers::new();
        assert!(!q.notify_one(&mut wk));
        wk.wake();
        assert!(q.remove(b));
        assert!(q.is_empty());
    }

    #[test]
    fn removing_the_middle_keeps_order() {
        let mut q = WaitQueue::new();
        let (counters, ids): (Vec<_>, Vec<_>) = (0..4)
            .map(|_| {
                let (c, w) = counter();
                (c, q.push(&w))
            })
            .unzip();
        assert!(!q.remove(ids[1]));
        let mut wk = Wakers::new();
        assert_eq!(q.notify_all(&mut wk), 3);
        wk.wake();
        let counts: Vec<_> = counters.iter().map(|c| count(c)).collect();
        assert_eq!(counts, [1, 0, 1, 1]);
        // A newcomer after a full notify is pending and found through the cursor.
        let (c5, w5) = counter();
        let e = q.push(&w5);
        let mut wk = Wakers::new();
        assert!(q.notify_one(&mut wk));
        wk.wake();
        assert_eq!(count(&c5), 1);
        assert!(q.is_notified(e));
    }

    #[test]
    fn unnotify_keeps_the_place_in_line() {
        let mut q = WaitQueue::new();
        let (_, w) = counter();
        let a = q.push(&w);
        let b = q.push(&w);
        let c = q.push(&w);
        let mut wk = Wakers::new();
        assert_eq!(q.notify_all(&mut wk), 3);
        wk.wake();
        q.unnotify(b, &w);
        q.unnotify(a, &w);
        let mut wk = Wakers::new();
        assert!(q.notify_one(&mut wk));
        wk.wake();
        assert!(q.is_notified(a) && !q.is_notified(b) && q.is_notified(c));
        let mut wk = Wakers::new();
        assert!(q.notify_one(&mut wk));
        assert!(!q.notify_one(&mut wk));
        wk.wake();
        assert!(q.is_notified(b));
    }

    #[test]
    fn slots_are_reused_without_confusing_order() {
        let mut q = WaitQueue::new();
        let (_, w) = counter();
        let a = q.push(&w);
        let b = q.push(&w);
        q.remove(a);
        let c = q.push(&w); // reuses a's slot, but is last in line
        let mut wk = Wakers::new();
        assert!(q.notify_one(&mut wk));
        wk.wake();
        assert!(q.is_notified(b) && !q.is_notified(c));
    }
}
