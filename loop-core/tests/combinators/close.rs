//! Closing a loop while combinators are pending drops them quietly.

use loop_core::{ReturnWhen, as_completed, gather, shield, wait, wait_for};

use crate::util::{after, new_loop, run_for, secs};

#[test]
fn closing_the_loop_with_pending_combinators_does_not_panic() {
    let lp = new_loop();
    let tasks = vec![after(&lp, 10.0, 1), after(&lp, 20.0, 2)];
    let all = gather(&lp, tasks.clone());
    let shielded = shield(&lp, tasks[0].clone());
    let mut completed = as_completed(&lp, tasks.clone(), Some(secs(30.0)));
    let lp2 = lp.clone();
    let t = tasks.clone();
    let waiter = lp.create_task(async move {
        let _ = wait(&lp2, t.clone(), Some(secs(40.0)), ReturnWhen::AllCompleted).await;
        let _ = wait_for(&lp2, t[1].clone(), Some(secs(50.0))).await;
        completed.next().await
    });
    run_for(&lp, 1.0);
    lp.close().unwrap();
    assert!(!all.done());
    assert!(!shielded.done());
    assert!(!waiter.done());
}
