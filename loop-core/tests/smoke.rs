//! Smoke test: callbacks, timers, a future and a task on the simulation host.
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use loop_core::{EventLoop, sim::SimHost};

#[test]
fn smoke() {
    let lp = EventLoop::new(SimHost::new(1));
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    lp.call_soon(move || l.borrow_mut().push(1)).unwrap();
    let l = log.clone();
    lp.call_later(Duration::from_secs(10), move || l.borrow_mut().push(3))
        .unwrap();
    let l = log.clone();
    lp.call_soon(move || l.borrow_mut().push(2)).unwrap();
    let fut = lp.create_future::<i32>();
    let f2 = fut.clone();
    lp.call_later(Duration::from_secs(20), move || f2.set_result(5).unwrap())
        .unwrap();
    let t = lp.create_task(async move { fut.await.unwrap() * 2 });
    assert_eq!(lp.run_until_complete(t).unwrap().unwrap(), 10);
    assert_eq!(*log.borrow(), vec![1, 2, 3]);
    assert!(lp.time().as_secs_f64() >= 20.0);
    lp.close().unwrap();
}
