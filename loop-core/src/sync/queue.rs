//! [`Queue`], [`PriorityQueue`] and [`LifoQueue`]: one waiting machinery
//! ([`GenericQueue`]) over three [`Storage`] disciplines.

use alloc::collections::{BinaryHeap, VecDeque};
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::cmp::Reverse;
use core::fmt;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use super::waitqueue::{WaitQueue, WaiterId, Wakers};
use crate::error::{Error, ErrorKind, Result};

// ----- storage ---------------------------------------------------------------------------

/// Where a queue keeps its items; decides which item a `get` returns.
///
/// [`Fifo`], [`Lifo`] and [`Priority`] are provided; implement it for another
/// discipline and use [`GenericQueue`] directly.
pub trait Storage: Default {
    /// The item type.
    type Item;

    /// Store an item.
    fn push(&mut self, item: Self::Item);

    /// Remove the next item to hand out, if any.
    fn pop(&mut self) -> Option<Self::Item>;

    /// Number of stored items.
    fn len(&self) -> usize;

    /// Whether no item is stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// First in, first out (asyncio's `Queue`).
#[derive(Debug)]
pub struct Fifo<T>(VecDeque<T>);

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Fifo(VecDeque::new())
    }
}

impl<T> Storage for Fifo<T> {
    type Item = T;
    fn push(&mut self, item: T) {
        self.0.push_back(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Last in, first out (asyncio's `LifoQueue`).
#[derive(Debug)]
pub struct Lifo<T>(Vec<T>);

impl<T> Default for Lifo<T> {
    fn default() -> Self {
        Lifo(Vec::new())
    }
}

impl<T> Storage for Lifo<T> {
    type Item = T;
    fn push(&mut self, item: T) {
        self.0.push(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Smallest first, in a binary heap (asyncio's `PriorityQueue`, which uses `heapq`).
/// Equal items come out in no particular order.
#[derive(Debug)]
pub struct Priority<T>(BinaryHeap<Reverse<T>>);

impl<T: Ord> Default for Priority<T> {
    fn default() -> Self {
        Priority(BinaryHeap::new())
    }
}

impl<T: Ord> Storage for Priority<T> {
    type Item = T;
    fn push(&mut self, item: T) {
        self.0.push(Reverse(item));
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop().map(|Reverse(item)| item)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

// ----- errors ----------------------------------------------------------------------------

/// [`put_nowait`](GenericQueue::put_nowait) found the queue full (asyncio's
/// `QueueFull`); the item is given back.
///
/// Converts into [`Error`] of kind [`ErrorKind::QueueFull`] (the item is dropped).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct QueueFull<T>(pub T);

impl<T> QueueFull<T> {
    /// The item that did not fit.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for QueueFull<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("QueueFull").finish_non_exhaustive()
    }
}

impl<T> fmt::Display for QueueFull<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue full")
    }
}

impl<T> core::error::Error for QueueFull<T> {}

impl<T> From<QueueFull<T>> for Error {
    fn from(_: QueueFull<T>) -> Self {
        Error::from_kind(ErrorKind::QueueFull)
    }
}

/// [`get_nowait`](GenericQueue::get_nowait) found the queue empty (asyncio's
/// `QueueEmpty`).
///
/// Converts into [`Error`] of kind [`ErrorKind::QueueEmpty`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueEmpty;

impl fmt::Display for QueueEmpty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue empty")
    }
}

impl core::error::Error for QueueEmpty {}

impl From<QueueEmpty> for Error {
    fn from(_: QueueEmpty) -> Self {
        Error::from_kind(ErrorKind::QueueEmpty)
    }
}

// ----- state -----------------------------------------------------------------------------

/// The items, the three lines (getters, putters, joiners) and the unfinished count.
///
/// Fairness: a notified getter (putter) has an item (a free slot) reserved for it until
/// it runs, so a later `get().await` (`put().await`) cannot take it first. The
/// non-waiting `get_nowait` / `put_nowait` keep asyncio's exact behaviour (they succeed
/// whenever an item / a slot exists); a notified waiter they robbed stays at its place at
/// the head of the line.
struct QueueState<S> {
    items: S,
    maxsize: usize,
    getters: WaitQueue,
    putters: WaitQueue,
    joiners: WaitQueue,
    /// Items put and not yet marked done with `task_done` (`u64`: it only grows when
    /// `task_done` is never called, and must not wrap on 32-bit targets).
    unfinished: u64,
}

impl<S: Storage> QueueState<S> {
    fn new(maxsize: usize) -> Self {
        QueueState {
            items: S::default(),
            maxsize,
            getters: WaitQueue::new(),
            putters: WaitQueue::new(),
            joiners: WaitQueue::new(),
            unfinished: 0,
        }
    }

    fn full(&self) -> bool {
        self.maxsize > 0 && self.items.len() >= self.maxsize
    }

    fn free_slots(&self) -> usize {
        if self.maxsize == 0 {
            usize::MAX
        } else {
            self.maxsize.saturating_sub(self.items.len())
        }
    }

    /// Notify pending getters while there are items not reserved for notified ones.
    fn wake_getters(&mut self, wakers: &mut Wakers) {
        while self.items.len() > self.getters.notified() && self.getters.notify_one(wakers) {}
    }

    /// Notify pending putters while there are slots not reserved for notified ones.
    fn wake_putters(&mut self, wakers: &mut Wakers) {
        while self.free_slots() > self.putters.notified() && self.putters.notify_one(wakers) {}
    }

    fn store(&mut self, item: S::Item, wakers: &mut Wakers) {
        self.items.push(item);
        self.unfinished += 1;
        self.wake_getters(wakers);
    }

    fn take(&mut self, wakers: &mut Wakers) -> Option<S::Item> {
        let item = self.items.pop()?;
        self.wake_putters(wakers);
        Some(item)
    }

    fn put_nowait(&mut self, item: S::Item, wakers: &mut Wakers) -> Result<(), QueueFull<S::Item>> {
        if self.full() {
            return Err(QueueFull(item));
        }
        self.store(item, wakers);
        Ok(())
    }

    fn get_nowait(&mut self, wakers: &mut Wakers) -> Result<S::Item, QueueEmpty> {
        self.take(wakers).ok_or(QueueEmpty)
    }

    /// First poll of `put().await`: store at once only if no putter is in line and a
    /// slot is free beyond those reserved for notified putters.
    fn start_put(
        &mut self,
        item: &mut Option<S::Item>,
        waker: &Waker,
        wakers: &mut Wakers,
    ) -> Option<WaiterId> {
        if !self.putters.has_pending() && self.free_slots() > self.putters.notified() {
            if let Some(item) = item.take() {
                self.store(item, wakers);
            }
            None
        } else {
            Some(self.putters.push(waker))
        }
    }

    fn poll_putter(
        &mut self,
        id: WaiterId,
        item: &mut Option<S::Item>,
        waker: &Waker,
        wakers: &mut Wakers,
    ) -> Poll<()> {
        if !self.putters.is_notified(id) {
            self.putters.set_waker(id, waker);
            return Poll::Pending;
        }
        if self.full() {
            // A put_nowait took the slot: keep the place at the head of the line.
            self.putters.unnotify(id, waker);
            return Poll::Pending;
        }
        self.putters.remove(id);
        if let Some(item) = item.take() {
            self.store(item, wakers);
        }
        Poll::Ready(())
    }

    fn cancel_putter(&mut self, id: WaiterId, wakers: &mut Wakers) {
        if self.putters.remove(id) {
            self.wake_putters(wakers);
        }
    }

    /// First poll of `get().await`: take at once only if no getter is in line and an
    /// item is there beyond those reserved for notified getters.
    fn start_get(&mut self, waker: &Waker, wakers: &mut Wakers) -> Result<S::Item, WaiterId> {
        if !self.getters.has_pending()
            && self.items.len() > self.getters.notified()
            && let Some(item) = self.take(wakers)
        {
            return Ok(item);
        }
        Err(self.getters.push(waker))
    }

    fn poll_getter(&mut self, id: WaiterId, waker: &Waker, wakers: &mut Wakers) -> Poll<S::Item> {
        if !self.getters.is_notified(id) {
            self.getters.set_waker(id, waker);
            return Poll::Pending;
        }
        if self.items.is_empty() {
            // A get_nowait took the item: keep the place at the head of the line.
            self.getters.unnotify(id, waker);
            return Poll::Pending;
        }
        self.getters.remove(id);
        match self.take(wakers) {
            Some(item) => Poll::Ready(item),
            None => unreachable!("checked non-empty"),
        }
    }

    fn cancel_getter(&mut self, id: WaiterId, wakers: &mut Wakers) {
        if self.getters.remove(id) {
            self.wake_getters(wakers);
        }
    }

    fn task_done(&mut self, wakers: &mut Wakers) -> Result<()> {
        if self.unfinished == 0 {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "task_done() called too many times",
            ));
        }
        self.unfinished -= 1;
        if self.unfinished == 0 {
            self.joiners.notify_all(wakers);
        }
        Ok(())
    }
}

// ----- the queue -------------------------------------------------------------------------

/// asyncio's queue machinery over any [`Storage`]; use it through [`Queue`],
/// [`PriorityQueue`] or [`LifoQueue`].
///
/// - `maxsize` 0 means unbounded; otherwise [`put`](Self::put) waits while
///   [`qsize`](Self::qsize) is `maxsize`.
/// - [`get`](Self::get) waits for an item; [`get_nowait`](Self::get_nowait) and
///   [`put_nowait`](Self::put_nowait) never wait and fail with [`QueueEmpty`] /
///   [`QueueFull`] (which gives the item back).
/// - Every put counts an unfinished task; [`task_done`](Self::task_done) marks one done
///   and [`join`](Self::join) waits until none is left.
///
/// Getters and putters are served first come, first served: when an item (a slot)
/// arrives it is reserved for the first waiting getter (putter) until it runs, so a
/// later `get().await` cannot overtake it. A waiter dropped after it was woken (its task
/// cancelled) passes its item or slot to the next one. `get_nowait` / `put_nowait` do not
/// wait, so as in asyncio they succeed whenever an item / a free slot exists; if they
/// take one reserved for a woken waiter, that waiter keeps the head of the line.
///
/// Single-threaded, so [`qsize`](Self::qsize) is exact: nothing else runs between
/// checking it and the next operation. The handle is cheap to clone; clones share the
/// queue.
pub struct GenericQueue<S> {
    state: Rc<RefCell<QueueState<S>>>,
}

/// asyncio's `Queue`: first in, first out.
///
/// # Examples
///
/// ```
/// use loop_core::{EventLoop, sim::SimHost, sync::Queue};
///
/// let lp = EventLoop::new(SimHost::new(1));
/// let queue = Queue::new(2); // at most 2 items
/// let q = queue.clone();
/// let consumer = lp.create_task(async move {
///     let mut got = Vec::new();
///     for _ in 0..3 {
///         got.push(q.get().await);
///         q.task_done().unwrap();
///     }
///     got
/// });
/// let q = queue.clone();
/// lp.create_task(async move {
///     for i in 1..=3 {
///         q.put(i).await; // waits while the queue is full
///     }
///     q.join().await; // until every item was marked done
/// });
/// assert_eq!(lp.run_until_complete(consumer)??, [1, 2, 3]);
/// assert!(queue.put_nowait(4).is_ok());
/// assert!(queue.put_nowait(5).is_ok());
/// assert_eq!(queue.put_nowait(6).unwrap_err().into_inner(), 6); // full
/// # Ok::<(), loop_core::Error>(())
/// ```
pub type Queue<T> = GenericQueue<Fifo<T>>;

/// asyncio's `PriorityQueue`: smallest item first (use `(priority, data)` tuples, or
/// [`core::cmp::Reverse`] for largest first).
///
/// # Examples
///
/// ```
/// use loop_core::sync::PriorityQueue;
///
/// let queue = PriorityQueue::new(0);
/// for job in [(3, "low"), (1, "urgent"), (2, "normal")] {
///     queue.put_nowait(job)?;
/// }
/// assert_eq!(queue.get_nowait()?, (1, "urgent"));
/// assert_eq!(queue.get_nowait()?, (2, "normal"));
/// # Ok::<(), loop_core::Error>(())
/// ```
pub type PriorityQueue<T> = GenericQueue<Priority<T>>;

/// asyncio's `LifoQueue`: most recently added item first.
///
/// # Examples
///
/// ```
/// use loop_core::sync::LifoQueue;
///
/// let stack = LifoQueue::new(0);
/// stack.put_nowait('a')?;
/// stack.put_nowait('b')?;
/// assert_eq!(stack.get_nowait()?, 'b');
/// assert_eq!(stack.get_nowait()?, 'a');
/// assert!(stack.get_nowait().is_err()); // QueueEmpty
/// # Ok::<(), loop_core::Error>(())
/// ```
pub type LifoQueue<T> = GenericQueue<Lifo<T>>;

impl<S> Clone for GenericQueue<S> {
    fn clone(&self) -> Self {
        GenericQueue {
            state: self.state.clone(),
        }
    }
}

impl<S: Storage> GenericQueue<S> {
    /// A queue holding at most `maxsize` items; 0 means unbounded.
    pub fn new(maxsize: usize) -> Self {
        GenericQueue {
            state: Rc::new(RefCell::new(QueueState::new(maxsize))),
        }
    }

    /// The maximum number of items (0: unbounded).
    pub fn maxsize(&self) -> usize {
        self.state.borrow().maxsize
    }

    /// The number of items in the queue.
    pub fn qsize(&self) -> usize {
        self.state.borrow().items.len()
    }

    /// Whether the queue holds no item.
    pub fn empty(&self) -> bool {
        self.state.borrow().items.is_empty()
    }

    /// Whether the queue holds `maxsize` items (never, for an unbounded queue).
    pub fn full(&self) -> bool {
        self.state.borrow().full()
    }

    /// Put an item in, waiting for a free slot if the queue is full.
    ///
    /// Dropping the future before it completes drops the item and leaves the line; a
    /// slot already reserved for it goes to the next putter.
    pub fn put(&self, item: S::Item) -> QueuePut<'_, S> {
        QueuePut {
            queue: self,
            item: Some(item),
            state: Step::Start,
        }
    }

    /// Put an item in without waiting.
    ///
    /// # Errors
    ///
    /// [`QueueFull`], carrying the item back, if the queue is full.
    pub fn put_nowait(&self, item: S::Item) -> Result<(), QueueFull<S::Item>> {
        let mut wakers = Wakers::new();
        let result = self.state.borrow_mut().put_nowait(item, &mut wakers);
        wakers.wake();
        result
    }

    /// Take an item out, waiting for one if the queue is empty.
    ///
    /// Dropping the future before it completes leaves the line; an item already
    /// reserved for it goes to the next getter (it stays in the queue).
    pub fn get(&self) -> QueueGet<'_, S> {
        QueueGet {
            queue: self,
            state: Step::Start,
        }
    }

    /// Take an item out without waiting.
    ///
    /// # Errors
    ///
    /// [`QueueEmpty`] if the queue is empty.
    pub fn get_nowait(&self) -> Result<S::Item, QueueEmpty> {
        let mut wakers = Wakers::new();
        let result = self.state.borrow_mut().get_nowait(&mut wakers);
        wakers.wake();
        result
    }

    /// Mark one item taken from the queue as processed; when every item put so far is
    /// done, [`join`](Self::join) returns.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] (asyncio's `ValueError`) if called more times than
    /// items were put.
    pub fn task_done(&self) -> Result<()> {
        let mut wakers = Wakers::new();
        let result = self.state.borrow_mut().task_done(&mut wakers);
        wakers.wake();
        result
    }

    /// Wait until every item put so far has been marked done with
    /// [`task_done`](Self::task_done) (at once if none is unfinished).
    pub fn join(&self) -> QueueJoin<'_, S> {
        QueueJoin {
            queue: self,
            state: Step::Start,
        }
    }

    /// Whether two handles refer to the same queue.
    pub fn ptr_eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.state, &other.state)
    }
}

impl<S: Storage> fmt::Debug for GenericQueue<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state.borrow();
        f.debug_struct("Queue")
            .field("maxsize", &st.maxsize)
            .field("qsize", &st.items.len())
            .field("getters", &st.getters.len())
            .field("putters", &st.putters.len())
            .field("unfinished", &st.unfinished)
            .finish()
    }
}

// ----- futures ---------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Step {
    Start,
    Waiting(WaiterId),
    Done,
}

/// The future returned by [`GenericQueue::put`].
#[must_use = "futures do nothing unless awaited"]
pub struct QueuePut<'a, S: Storage> {
    queue: &'a GenericQueue<S>,
    item: Option<S::Item>,
    state: Step,
}

// The item is only ever moved by value (never pinned), so the future can be `Unpin`
// whatever the item type.
impl<S: Storage> Unpin for QueuePut<'_, S> {}

impl<S: Storage> core::future::Future for QueuePut<'_, S> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut wakers = Wakers::new();
        let mut st = this.queue.state.borrow_mut();
        match this.state {
            Step::Start => {
                if let Some(id) = st.start_put(&mut this.item, cx.waker(), &mut wakers) {
                    this.state = Step::Waiting(id);
                    return Poll::Pending;
                }
            }
            Step::Waiting(id) => {
                if st
                    .poll_putter(id, &mut this.item, cx.waker(), &mut wakers)
                    .is_pending()
                {
                    return Poll::Pending;
                }
            }
            Step::Done => panic!("`QueuePut` polled after completion"),
        }
        drop(st);
        wakers.wake();
        this.state = Step::Done;
        Poll::Ready(())
    }
}

impl<S: Storage> Drop for QueuePut<'_, S> {
    fn drop(&mut self) {
        if let Step::Waiting(id) = self.state {
            let mut wakers = Wakers::new();
            self.queue.state.borrow_mut().cancel_putter(id, &mut wakers);
            wakers.wake();
        }
    }
}

impl<S: Storage> fmt::Debug for QueuePut<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueuePut")
            .field("queue", self.queue)
            .field("waiting", &matches!(self.state, Step::Waiting(_)))
            .finish()
    }
}

/// The future returned by [`GenericQueue::get`].
#[must_use = "futures do nothing unless awaited"]
pub struct QueueGet<'a, S: Storage> {
    queue: &'a GenericQueue<S>,
    state: Step,
}

impl<S: Storage> core::future::Future for QueueGet<'_, S> {
    type Output = S::Item;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<S::Item> {
        let this = self.get_mut();
        let mut wakers = Wakers::new();
        let mut st = this.queue.state.borrow_mut();
        let item = match this.state {
            Step::Start => match st.start_get(cx.waker(), &mut wakers) {
                Ok(item) => item,
                Err(id) => {
                    this.state = Step::Waiting(id);
                    return Poll::Pending;
                }
            },
            Step::Waiting(id) => match st.poll_getter(id, cx.waker(), &mut wakers) {
                Poll::Ready(item) => item,
                Poll::Pending => return Poll::Pending,
            },
            Step::Done => panic!("`QueueGet` polled after completion"),
        };
        drop(st);
        wakers.wake();
        this.state = Step::Done;
        Poll::Ready(item)
    }
}

impl<S: Storage> Drop for QueueGet<'_, S> {
    fn drop(&mut self) {
        if let Step::Waiting(id) = self.state {
            let mut wakers = Wakers::new();
            self.queue.state.borrow_mut().cancel_getter(id, &mut wakers);
            wakers.wake();
        }
    }
}

impl<S: Storage> fmt::Debug for QueueGet<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueGet")
            .field("queue", self.queue)
            .field("waiting", &matches!(self.state, Step::Waiting(_)))
            .finish()
    }
}

/// The future returned by [`GenericQueue::join`].
#[must_use = "futures do nothing unless awaited"]
pub struct QueueJoin<'a, S: Storage> {
    queue: &'a GenericQueue<S>,
    state: Step,
}

impl<S: Storage> core::future::Future for QueueJoin<'_, S> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut st = this.queue.state.borrow_mut();
        match this.state {
            Step::Start => {
                if st.unfinished > 0 {
                    this.state = Step::Waiting(st.joiners.push(cx.waker()));
                    return Poll::Pending;
                }
            }
            Step::Waiting(id) => {
                if !st.joiners.is_notified(id) {
                    st.joiners.set_waker(id, cx.waker());
                    return Poll::Pending;
                }
                st.joiners.remove(id);
            }
            Step::Done => panic!("`QueueJoin` polled after completion"),
        }
        this.state = Step::Done;
        Poll::Ready(())
    }
}

impl<S: Storage> Drop for QueueJoin<'_, S> {
    fn drop(&mut self) {
        if let Step::Waiting(id) = self.state {
            // Every joiner is woken when the count reaches zero: nothing to pass on.
            self.queue.state.borrow_mut().joiners.remove(id);
        }
    }
}

impl<S: Storage> fmt::Debug for QueueJoin<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueJoin")
            .field("queue", self.queue)
            .field("waiting", &matches!(self.state, Step::Waiting(_)))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::waitqueue::tests::{count, counter};

    #[test]
    fn woken_getter_keeps_its_item_against_newcomers() {
        let mut st = QueueState::<Fifo<i32>>::new(0);
        let (c1, w1) = counter();
        let (_, w2) = counter();
        let mut wk = Wakers::new();
        let g1 = st.start_get(&w1, &mut wk).unwrap_err();
        st.put_nowait(7, &mut wk).unwrap();
        wk.wake();
        assert_eq!(count(&c1), 1);
        // The item is reserved for g1: a newcomer's get().await queues.
        let mut wk = Wakers::new();
        let g2 = st.start_get(&w2, &mut wk).unwrap_err();
        assert_eq!(st.poll_getter(g1, &w1, &mut wk), Poll::Ready(7));
        assert_eq!(st.poll_getter(g2, &w2, &mut wk), Poll::Pending);
        wk.wake();
    }

    #[test]
    fn robbed_getter_keeps_head_of_line() {
        let mut st = QueueState::<Fifo<i32>>::new(0);
        let (_, w1) = counter();
        let (c2, w2) = counter();
        let mut wk = Wakers::new();
        let g1 = st.start_get(&w1, &mut wk).unwrap_err();
        let g2 = st.start_get(&w2, &mut wk).unwrap_err();
        st.put_nowait(1, &mut wk).unwrap();
        assert_eq!(st.get_nowait(&mut wk), Ok(1)); // asyncio: nowait may take it
        assert_eq!(st.poll_getter(g1, &w1, &mut wk), Poll::Pending);
        st.put_nowait(2, &mut wk).unwrap();
        wk.wake();
        assert_eq!(count(&c2), 0, "g1 is still first in line");
        let mut wk = Wakers::new();
        assert_eq!(st.poll_getter(g1, &w1, &mut wk), Poll::Ready(2));
        assert_eq!(st.poll_getter(g2, &w2, &mut wk), Poll::Pending);
        wk.wake();
    }

    #[test]
    fn cancelled_woken_putter_passes_its_slot() {
        let mut st = QueueState::<Fifo<i32>>::new(1);
        let (_, w1) = counter();
        let (c2, w2) = counter();
        let mut wk = Wakers::new();
        st.put_nowait(0, &mut wk).unwrap();
        let p1 = st.start_put(&mut Some(1), &w1, &mut wk).unwrap();
        let mut item2 = Some(2);
        let p2 = st.start_put(&mut item2, &w2, &mut wk).unwrap();
        assert_eq!(st.get_nowait(&mut wk), Ok(0));
        st.cancel_putter(p1, &mut wk);
        wk.wake();
        assert_eq!(count(&c2), 1);
        let mut wk = Wakers::new();
        assert_eq!(
            st.poll_putter(p2, &mut item2, &w2, &mut wk),
            Poll::Ready(())
        );
        wk.wake();
        assert_eq!(st.items.len(), 1);
        assert_eq!(st.unfinished, 2);
    }

    #[test]
    fn task_done_too_often_is_invalid_input() {
        let mut st = QueueState::<Lifo<u8>>::new(0);
        let mut wk = Wakers::new();
        st.put_nowait(1, &mut wk).unwrap();
        st.task_done(&mut wk).unwrap();
        assert_eq!(
            st.task_done(&mut wk).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        wk.wake();
    }

    #[test]
    fn storages_order_items() {
        let mut fifo = Fifo::default();
        let mut lifo = Lifo::default();
        let mut prio = Priority::default();
        for i in [2, 3, 1] {
            fifo.push(i);
            lifo.push(i);
            prio.push(i);
        }
        let drain = |s: &mut dyn FnMut() -> Option<i32>| core::iter::from_fn(s).collect::<Vec<_>>();
        assert_eq!(drain(&mut || fifo.pop()), [2, 3, 1]);
        assert_eq!(drain(&mut || lifo.pop()), [1, 3, 2]);
        assert_eq!(drain(&mut || prio.pop()), [1, 2, 3]);
    }
}
