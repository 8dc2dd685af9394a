//! `Event`: asyncio's event flag (asyncio-overview.rst, "Synchronization primitives"),
//! on the simulation host.

mod sync_util;

use std::time::Duration;

use loop_core::{Task, sync::Event};
use sync_util::{Trace, new_loop, run_until_done};

fn waiters(lp: &loop_core::EventLoop, event: &Event, trace: &Trace, n: usize) -> Vec<Task<()>> {
    (1..=n)
        .map(|i| {
            let (lp2, ev, tr) = (lp.clone(), event.clone(), trace.clone());
            lp.create_task(async move {
                tr.at(&lp2, &format!("W{i} waits"));
                ev.wait().await;
                tr.at(&lp2, &format!("W{i} woken"));
            })
        })
        .collect()
}

fn refs(tasks: &[Task<()>]) -> Vec<&loop_core::TaskRef> {
    tasks.iter().map(Task::task_ref).collect()
}

/// "The flag is initially false"; `set` / `clear` / `is_set`.
#[test]
fn flag_basics() {
    let event = Event::new();
    assert!(!event.is_set());
    event.set();
    assert!(event.is_set());
    event.set(); // idempotent
    assert!(event.is_set());
    event.clear();
    assert!(!event.is_set());
    let other = event.clone();
    other.set();
    assert!(event.is_set() && event.ptr_eq(&other));
}

/// "If the internal flag is true on entry, return True immediately": the wait completes
/// in the task's first step.
#[test]
fn wait_on_a_set_event_returns_at_once() {
    let lp = new_loop();
    let event = Event::new();
    event.set();
    let ev = event.clone();
    let task = lp.create_task(async move { ev.wait().await });
    lp.run_once().unwrap();
    assert!(task.done());
}

/// "All coroutines waiting for it to become true are awakened", in the order they
/// started waiting.
#[test]
fn set_wakes_every_waiter_in_order() {
    let lp = new_loop();
    let event = Event::new();
    let trace = Trace::new();
    let tasks = waiters(&lp, &event, &trace, 3);
    let ev = event.clone();
    lp.call_later(Duration::from_secs(2), move || ev.set())
        .unwrap();
    run_until_done(&lp, &refs(&tasks));
    assert_eq!(
        trace.get(),
        [
            "W1 waits @0",
            "W2 waits @0",
            "W3 waits @0",
            "W1 woken @2",
            "W2 woken @2",
            "W3 woken @2",
        ]
    );
}

/// asyncio: a waiter woken by `set` returns even if the flag is cleared before it runs.
#[test]
fn set_then_clear_still_wakes_the_waiters() {
    let lp = new_loop();
    let event = Event::new();
    let trace = Trace::new();
    let tasks = waiters(&lp, &event, &trace, 2);
    let ev = event.clone();
    lp.call_later(Duration::from_secs(1), move || {
        ev.set();
        ev.clear();
    })
    .unwrap();
    run_until_done(&lp, &refs(&tasks));
    assert_eq!(trace.get()[2..], ["W1 woken @1", "W2 woken @1"]);
    assert!(!event.is_set());
}

/// After `clear`, "coroutines calling wait() will block until set() is called".
#[test]
fn wait_after_clear_blocks_until_the_next_set() {
    let lp = new_loop();
    let event = Event::new();
    event.set();
    event.clear();
    let trace = Trace::new();
    let tasks = waiters(&lp, &event, &trace, 1);
    let ev = event.clone();
    lp.call_later(Duration::from_secs(3), move || ev.set())
        .unwrap();
    run_until_done(&lp, &refs(&tasks));
    assert_eq!(trace.get(), ["W1 waits @0", "W1 woken @3"]);
}

/// A cancelled waiter leaves; the others are woken in their order. A waiter cancelled
/// after `set` (before it ran) takes nothing from the others.
#[test]
fn cancelled_waiters_do_not_disturb_the_others() {
    let lp = new_loop();
    let event = Event::new();
    let trace = Trace::new();
    let tasks = waiters(&lp, &event, &trace, 4);
    let w2 = tasks[1].clone();
    lp.call_later(Duration::from_secs(1), move || {
        w2.cancel();
    })
    .unwrap();
    let (ev, w3) = (event.clone(), tasks[2].clone());
    lp.call_later(Duration::from_secs(2), move || {
        ev.set();
        w3.cancel();
    })
    .unwrap();
    run_until_done(&lp, &refs(&tasks));
    assert!(tasks[1].cancelled() && tasks[2].cancelled());
    assert_eq!(trace.get()[4..], ["W1 woken @2", "W4 woken @2"]);
}

/// An `Event` made outside any loop works in tasks of a loop created later, and a wait
/// future dropped before it is polled leaves no trace.
#[test]
fn independent_of_the_loop() {
    let event = Event::new();
    drop(event.wait());
    let lp = new_loop();
    let ev = event.clone();
    let task = lp.create_task(async move { ev.wait().await });
    event.set();
    lp.run_until_complete(task).unwrap().unwrap();
}
