//! `as_completed` (asyncio's `as_completed(fs, timeout=)`).

use loop_core::{ErrorKind, EventLoop, Future, as_completed, sim::SimHost};

use crate::util::{Log, after, fail_after, new_loop, now, run_until_idle, secs};

#[test]
fn results_come_in_completion_order() {
    let lp = new_loop();
    let tasks = [
        after(&lp, 3.0, 'a'),
        after(&lp, 1.0, 'b'),
        after(&lp, 2.0, 'c'),
    ];
    let mut it = as_completed(&lp, tasks, None);
    assert_eq!(it.remaining(), 3);
    let lp2 = lp.clone();
    let seen = lp
        .run_until_complete(async move {
            let mut seen = Vec::new();
            while let Some(r) = it.next().await {
                seen.push((r.unwrap(), now(&lp2)));
            }
            assert_eq!(it.remaining(), 0);
            seen
        })
        .unwrap();
    assert_eq!(seen, [('b', 1.0), ('c', 2.0), ('a', 3.0)]);
}

#[test]
fn indices_name_the_input_position() {
    let lp = new_loop();
    let jobs = [2.0, 3.0, 1.0].map(|s| {
        let lp = lp.clone();
        async move {
            lp.sleep(secs(s)).await.unwrap();
            s
        }
    });
    let mut it = as_completed(&lp, jobs, None);
    let order = lp
        .run_until_complete(async move {
            let mut order = Vec::new();
            while let Some((i, r)) = it.next_indexed().await {
                order.push((i, r.unwrap()));
            }
            order
        })
        .unwrap();
    assert_eq!(order, [(2, 1.0), (0, 2.0), (1, 3.0)]);
}

#[test]
fn errors_are_yielded_in_their_place() {
    let lp = new_loop();
    let tasks = [after(&lp, 2.0, 1), fail_after(&lp, 1.0, "boom")];
    let mut it = as_completed(&lp, tasks, None);
    let seen = lp
        .run_until_complete(async move {
            let mut seen = Vec::new();
            while let Some(r) = it.next().await {
                seen.push(r.map_err(|e| e.message().map(String::from)));
            }
            seen
        })
        .unwrap();
    assert_eq!(seen, [Err(Some("boom".to_string())), Ok(1)]);
}

#[test]
fn on_timeout_the_rest_yield_timeout_errors_and_keep_running() {
    // "Raises TimeoutError if the timeout occurs before all Futures are done."
    let lp = new_loop();
    let tasks = [
        after(&lp, 10.0, 'a'),
        after(&lp, 1.0, 'b'),
        after(&lp, 5.0, 'c'),
    ];
    let mut it = as_completed(&lp, tasks.clone(), Some(secs(3.0)));
    let lp2 = lp.clone();
    let seen = lp
        .run_until_complete(async move {
            let mut seen = Vec::new();
            while let Some((i, r)) = it.next_indexed().await {
                seen.push((i, r.map_err(|e| e.kind()), now(&lp2)));
            }
            seen
        })
        .unwrap();
    assert_eq!(
        seen,
        [
            (1, Ok('b'), 1.0),
            (0, Err(ErrorKind::Timeout), 3.0),
            (2, Err(ErrorKind::Timeout), 3.0)
        ]
    );
    // Nothing was cancelled.
    assert_eq!(lp.run_until_complete(&tasks[0]).unwrap().unwrap(), 'a');
    assert_eq!(tasks[2].result().unwrap(), 'c');
}

#[test]
fn results_completed_before_the_timeout_come_before_the_timeout_errors() {
    let lp = new_loop();
    let tasks = [after(&lp, 2.0, 1), after(&lp, 10.0, 2)];
    let mut it = as_completed(&lp, tasks, Some(secs(3.0)));
    let lp2 = lp.clone();
    let seen = lp
        .run_until_complete(async move {
            // Consume only after the timeout has passed.
            lp2.sleep(secs(4.0)).await.unwrap();
            let mut seen = Vec::new();
            while let Some(r) = it.next().await {
                seen.push(r.map_err(|e| e.kind()));
            }
            seen
        })
        .unwrap();
    assert_eq!(seen, [Ok(1), Err(ErrorKind::Timeout)]);
}

#[test]
fn an_empty_input_yields_nothing() {
    let lp = new_loop();
    let none: Vec<Future<i32>> = Vec::new();
    let mut it = as_completed(&lp, none, Some(secs(1.0)));
    let r = lp
        .run_until_complete(async move { it.next().await.is_none() })
        .unwrap();
    assert!(r);
    assert_eq!(lp.scheduled_timer_count(), 0);
}

#[test]
fn dropping_it_removes_the_timer_and_cancels_nothing() {
    let lp = new_loop();
    let log = Log::default();
    let tasks = [crate::util::guarded(&lp, &log, "a", 2.0)];
    let it = as_completed(&lp, tasks.clone(), Some(secs(100.0)));
    drop(it);
    assert_eq!(run_until_idle(&lp), 2.0);
    assert_eq!(tasks[0].result().unwrap(), "a");
}

#[test]
fn a_future_of_another_loop_yields_invalid_input() {
    let lp = new_loop();
    let other = EventLoop::new(SimHost::new(8));
    let foreign = other.create_future::<i32>();
    let mut it = as_completed(&lp, [foreign], None);
    let r = lp
        .run_until_complete(async move { it.next().await })
        .unwrap();
    assert_eq!(r.unwrap().unwrap_err().kind(), ErrorKind::InvalidInput);
}
