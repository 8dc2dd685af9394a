//! A task's body is pinned once polled: when the task is cancelled or the loop closed,
//! the body must be dropped where it lies, never moved first (a self-referential async
//! block would be left with dangling inner borrows).
use std::cell::Cell;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::Poll;

use loop_core::{EventLoop, sim::SimHost};

/// Records its address when polled and when dropped.
struct Spot {
    seen: Rc<Cell<(usize, usize)>>,
}

impl Spot {
    fn note_polled(&self) {
        let (_, dropped) = self.seen.get();
        self.seen.set((self as *const Spot as usize, dropped));
    }
}

impl Drop for Spot {
    fn drop(&mut self) {
        let (polled, _) = self.seen.get();
        self.seen.set((polled, self as *const Spot as usize));
    }
}

fn pending_task(lp: &EventLoop, seen: Rc<Cell<(usize, usize)>>) -> loop_core::Task<()> {
    lp.create_task(async move {
        let spot = Spot { seen };
        poll_fn(|_| {
            spot.note_polled();
            Poll::<()>::Pending
        })
        .await;
    })
}

#[test]
fn a_cancelled_task_drops_its_body_in_place() {
    let lp = EventLoop::new(SimHost::new(1));
    let seen = Rc::new(Cell::new((0, 0)));
    let task = pending_task(&lp, seen.clone());
    lp.run_once().unwrap();
    assert!(task.cancel());
    let _ = lp.run_until_complete(task.clone());
    let (polled, dropped) = seen.get();
    assert_ne!(polled, 0);
    assert_eq!(polled, dropped, "the body was moved before it was dropped");
}

#[test]
fn closing_the_loop_drops_pending_bodies_in_place() {
    let lp = EventLoop::new(SimHost::new(1));
    let seen = Rc::new(Cell::new((0, 0)));
    let _task = pending_task(&lp, seen.clone());
    lp.run_once().unwrap();
    lp.close().unwrap();
    let (polled, dropped) = seen.get();
    assert_ne!(polled, 0);
    assert_eq!(polled, dropped, "the body was moved before it was dropped");
}
