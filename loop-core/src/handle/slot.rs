//! [`Slot`]: a callback closure stored inside its handle's node, so that a node can be
//! reused for the next callback instead of allocating one per `call_soon`.
//!
//! A closure of at most [`WORDS`] machine words (and no stricter alignment) is stored in
//! place; a larger one is boxed and its box stored in place. The slot records the
//! closure's type-specific operations in a static table, so a node has one concrete type
//! whatever closure it holds. This module is the only unsafe code of the handle.

use alloc::boxed::Box;
use core::cell::{Cell, UnsafeCell};
use core::mem::{MaybeUninit, align_of, size_of};

/// Machine words a closure may take to be stored in place.
const WORDS: usize = 4;

type Buf = MaybeUninit<[usize; WORDS]>;

/// The operations on the value a slot stores (`F` or `Box<F>`).
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

/// A closure stored in place (see the [module docs](self)).
///
/// Invariant: while `live` is set, `buf` holds a value of the type `vtable` was made
/// for (`F` in place or `Box<F>`); while it is clear, `buf` holds nothing to drop.
/// `vtable` always names the last closure stored, so [`name`](Self::name) still works
/// after a one-shot closure ran.
pub(crate) struct Slot {
    vtable: Cell<&'static VTable>,
    live: Cell<bool>,
    buf: UnsafeCell<Buf>,
}

impl Slot {
    /// A slot holding the one-shot closure `f`.
    pub(crate) fn once<F: FnOnce() + 'static>(f: F) -> Slot {
        let slot = Slot {
            vtable: Cell::new(&<F as OnceTables>::INLINE),
            live: Cell::new(false),
            buf: UnsafeCell::new(MaybeUninit::uninit()),
        };
        slot.store_once(f);
        slot
    }

    /// A slot holding the repeating closure `f`.
    pub(crate) fn repeat<F: Fn() + 'static>(f: F) -> Slot {
        let slot = Slot {
            vtable: Cell::new(&<F as RepeatTables>::INLINE),
            live: Cell::new(false),
            buf: UnsafeCell::new(MaybeUninit::uninit()),
        };
        if fits::<F>() {
            // SAFETY: the slot is new and empty; `F` fits the buffer's size and alignment.
            unsafe { slot.buf.get().cast::<F>().write(f) };
        } else {
            slot.vtable.set(&<F as RepeatTables>::BOXED);
            // SAFETY: the slot is new and empty; a box fits the buffer.
            unsafe { slot.buf.get().cast::<Box<F>>().write(Box::new(f)) };
        }
        slot.live.set(true);
        slot
    }

    /// Store the one-shot closure `f` in this spent slot. Taking `&mut self` guarantees
    /// that nobody is calling or reading the slot meanwhile.
    pub(crate) fn refill_once<F: FnOnce() + 'static>(&mut self, f: F) {
        self.release();
        self.store_once(f);
    }

    /// Store `f` in the empty slot.
    fn store_once<F: FnOnce() + 'static>(&self, f: F) {
        debug_assert!(!self.live.get());
        if fits::<F>() {
            self.vtable.set(&<F as OnceTables>::INLINE);
            // SAFETY: the slot is empty (nothing to overwrite), `F` fits the buffer's
            // size and alignment, and no reference into the buffer exists: calls and
            // drops happen only while `live` is set.
            unsafe { self.buf.get().cast::<F>().write(f) };
        } else {
            self.vtable.set(&<F as OnceTables>::BOXED);
            // SAFETY: as above; a box fits the buffer.
            unsafe { self.buf.get().cast::<Box<F>>().write(Box::new(f)) };
        }
        self.live.set(true);
    }

    /// Whether the slot still holds its closure (a one-shot closure that ran, or one
    /// that was released, is gone).
    pub(crate) fn is_live(&self) -> bool {
        self.live.get()
    }

    /// Run the closure if the slot holds one. A one-shot closure is moved out first, so
    /// the slot is spent even if the call panics, and a re-entrant `release` or `call`
    /// from inside the closure finds it empty.
    pub(crate) fn call(&self) {
        if !self.live.get() {
            return;
        }
        let vtable = self.vtable.get();
        if !vtable.repeat {
            self.live.set(false);
        }
        // SAFETY: `live` was set, so the buffer holds the value `vtable` was made for. A
        // one-shot value is read out exactly once (`live` is now clear, so nothing else
        // will read or drop it). A repeating value stays live and in place: `release`
        // keeps it, and it is only dropped by `Drop` or `refill_once`, which need the
        // slot exclusively, while the caller of `call` borrows it for the whole call.
        unsafe { (vtable.call)(self.buf.get()) };
    }

    /// Drop a one-shot closure that has not run (a cancel); a repeating closure stays
    /// until the slot is dropped, since it may be running.
    pub(crate) fn release(&self) {
        let vtable = self.vtable.get();
        if !self.live.get() || vtable.repeat {
            return;
        }
        self.live.set(false);
        // SAFETY: the buffer held a live value of `vtable`'s type, and with `live` now
        // clear nothing else will read or drop it. A destructor that re-enters this slot
        // finds it empty.
        unsafe { (vtable.drop)(self.buf.get()) };
    }

    /// The type name of the closure stored last.
    pub(crate) fn name(&self) -> &'static str {
        (self.vtable.get().name)()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.live.replace(false) {
            // SAFETY: the buffer holds a live value of the vtable's type, dropped once.
            unsafe { (self.vtable.get().drop)(self.buf.get()) };
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
    fn a_small_one_shot_closure_runs_once_and_is_dropped_once() {
        let drops = Rc::new(Cell::new(0));
        let runs = Rc::new(Cell::new(0));
        let (p, r) = (Probe(drops.clone()), runs.clone());
        let slot = Slot::once(move || {
            let _p = &p;
            r.set(r.get() + 1);
        });
        assert!(slot.is_live());
        slot.call();
        slot.call();
        assert_eq!((runs.get(), drops.get()), (1, 1));
        assert!(!slot.is_live());
        drop(slot);
        assert_eq!(drops.get(), 1);
    }

    #[test]
    fn a_large_one_shot_closure_is_boxed_and_works_the_same() {
        let drops = Rc::new(Cell::new(0));
        let big = [7u64; 16];
        let p = Probe(drops.clone());
        let sum = Rc::new(Cell::new(0));
        let s = sum.clone();
        let slot = Slot::once(move || {
            let _p = &p;
            s.set(big.iter().sum());
        });
        slot.call();
        assert_eq!((sum.get(), drops.get()), (112, 1));
    }

    #[test]
    fn releasing_drops_an_unrun_closure_and_refilling_reuses_the_slot() {
        let drops = Rc::new(Cell::new(0));
        let p = Probe(drops.clone());
        let mut slot = Slot::once(move || {
            let _p = &p;
        });
        slot.release();
        slot.release();
        assert_eq!(drops.get(), 1);
        slot.call();
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        slot.refill_once(move || r.set(true));
        assert!(slot.name().contains("closure"));
        slot.call();
        assert!(ran.get());
    }

    #[test]
    fn a_refill_drops_a_closure_still_stored() {
        let drops = Rc::new(Cell::new(0));
        let p = Probe(drops.clone());
        let mut slot = Slot::once(move || {
            let _p = &p;
        });
        slot.refill_once(|| {});
        assert_eq!(drops.get(), 1);
    }

    #[test]
    fn a_repeating_closure_runs_each_time_and_survives_release() {
        let runs = Rc::new(Cell::new(0));
        let drops = Rc::new(Cell::new(0));
        let (r, p) = (runs.clone(), Probe(drops.clone()));
        let slot = Slot::repeat(move || {
            let _p = &p;
            r.set(r.get() + 1);
        });
        slot.call();
        slot.release();
        slot.call();
        assert_eq!((runs.get(), drops.get()), (2, 0));
        drop(slot);
        assert_eq!(drops.get(), 1);
    }

    #[test]
    fn a_large_repeating_closure_is_boxed() {
        let big = [1u64; 16];
        let total = Rc::new(Cell::new(0));
        let t = total.clone();
        let slot = Slot::repeat(move || t.set(t.get() + big.iter().sum::<u64>()));
        slot.call();
        slot.call();
        assert_eq!(total.get(), 32);
    }

    #[test]
    fn a_closure_dropped_unrun_with_the_slot_is_dropped_once() {
        let drops = Rc::new(Cell::new(0));
        let p = Probe(drops.clone());
        drop(Slot::once(move || {
            let _p = &p;
        }));
        assert_eq!(drops.get(), 1);
    }
}
