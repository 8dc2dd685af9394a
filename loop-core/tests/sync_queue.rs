//! `Queue`, `PriorityQueue`, `LifoQueue` (asyncio-overview.rst, "Queue" and
//! "JoinableQueue"; CPython's asyncio.queues where the docs are silent), on the
//! simulation host.

mod sync_util;

use std::time::Duration;

use loop_core::{
    Error, ErrorKind, EventLoop, Task, TaskRef,
    sync::{LifoQueue, PriorityQueue, Queue, QueueEmpty, QueueFull},
};
use sync_util::{Trace, new_loop, run_until_done, tick, yield_now};

fn refs(tasks: &[Task<()>]) -> Vec<&TaskRef> {
    tasks.iter().map(Task::task_ref).collect()
}

/// Getter tasks that record the item they got.
fn getters(lp: &EventLoop, queue: &Queue<u32>, trace: &Trace, n: usize) -> Vec<Task<()>> {
    (1..=n)
        .map(|i| {
            let (lp2, q, tr) = (lp.clone(), queue.clone(), trace.clone());
            lp.create_task(async move {
                let item = q.get().await;
                tr.at(&lp2, &format!("G{i} got {item}"));
            })
        })
        .collect()
}

/// Putter tasks that record when their item went in.
fn putters(lp: &EventLoop, queue: &Queue<u32>, trace: &Trace, items: &[u32]) -> Vec<Task<()>> {
    items
        .iter()
        .map(|&item| {
            let (lp2, q, tr) = (lp.clone(), queue.clone(), trace.clone());
            lp.create_task(async move {
                q.put(item).await;
                tr.at(&lp2, &format!("put {item}"));
            })
        })
        .collect()
}

/// qsize / empty / full / maxsize; the non-waiting operations and their errors.
#[test]
fn sizes_and_nowait_operations() {
    let q = Queue::new(2);
    assert_eq!(
        (q.maxsize(), q.qsize(), q.empty(), q.full()),
        (2, 0, true, false)
    );
    assert_eq!(q.get_nowait(), Err(QueueEmpty));
    q.put_nowait("a").unwrap();
    q.put_nowait("b").unwrap();
    assert_eq!((q.qsize(), q.empty(), q.full()), (2, false, true));
    // QueueFull gives the item back, and converts into the crate's error.
    let full = q.put_nowait("c").unwrap_err();
    assert_eq!(full, QueueFull("c"));
    assert_eq!(full.into_inner(), "c");
    assert_eq!(Error::from(QueueFull("c")).kind(), ErrorKind::QueueFull);
    assert_eq!(Error::from(QueueEmpty).kind(), ErrorKind::QueueEmpty);
    assert_eq!(q.get_nowait(), Ok("a"));
    assert_eq!(q.get_nowait(), Ok("b"));

    // "If maxsize is less than or equal to zero, the queue size is infinite" (0 here).
    let unbounded = Queue::new(0);
    for i in 0..10_000 {
        unbounded.put_nowait(i).unwrap();
    }
    assert!(!unbounded.full());
    assert_eq!(unbounded.qsize(), 10_000);

    // `?` turns the typed errors into loop_core::Error.
    fn take(q: &Queue<i32>) -> loop_core::Result<i32> {
        q.put_nowait(1)?;
        Ok(q.get_nowait()? + 1)
    }
    assert_eq!(take(&Queue::new(1)).unwrap(), 2);
}

/// Waiting getters are served in arrival order, one item each.
#[test]
fn getters_are_served_in_fifo_order() {
    let lp = new_loop();
    let q = Queue::new(0);
    let trace = Trace::new();
    let tasks = getters(&lp, &q, &trace, 3);
    for (at, item) in [(1, 10), (2, 20), (3, 30)] {
        let q = q.clone();
        lp.call_later(Duration::from_secs(at), move || q.put_nowait(item).unwrap())
            .unwrap();
    }
    run_until_done(&lp, &refs(&tasks));
    assert_eq!(
        trace.get(),
        ["G1 got 10 @1", "G2 got 20 @2", "G3 got 30 @3"]
    );
}

/// "put() will block when the queue reaches maxsize, until an item is removed by get()";
/// blocked putters go in in arrival order.
#[test]
fn putters_wait_for_free_slots_in_fifo_order() {
    let lp = new_loop();
    let q = Queue::new(1);
    let trace = Trace::new();
    let tasks = putters(&lp, &q, &trace, &[1, 2, 3]);
    let (lp2, q2, tr) = (lp.clone(), q.clone(), trace.clone());
    let consumer = lp.create_task(async move {
        for _ in 0..3 {
            tick(&lp2).await;
            let item = q2.get().await;
            tr.at(&lp2, &format!("got {item}"));
        }
    });
    let mut all = refs(&tasks);
    all.push(consumer.task_ref());
    run_until_done(&lp, &all);
    assert_eq!(
        trace.get(),
        [
            "put 1 @0", "got 1 @1", "put 2 @1", "got 2 @2", "put 3 @2", "got 3 @3"
        ]
    );
    assert!(q.empty());
}

/// PriorityQueue hands out the smallest item first, LifoQueue the newest, also to
/// waiting getters.
#[test]
fn priority_and_lifo_orders() {
    let lp = new_loop();
    let pq = PriorityQueue::new(0);
    let lq = LifoQueue::new(0);
    for item in [5, 1, 4, 2, 3] {
        pq.put_nowait(item).unwrap();
        lq.put_nowait(item).unwrap();
    }
    let (p, l) = (pq.clone(), lq.clone());
    let task = lp.create_task(async move {
        let mut from_pq = Vec::new();
        let mut from_lq = Vec::new();
        for _ in 0..5 {
            from_pq.push(p.get().await);
            from_lq.push(l.get().await);
        }
        (from_pq, from_lq)
    });
    let (from_pq, from_lq) = lp.run_until_complete(task).unwrap().unwrap();
    assert_eq!(from_pq, [1, 2, 3, 4, 5]);
    assert_eq!(from_lq, [3, 2, 4, 1, 5]);

    // Tuples as (priority, data), as the docs suggest.
    let jobs = PriorityQueue::new(2);
    jobs.put_nowait((2, "b")).unwrap();
    jobs.put_nowait((1, "a")).unwrap();
    assert!(jobs.full());
    assert_eq!(jobs.put_nowait((0, "z")), Err(QueueFull((0, "z"))));
    assert_eq!(jobs.get_nowait(), Ok((1, "a")));
}

/// join() waits until task_done() was called for every item put; task_done() called
/// more times than items were put is a ValueError (InvalidInput).
#[test]
fn task_done_and_join() {
    let lp = new_loop();
    let q = Queue::new(0);
    let trace = Trace::new();
    // Nothing unfinished: join returns at once.
    let q2 = q.clone();
    let quick = lp.create_task(async move { q2.join().await });
    lp.run_once().unwrap();
    assert!(quick.done());

    for i in 0..3 {
        q.put_nowait(i).unwrap();
    }
    let joiners: Vec<_> = (1..=2)
        .map(|j| {
            let (lp2, q, tr) = (lp.clone(), q.clone(), trace.clone());
            lp.create_task(async move {
                q.join().await;
                tr.at(&lp2, &format!("J{j} joined"));
            })
        })
        .collect();
    let (lp2, q2, tr) = (lp.clone(), q.clone(), trace.clone());
    let worker = lp.create_task(async move {
        while let Ok(item) = q2.get_nowait() {
            tick(&lp2).await;
            tr.at(&lp2, &format!("done {item}"));
            q2.task_done().unwrap();
        }
    });
    let mut all = refs(&joiners);
    all.push(worker.task_ref());
    run_until_done(&lp, &all);
    assert_eq!(
        trace.get(),
        [
            "done 0 @1",
            "done 1 @2",
            "done 2 @3",
            "J1 joined @3",
            "J2 joined @3"
        ]
    );
    let err = q.task_done().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

/// A getter cancelled after an item was reserved for it (before it ran) passes the item
/// to the next getter; the item is not lost.
#[test]
fn cancelled_woken_getter_passes_the_item_on() {
    let lp = new_loop();
    let q = Queue::new(0);
    let trace = Trace::new();
    let tasks = getters(&lp, &q, &trace, 3);
    let (q2, g1) = (q.clone(), tasks[0].clone());
    lp.call_later(Duration::from_secs(1), move || {
        q2.put_nowait(7).unwrap(); // reserved for G1 ...
        assert!(g1.cancel()); // ... which is cancelled before it runs
    })
    .unwrap();
    let q2 = q.clone();
    lp.call_later(Duration::from_secs(2), move || q2.put_nowait(8).unwrap())
        .unwrap();
    run_until_done(&lp, &refs(&tasks));
    assert!(tasks[0].cancelled());
    assert_eq!(trace.get(), ["G2 got 7 @1", "G3 got 8 @2"]);
    assert!(q.empty());
}

/// Cancelling a getter in the middle of the line keeps the others' order.
#[test]
fn cancelling_a_middle_getter_keeps_the_order() {
    let lp = new_loop();
    let q = Queue::new(0);
    let trace = Trace::new();
    let tasks = getters(&lp, &q, &trace, 4);
    let g2 = tasks[1].clone();
    lp.call_later(Duration::from_secs(1), move || {
        g2.cancel();
    })
    .unwrap();
    let q2 = q.clone();
    lp.call_later(Duration::from_secs(2), move || {
        for item in [1, 2, 3] {
            q2.put_nowait(item).unwrap();
        }
    })
    .unwrap();
    run_until_done(&lp, &refs(&tasks));
    assert_eq!(trace.get(), ["G1 got 1 @2", "G3 got 2 @2", "G4 got 3 @2"]);
}

/// A putter cancelled after a slot was reserved for it passes the slot on; its item is
/// dropped, never stored.
#[test]
fn cancelled_woken_putter_passes_the_slot_on() {
    let lp = new_loop();
    let q = Queue::new(1);
    q.put_nowait(0).unwrap();
    let trace = Trace::new();
    let tasks = putters(&lp, &q, &trace, &[1, 2, 3]);
    let (q2, p1, tr) = (q.clone(), tasks[0].clone(), trace.clone());
    lp.call_later(Duration::from_secs(1), move || {
        tr.push(format!("got {}", q2.get_nowait().unwrap())); // slot reserved for put(1)
        assert!(p1.cancel());
    })
    .unwrap();
    let (q2, tr) = (q.clone(), trace.clone());
    lp.call_later(Duration::from_secs(2), move || {
        tr.push(format!("got {}", q2.get_nowait().unwrap()));
    })
    .unwrap();
    run_until_done(&lp, &refs(&tasks));
    assert!(tasks[0].cancelled());
    assert_eq!(trace.get(), ["got 0", "put 2 @1", "got 2", "put 3 @2"]);
    assert_eq!(q.get_nowait(), Ok(3));
}

/// FIFO-fair (a deliberate difference from CPython, where a newcomer's `get()` may take
/// the item a woken getter was woken for): the item goes to the getter that waited.
#[test]
fn newcomer_get_does_not_take_a_reserved_item() {
    let lp = new_loop();
    let q = Queue::new(0);
    let trace = Trace::new();
    let mut tasks = getters(&lp, &q, &trace, 1);
    let (lp2, q2, tr) = (lp.clone(), q.clone(), trace.clone());
    tasks.push(lp.create_task(async move {
        tick(&lp2).await;
        q2.put_nowait(1).unwrap(); // reserved for G1, which has not run yet
        tr.push(format!("qsize={} empty={}", q2.qsize(), q2.empty()));
        let item = q2.get().await; // queues behind G1
        tr.at(&lp2, &format!("N got {item}"));
    }));
    let q2 = q.clone();
    lp.call_later(Duration::from_secs(5), move || q2.put_nowait(2).unwrap())
        .unwrap();
    run_until_done(&lp, &refs(&tasks));
    assert_eq!(
        trace.get(),
        ["qsize=1 empty=false", "G1 got 1 @1", "N got 2 @5"]
    );
}

/// As in asyncio, get_nowait succeeds whenever the queue is not empty ("you can
/// reliably know this Queue's size with qsize()"), even if the item was reserved for a
/// woken getter; that getter then keeps the head of the line for the next item.
#[test]
fn get_nowait_may_take_a_reserved_item_and_the_getter_keeps_its_place() {
    let lp = new_loop();
    let q = Queue::new(0);
    let trace = Trace::new();
    let tasks = getters(&lp, &q, &trace, 2);
    let (q2, tr) = (q.clone(), trace.clone());
    lp.call_later(Duration::from_secs(1), move || {
        q2.put_nowait(1).unwrap();
        tr.push(format!("stole {}", q2.get_nowait().unwrap()));
    })
    .unwrap();
    for (at, item) in [(2, 2), (3, 3)] {
        let q2 = q.clone();
        lp.call_later(Duration::from_secs(at), move || {
            q2.put_nowait(item).unwrap()
        })
        .unwrap();
    }
    run_until_done(&lp, &refs(&tasks));
    assert_eq!(trace.get(), ["stole 1", "G1 got 2 @2", "G2 got 3 @3"]);
}

/// Producers and consumers over a small bounded queue: every item arrives once, in
/// order, and the queue never holds more than maxsize.
#[test]
fn producer_consumer_stress() {
    let lp = new_loop();
    let q = Queue::new(3);
    let received = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let mut tasks = Vec::new();
    for p in 0..3u32 {
        let q = q.clone();
        tasks.push(lp.create_task(async move {
            for i in 0..50 {
                q.put(p * 1000 + i).await;
                assert!(q.qsize() <= 3);
                if i % 7 == 0 {
                    yield_now().await;
                }
            }
        }));
    }
    for _ in 0..2 {
        let (q, r) = (q.clone(), received.clone());
        tasks.push(lp.create_task(async move {
            for _ in 0..75 {
                let item = q.get().await;
                r.borrow_mut().push(item);
                q.task_done().unwrap();
                yield_now().await;
            }
        }));
    }
    let q2 = q.clone();
    let joiner = lp.create_task(async move {
        yield_now().await;
        q2.join().await;
    });
    let mut all = refs(&tasks);
    all.push(joiner.task_ref());
    run_until_done(&lp, &all);
    let mut got = received.borrow().clone();
    for p in 0..3 {
        let mine: Vec<_> = got.iter().copied().filter(|x| x / 1000 == p).collect();
        assert_eq!(mine, (0..50).map(|i| p * 1000 + i).collect::<Vec<_>>());
    }
    got.sort_unstable();
    got.dedup();
    assert_eq!(got.len(), 150);
    assert!(q.empty());
}

/// Closing the loop drops waiting getters and putters cleanly.
#[test]
fn closing_the_loop_with_waiters() {
    let lp = new_loop();
    let q = Queue::new(1);
    let trace = Trace::new();
    let _g = getters(&lp, &Queue::new(0), &trace, 2);
    q.put_nowait(0).unwrap();
    let _p = putters(&lp, &q, &trace, &[1, 2]);
    lp.run_once().unwrap();
    lp.close().unwrap();
    assert_eq!(q.get_nowait(), Ok(0));
    q.put_nowait(9).unwrap();
    assert_eq!(q.qsize(), 1);
}
