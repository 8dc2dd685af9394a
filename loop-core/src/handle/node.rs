//! [`NodeRef`]: the reference-counted node behind a [`Handle`](super::Handle), with the
//! callback's closure stored in place, so that a spent node can be reused for the next
//! callback instead of allocating one per `call_soon`.
//!
//! A closure of at most [`WORDS`] machine words (and no stricter alignment) is stored in
//! place; a larger one is boxed and its box stored in place. The node records the
//! closure's type-specific operations in a static table, so every node has one concrete
//! type whatever closure it holds. The count, the flags and the table take 16 bytes
//! (an `Rc` would take 24 before the table), so with a three-word closure a node is 40
//! bytes: timers keep one per pending timer, and their size is what a large timer heap
//! pays for in cache misses. This module is the only unsafe code of the handle.

use alloc::boxed::Box;
use core::cell::{Cell, UnsafeCell};
use core::marker::PhantomData;
use core::mem::{MaybeUninit, align_of, size_of};
use core::ptr::NonNull;

/// Machine words a closure may take to be stored in place.
const WORDS: usize = 3;

type Buf = MaybeUninit<[usize; WORDS]>;

/// The buffer holds a closure (`vtable`'s type).
const LIVE: u8 = 0x80;

/// The operations on the value a node stores (`F` or `Box<F>`).
struct VTable {
    /// Run the closure. A one-shot closure is moved out of the buffer (which the caller
    /// has marked empty); a repeating one is called in place.
    call: unsafe fn(*mut Buf),
    /// Drop the stored value in place.
    drop: unsafe fn(*mut Buf),
    /// The closure's type name.
    name: fn() -> &'static str,
    /// Called by reference (`Fn`) and kept after a call, rather than consumed.
    repeat: bool,
}

/// Whether `F` can be stored in place.
const fn fits<F>() -> bool {
    size_of::<F>() <= size_of::<Buf>() && align_of::<F>() <= align_of::<Buf>()
}

/// # Safety
///
/// `buf` holds a live `F`, which the caller treats as moved out from now on.
unsafe fn call_once_inline<F: FnOnce()>(buf: *mut Buf) {
    // SAFETY: per the contract, `buf` holds a live `F` that nobody will read again.
    let f = unsafe { buf.cast::<F>().read() };
    f();
}

/// # Safety
///
/// `buf` holds a live `Box<F>`, which the caller treats as moved out from now on.
unsafe fn call_once_boxed<F: FnOnce()>(buf: *mut Buf) {
    // SAFETY: as for `call_once_inline`, with the box stored in place.
    let f = unsafe { buf.cast::<Box<F>>().read() };
    f();
}

/// # Safety
///
/// `buf` holds a live `F` that stays in place (and is not dropped) during the call.
unsafe fn call_repeat_inline<F: Fn()>(buf: *mut Buf) {
    // SAFETY: per the contract the `F` is live and only shared during the call.
    let f = unsafe { &*buf.cast::<F>() };
    f();
}

/// # Safety
///
/// `buf` holds a live `Box<F>` that stays in place (and is not dropped) during the call.
unsafe fn call_repeat_boxed<F: Fn()>(buf: *mut Buf) {
    // SAFETY: as for `call_repeat_inline`, with the box stored in place.
    let f = unsafe { &**buf.cast::<Box<F>>() };
    f();
}

/// # Safety
///
/// `buf` holds a live `P`, which is dead after this call.
unsafe fn drop_stored<P>(buf: *mut Buf) {
    // SAFETY: per the contract.
    unsafe { buf.cast::<P>().drop_in_place() }
}

fn name_of<F>() -> &'static str {
    core::any::type_name::<F>()
}

/// The tables of a one-shot closure type, for each way of storing it.
trait OnceTables {
    const INLINE: VTable;
    const BOXED: VTable;
}

impl<F: FnOnce() + 'static> OnceTables for F {
    const INLINE: VTable = VTable {
        call: call_once_inline::<F>,
        drop: drop_stored::<F>,
        name: name_of::<F>,
        repeat: false,
    };
    const BOXED: VTable = VTable {
        call: call_once_boxed::<F>,
        drop: drop_stored::<Box<F>>,
        name: name_of::<F>,
        repeat: false,
    };
}

/// The tables of a repeating closure type, for each way of storing it.
trait RepeatTables {
    const INLINE: VTable;
    const BOXED: VTable;
}

impl<F: Fn() + 'static> RepeatTables for F {
    const INLINE: VTable = VTable {
        call: call_repeat_inline::<F>,
        drop: drop_stored::<F>,
        name: name_of::<F>,
        repeat: true,
    };
    const BOXED: VTable = VTable {
        call: call_repeat_boxed::<F>,
        drop: drop_stored::<Box<F>>,
        name: name_of::<F>,
        repeat: true,
    };
}

/// Invariant: while `state` has [`LIVE`], `buf` holds a value of the type `vtable` was
/// made for (`F` in place or `Box<F>`); without it, `buf` holds nothing to drop.
/// `vtable` always names the last closure stored, so `name` still works after a one-shot
/// closure ran.
struct Node {
    refs: Cell<u32>,
    /// [`LIVE`] and the handle's flags.
    state: Cell<u8>,
    vtable: Cell<&'static VTable>,
    buf: UnsafeCell<Buf>,
}

impl Node {
    /// Drop the stored closure, if any. `LIVE` is cleared first, so a destructor that
    /// re-enters the node finds it empty.
    fn release(&self) {
        let state = self.state.get();
        if state & LIVE == 0 {
            return;
        }
        self.state.set(state & !LIVE);
        // SAFETY: `LIVE` was set, so the buffer held a value of `vtable`'s type; with the
        // flag now clear nothing else will read or drop it.
        unsafe { (self.vtable.get().drop)(self.buf.get()) };
    }
}

/// A counted reference to a callback node (like an `Rc`, without a weak count).
pub(crate) struct NodeRef {
    /// Invariant: points to a live `Node` allocated by `NodeRef::new`, of which this
    /// reference owns one count.
    ptr: NonNull<Node>,
    owns: PhantomData<Node>,
}

impl NodeRef {
    fn new(vtable: &'static VTable) -> NodeRef {
        let node = Box::new(Node {
            refs: Cell::new(1),
            state: Cell::new(0),
            vtable: Cell::new(vtable),
            buf: UnsafeCell::new(MaybeUninit::uninit()),
        });
        NodeRef {
            // SAFETY: `Box::into_raw` never returns null.
            ptr: unsafe { NonNull::new_unchecked(Box::into_raw(node)) },
            owns: PhantomData,
        }
    }

    fn node(&self) -> &Node {
        // SAFETY: per the invariant the node is live while this reference exists.
        unsafe { self.ptr.as_ref() }
    }

    /// A node holding the one-shot closure `f`.
    pub(crate) fn once<F: FnOnce() + 'static>(f: F) -> NodeRef {
        let node = NodeRef::new(&<F as OnceTables>::INLINE);
        node.store_once(f);
        node
    }

    /// A node holding the repeating closure `f`.
    pub(crate) fn repeat<F: Fn() + 'static>(f: F) -> NodeRef {
        let this = NodeRef::new(&<F as RepeatTables>::INLINE);
        let node = this.node();
        if fits::<F>() {
            // SAFETY: the node is new and empty; `F` fits the buffer's size and alignment.
            unsafe { node.buf.get().cast::<F>().write(f) };
        } else {
            node.vtable.set(&<F as RepeatTables>::BOXED);
            // SAFETY: the node is new and empty; a box fits the buffer.
            unsafe { node.buf.get().cast::<Box<F>>().write(Box::new(f)) };
        }
        node.state.set(LIVE);
        this
    }

    /// Store `f` in the empty node.
    fn store_once<F: FnOnce() + 'static>(&self, f: F) {
        let node = self.node();
        debug_assert!(node.state.get() & LIVE == 0);
        if fits::<F>() {
            node.vtable.set(&<F as OnceTables>::INLINE);
            // SAFETY: the node is empty (nothing to overwrite), `F` fits the buffer's
            // size and alignment, and no reference into the buffer exists: calls and
            // drops only happen while `LIVE` is set.
            unsafe { node.buf.get().cast::<F>().write(f) };
        } else {
            node.vtable.set(&<F as OnceTables>::BOXED);
            // SAFETY: as above; a box fits the buffer.
            unsafe { node.buf.get().cast::<Box<F>>().write(Box::new(f)) };
        }
        node.state.set(node.state.get() | LIVE);
    }

    /// Whether this is the only reference to the node.
    pub(crate) fn is_unique(&self) -> bool {
        self.node().refs.get() == 1
    }

    /// Reuse this node, which must be the only reference and spent (its closure ran or
    /// was released), for the one-shot closure `f`, with clear flags. Gives `f` back if
    /// the node is shared or still holds a closure.
    pub(crate) fn refill_once<F: FnOnce() + 'static>(&mut self, f: F) -> Result<(), F> {
        let node = self.node();
        if node.refs.get() != 1 || node.state.get() & LIVE != 0 {
            return Err(f);
        }
        node.state.set(0);
        self.store_once(f);
        Ok(())
    }

    /// The handle's flags.
    pub(crate) fn flags(&self) -> u8 {
        self.node().state.get() & !LIVE
    }

    /// Replace the handle's flags (`LIVE` is kept as it is).
    pub(crate) fn set_flags(&self, flags: u8) {
        let state = &self.node().state;
        state.set((state.get() & LIVE) | (flags & !LIVE));
    }

    /// Whether the node still holds its closure (a one-shot closure that ran, or one
    /// that was released, is gone).
    pub(crate) fn is_live(&self) -> bool {
        self.node().state.get() & LIVE != 0
    }

    /// Run the closure if the node holds one. A one-shot closure is moved out first, so
    /// the node is spent even if the call panics, and a re-entrant `release` or `call`
    /// from inside the closure finds it empty.
    pub(crate) fn call(&self) {
        let node = self.node();
        let state = node.state.get();
        if state & LIVE == 0 {
            return;
        }
        let vtable = node.vtable.get();
        if !vtable.repeat {
            node.state.set(state & !LIVE);
        }
        // SAFETY: `LIVE` was set, so the buffer holds the value `vtable` was made for. A
        // one-shot value is read out exactly once (`LIVE` is now clear, so nothing else
        // will read or drop it). A repeating value stays live and in place: `release`
        // keeps it, and it is only dropped with the node, which this reference keeps
        // alive for the whole call.
        unsafe { (vtable.call)(node.buf.get()) };
    }

    /// Drop a one-shot closure that has not run (a cancel); a repeating closure stays
    /// until the node is dropped, since it may be running.
    pub(crate) fn release(&self) {
        let node = self.node();
        if !node.vtable.get().repeat {
            node.release();
        }
    }

    /// The type name of the closure stored last.
    pub(crate) fn name(&self) -> &'static str {
        (self.node().vtable.get().name)()
    }

    /// Whether two references point to the same node.
    pub(crate) fn ptr_eq(&self, other: &NodeRef) -> bool {
        self.ptr == other.ptr
    }
}

impl Clone for NodeRef {
    fn clone(&self) -> Self {
        let refs = &self.node().refs;
        let n = refs.get();
        assert!(n < u32::MAX, "handle reference count overflow");
        refs.set(n + 1);
        NodeRef {
            ptr: self.ptr,
            owns: PhantomData,
        }
    }
}

impl Drop for NodeRef {
    fn drop(&mut self) {
        let node = self.node();
        let n = node.refs.get() - 1;
        node.refs.set(n);
        if n == 0 {
            // No reference is left: drop the closure (a destructor that re-enters the
            // node through a reference it holds cannot exist, since none is left), then
            // free the node.
            node.release();
            // SAFETY: the node was allocated by `Box::new` in `NodeRef::new`, and this
            // was its last reference; `Node` has no destructor of its own (the closure
            // was dropped just above).
            drop(unsafe { Box::from_raw(self.ptr.as_ptr()) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::rc::Rc;
    use core::cell::Cell;

    /// Counts drops of the values it is cloned into.
    #[derive(Clone)]
    struct Probe(Rc<Cell<u32>>);
    impl Drop for Probe {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_node_with_a_three_word_closure_is_forty_bytes() {
        assert_eq!(size_of::<Node>(), 40);
    }

    #[test]
    fn a_small_one_shot_closure_runs_once_and_is_dropped_once() {
        let drops = Rc::new(Cell::new(0));
        let runs = Rc::new(Cell::new(0));
        let (p, r) = (Probe(drops.clone()), runs.clone());
        let node = NodeRef::once(move || {
            let _p = &p;
            r.set(r.get() + 1);
        });
        assert!(node.is_live());
        node.call();
        node.call();
        assert_eq!((runs.get(), drops.get()), (1, 1));
        assert!(!node.is_live());
        drop(node);
        assert_eq!(drops.get(), 1);
    }

    #[test]
    fn a_large_one_shot_closure_is_boxed_and_works_the_same() {
        let drops = Rc::new(Cell::new(0));
        let big = [7u64; 16];
        let p = Probe(drops.clone());
        let sum = Rc::new(Cell::new(0));
        let s = sum.clone();
        let node = NodeRef::once(move || {
            let _p = &p;
            s.set(big.iter().sum());
        });
        node.call();
        assert_eq!((sum.get(), drops.get()), (112, 1));
    }

    #[test]
    fn releasing_drops_an_unrun_closure_and_a_spent_unique_node_is_refilled() {
        let drops = Rc::new(Cell::new(0));
        let p = Probe(drops.clone());
        let mut node = NodeRef::once(move || {
            let _p = &p;
        });
        node.set_flags(3);
        node.release();
        node.release();
        assert_eq!(drops.get(), 1);
        node.call();
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        assert!(node.refill_once(move || r.set(true)).is_ok());
        assert_eq!(node.flags(), 0);
        assert!(node.name().contains("closure"));
        node.call();
        assert!(ran.get());
    }

    #[test]
    fn a_shared_or_live_node_is_not_refilled() {
        let mut node = NodeRef::once(|| {});
        assert!(node.refill_once(|| {}).is_err());
        node.call();
        let other = node.clone();
        assert!(!node.is_unique());
        assert!(node.refill_once(|| {}).is_err());
        assert!(node.ptr_eq(&other));
        drop(other);
        assert!(node.is_unique());
        assert!(node.refill_once(|| {}).is_ok());
    }

    #[test]
    fn the_closure_is_dropped_with_the_last_reference() {
        let drops = Rc::new(Cell::new(0));
        let p = Probe(drops.clone());
        let node = NodeRef::once(move || {
            let _p = &p;
        });
        let other = node.clone();
        drop(node);
        assert_eq!(drops.get(), 0);
        drop(other);
        assert_eq!(drops.get(), 1);
    }

    #[test]
    fn a_repeating_closure_runs_each_time_and_survives_release() {
        let runs = Rc::new(Cell::new(0));
        let drops = Rc::new(Cell::new(0));
        let (r, p) = (runs.clone(), Probe(drops.clone()));
        let node = NodeRef::repeat(move || {
            let _p = &p;
            r.set(r.get() + 1);
        });
        node.call();
        node.release();
        node.call();
        assert_eq!((runs.get(), drops.get()), (2, 0));
        drop(node);
        assert_eq!(drops.get(), 1);
    }

    #[test]
    fn a_large_repeating_closure_is_boxed() {
        let big = [1u64; 16];
        let total = Rc::new(Cell::new(0));
        let t = total.clone();
        let node = NodeRef::repeat(move || t.set(t.get() + big.iter().sum::<u64>()));
        node.call();
        node.call();
        assert_eq!(total.get(), 32);
    }
}
