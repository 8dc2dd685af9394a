//! The host boundary contract on [`NativeHost`]: clock, timeouts, notifications, and
//! `call_soon_threadsafe` waking a loop blocked in its poll.

mod util;

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use host_native::{NativeHost, NativeLoop};
use loop_core::{EventLoop, Events, Host};
use util::{LIMIT, watchdog};

/// "`Some(d)`: block at most `d`" and "never return early": a poll with nothing to
/// report returns after the whole timeout, sub-millisecond ones included (those must be
/// rounded up, not down to a busy poll).
#[test]
fn poll_returns_after_the_timeout_and_not_before() {
    let _w = watchdog(LIMIT);
    let mut host = NativeHost::new().unwrap();
    let mut events = Events::new();
    for timeout in [
        Duration::from_micros(100),
        Duration::from_micros(1500),
        Duration::from_millis(20),
    ] {
        let start = Instant::now();
        let clock_start = host.now();
        host.poll(&mut events, Some(timeout)).unwrap();
        assert!(start.elapsed() >= timeout, "returned early for {timeout:?}");
        assert!(host.now().saturating_duration_since(clock_start) >= timeout);
        assert!(events.is_empty());
    }
}

/// `Some(ZERO)` never blocks; the clock never goes backwards.
#[test]
fn zero_timeout_polls_return_and_the_clock_is_monotonic() {
    let _w = watchdog(LIMIT);
    let mut host = NativeHost::new().unwrap();
    let mut events = Events::new();
    let mut last = host.now();
    for _ in 0..100 {
        host.poll(&mut events, Some(Duration::ZERO)).unwrap();
        let now = host.now();
        assert!(now >= last);
        last = now;
    }
    assert!(events.is_empty());
}

/// "MUST return when a notification arrives": `poll(None)` blocked on a host with
/// nothing registered returns when another thread notifies. The waker's own event is
/// not reported.
#[test]
fn notify_from_another_thread_wakes_a_blocked_poll() {
    let _w = watchdog(LIMIT);
    let mut host = NativeHost::new().unwrap();
    let notifier = host.notifier();
    let sent = Arc::new(AtomicBool::new(false));
    let sent2 = sent.clone();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        sent2.store(true, Ordering::SeqCst);
        notifier.notify();
    });
    let mut events = Events::new();
    // A spurious early return is allowed: poll until the notification was sent.
    while !sent.load(Ordering::SeqCst) {
        host.poll(&mut events, None).unwrap();
    }
    assert!(events.is_empty());
    t.join().unwrap();
}

/// "including one sent before the call", and "SHOULD coalesce": several notifications
/// before a poll make it return at once; the poll after that blocks again.
#[test]
fn notifications_before_a_poll_coalesce_into_one_wake_up() {
    let _w = watchdog(LIMIT);
    let mut host = NativeHost::new().unwrap();
    let notifier = host.notifier();
    for _ in 0..3 {
        notifier.notify();
    }
    let mut events = Events::new();
    host.poll(&mut events, None).unwrap();
    let timeout = Duration::from_millis(20);
    let start = Instant::now();
    host.poll(&mut events, Some(timeout)).unwrap();
    assert!(start.elapsed() >= timeout);
    assert!(events.is_empty());
}

/// A notification after a coalesced one still wakes the next poll (no lost wake-up once
/// the pending flag is cleared).
#[test]
fn a_notification_after_a_poll_wakes_the_next_one() {
    let _w = watchdog(LIMIT);
    let mut host = NativeHost::new().unwrap();
    let notifier = host.notifier();
    let mut events = Events::new();
    for _ in 0..50 {
        notifier.notify();
        host.poll(&mut events, None).unwrap();
    }
}

thread_local! {
    static RUNNING: RefCell<Option<EventLoop>> = const { RefCell::new(None) };
}

/// asyncio's `call_soon_threadsafe`: a callback scheduled from another thread runs on
/// the loop's thread and wakes a loop blocked in `poll(None)` (nothing else scheduled).
#[test]
fn call_soon_threadsafe_from_a_thread_wakes_the_loop() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    RUNNING.with(|r| *r.borrow_mut() = Some(lp.event_loop().clone()));
    let loop_thread = thread::current().id();
    let remote = lp.remote();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        remote.call_soon_threadsafe(move || {
            assert_eq!(thread::current().id(), loop_thread);
            RUNNING.with(|r| r.borrow().as_ref().unwrap().stop());
        });
    });
    lp.run_forever().unwrap();
    t.join().unwrap();
    RUNNING.with(|r| r.borrow_mut().take());
    lp.close().unwrap();
}

/// Timers run on the native clock: `call_later(d)` never runs before `d` passed.
#[test]
fn call_later_is_not_early() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let start = Instant::now();
    let loop_start = lp.time();
    let fired_at = std::rc::Rc::new(std::cell::Cell::new(None));
    let (f, stopper) = (fired_at.clone(), lp.clone());
    lp.call_later(Duration::from_millis(25), move || {
        f.set(Some(Instant::now()));
        stopper.stop();
    })
    .unwrap();
    lp.run_forever().unwrap();
    let fired = fired_at.get().expect("the timer ran");
    assert!(fired.duration_since(start) >= Duration::from_millis(25));
    assert!(lp.time().saturating_duration_since(loop_start) >= Duration::from_millis(25));
}
