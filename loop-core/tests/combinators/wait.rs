//! `wait` (asyncio's `wait(fs, timeout=, return_when=)`).

use loop_core::{ErrorKind, EventLoop, Future, ReturnWhen, Task, sim::SimHost, wait};

use crate::util::{Log, after, fail_after, guarded, new_loop, now, run_until_idle, secs};

fn names<T: Clone + 'static>(tasks: &[Task<T>]) -> Vec<T> {
    tasks.iter().map(|t| t.result().unwrap()).collect()
}

#[test]
fn an_empty_set_is_invalid_input() {
    // CPython: ValueError('Set of Tasks/Futures is empty.')
    let lp = new_loop();
    let none: Vec<Future<i32>> = Vec::new();
    let err = lp
        .run_until_complete(wait(&lp, none, None, ReturnWhen::AllCompleted))
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[test]
fn all_completed_waits_for_every_future() {
    let lp = new_loop();
    let tasks = vec![
        after(&lp, 3.0, 'a'),
        after(&lp, 1.0, 'b'),
        after(&lp, 2.0, 'c'),
    ];
    let (done, pending) = lp
        .run_until_complete(wait(&lp, tasks.clone(), None, ReturnWhen::AllCompleted))
        .unwrap()
        .unwrap();
    assert_eq!(names(&done), ['a', 'b', 'c']);
    assert!(pending.is_empty());
    assert_eq!(now(&lp), 3.0);
    // The futures are returned as given.
    assert!(done.iter().zip(&tasks).all(|(d, t)| d.ptr_eq(t)));
}

#[test]
fn all_completed_with_a_timeout_returns_what_is_done_and_cancels_nothing() {
    let lp = new_loop();
    let tasks = vec![
        after(&lp, 1.0, 'a'),
        after(&lp, 5.0, 'b'),
        after(&lp, 2.0, 'c'),
    ];
    let (done, pending) = lp
        .run_until_complete(wait(
            &lp,
            tasks.clone(),
            Some(secs(3.0)),
            ReturnWhen::AllCompleted,
        ))
        .unwrap()
        .unwrap();
    assert_eq!(now(&lp), 3.0);
    assert_eq!(names(&done), ['a', 'c']);
    assert_eq!(pending.len(), 1);
    assert!(pending[0].ptr_eq(&tasks[1]));
    // CPython docs: "Unlike wait_for(), wait() does not cancel the futures when a
    // timeout occurs."
    assert_eq!(lp.run_until_complete(&tasks[1]).unwrap().unwrap(), 'b');
}

#[test]
fn first_completed_returns_at_the_first_completion() {
    let lp = new_loop();
    let tasks = vec![
        after(&lp, 3.0, 'a'),
        after(&lp, 1.0, 'b'),
        after(&lp, 2.0, 'c'),
    ];
    let (done, pending) = lp
        .run_until_complete(wait(&lp, tasks.clone(), None, ReturnWhen::FirstCompleted))
        .unwrap()
        .unwrap();
    assert_eq!(now(&lp), 1.0);
    assert_eq!(names(&done), ['b']);
    assert_eq!(pending.len(), 2);
    assert!(pending.iter().all(|t| !t.cancelled()));
}

#[test]
fn first_completed_counts_a_cancellation_as_a_completion() {
    let lp = new_loop();
    let tasks = vec![after(&lp, 3.0, 'a'), after(&lp, 5.0, 'b')];
    let t = tasks[1].clone();
    lp.call_later(secs(1.0), move || {
        t.cancel();
    })
    .unwrap();
    let (done, pending) = lp
        .run_until_complete(wait(&lp, tasks.clone(), None, ReturnWhen::FirstCompleted))
        .unwrap()
        .unwrap();
    assert_eq!(done.len(), 1);
    assert!(done[0].cancelled());
    assert_eq!(pending.len(), 1);
}

#[test]
fn first_completed_with_an_earlier_timeout_returns_everything_pending() {
    let lp = new_loop();
    let tasks = vec![after(&lp, 3.0, 'a'), after(&lp, 4.0, 'b')];
    let (done, pending) = lp
        .run_until_complete(wait(
            &lp,
            tasks,
            Some(secs(1.0)),
            ReturnWhen::FirstCompleted,
        ))
        .unwrap()
        .unwrap();
    assert_eq!(now(&lp), 1.0);
    assert!(done.is_empty());
    assert_eq!(pending.len(), 2);
}

#[test]
fn first_exception_returns_at_the_first_error_but_not_at_a_cancellation() {
    // CPython's _on_completion: FIRST_EXCEPTION releases on
    // `not f.cancelled() and f.exception() is not None`.
    let lp = new_loop();
    let cancelled = after(&lp, 10.0, 0);
    let failing = fail_after(&lp, 2.0, "boom");
    let slow = after(&lp, 5.0, 3);
    let c = cancelled.clone();
    lp.call_later(secs(1.0), move || {
        c.cancel();
    })
    .unwrap();
    let tasks = vec![cancelled, failing, slow];
    let (done, pending) = lp
        .run_until_complete(wait(&lp, tasks.clone(), None, ReturnWhen::FirstException))
        .unwrap()
        .unwrap();
    assert_eq!(now(&lp), 2.0);
    assert_eq!(done.len(), 2);
    assert!(done[0].cancelled());
    assert_eq!(
        done[1].exception().unwrap().unwrap().message(),
        Some("boom")
    );
    assert_eq!(pending.len(), 1);
    assert!(pending[0].ptr_eq(&tasks[2]));
}

#[test]
fn first_exception_without_errors_waits_for_all() {
    let lp = new_loop();
    let tasks = vec![after(&lp, 1.0, 1), after(&lp, 2.0, 2)];
    let (done, pending) = lp
        .run_until_complete(wait(&lp, tasks, None, ReturnWhen::FirstException))
        .unwrap()
        .unwrap();
    assert_eq!(now(&lp), 2.0);
    assert_eq!(names(&done), [1, 2]);
    assert!(pending.is_empty());
}

#[test]
fn first_exception_with_a_timeout() {
    let lp = new_loop();
    let tasks = vec![after(&lp, 1.0, 1), fail_after(&lp, 5.0, "late")];
    let (done, pending) = lp
        .run_until_complete(wait(
            &lp,
            tasks,
            Some(secs(3.0)),
            ReturnWhen::FirstException,
        ))
        .unwrap()
        .unwrap();
    assert_eq!(now(&lp), 3.0);
    assert_eq!(names(&done), [1]);
    assert_eq!(pending.len(), 1);
}

#[test]
fn futures_already_done_are_reported_in_the_next_iterations() {
    let lp = new_loop();
    let a = lp.create_future::<i32>();
    a.set_result(1).unwrap();
    let b = lp.create_future::<i32>();
    let (done, pending) = lp
        .run_until_complete(wait(
            &lp,
            [a.clone(), b.clone()],
            None,
            ReturnWhen::FirstCompleted,
        ))
        .unwrap()
        .unwrap();
    assert_eq!(done.len(), 1);
    assert!(done[0].ptr_eq(&a));
    assert!(pending[0].ptr_eq(&b));
    assert_eq!(now(&lp), 0.0);
}

#[test]
fn the_timer_is_removed_when_the_wait_returns_early() {
    let lp = new_loop();
    let tasks = vec![after(&lp, 1.0, 1)];
    lp.run_until_complete(wait(
        &lp,
        tasks,
        Some(secs(100.0)),
        ReturnWhen::AllCompleted,
    ))
    .unwrap()
    .unwrap();
    assert_eq!(run_until_idle(&lp), 1.0);
}

#[test]
fn cancelling_the_waiting_task_leaves_the_futures_running() {
    let lp = new_loop();
    let log = Log::default();
    let tasks = vec![guarded(&lp, &log, "a", 5.0), guarded(&lp, &log, "b", 6.0)];
    let waiting = wait(
        &lp,
        tasks.clone(),
        Some(secs(50.0)),
        ReturnWhen::AllCompleted,
    );
    let waiter = lp.create_task(waiting);
    let w = waiter.task_ref().clone();
    lp.call_later(secs(1.0), move || {
        w.cancel();
    })
    .unwrap();
    run_for_cancelled(&lp, &waiter);
    // Both futures finish normally, and the wait's timer is gone.
    assert_eq!(run_until_idle(&lp), 6.0);
    assert_eq!(
        log.entries(),
        ["a done", "a dropped", "b done", "b dropped"]
    );
    assert!(tasks.iter().all(|t| t.done() && !t.cancelled()));
}

fn run_for_cancelled<T: 'static>(lp: &EventLoop, task: &Task<T>) {
    let f = task.future().clone();
    let done = lp.create_future::<()>();
    let d = done.clone();
    f.add_done_callback(move |_| d.set_result(()).unwrap());
    lp.run_until_complete(done).unwrap().unwrap();
    assert!(task.cancelled());
}

#[test]
fn a_future_of_another_loop_is_invalid_input() {
    let lp = new_loop();
    let other = EventLoop::new(SimHost::new(8));
    let foreign = other.create_future::<i32>();
    let err = lp
        .run_until_complete(wait(&lp, [foreign], None, ReturnWhen::AllCompleted))
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}
