//! The thread-safe wake-up contract: `call_soon_threadsafe`, `Remote::wake` and task
//! wakers fired from other threads interrupt a blocked `poll`; `RemoteHandle::cancel`.
//!
//! The simulation host never blocks, so these tests use [`CondvarHost`]: a host whose
//! `poll` really blocks on a condition variable until notified. Every wait is bounded:
//! a missing wake-up fails the test with an error instead of hanging it.
mod util;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Poll, Waker};
use std::thread;
use std::time::Duration;

use loop_core::sim::SimHost;
use loop_core::{Error, ErrorKind, EventLoop, Events, Host, Instant, Notify, Remote, RemoteHandle};

/// Longest a test waits for a wake-up before declaring it lost.
const LOST_WAKEUP: Duration = Duration::from_secs(10);

#[derive(Default)]
struct WakeState {
    notified: bool,
    /// The loop is inside a blocking poll.
    blocked: bool,
    /// Blocking polls that ended because of a notification.
    wakeups: usize,
}

#[derive(Default)]
struct Shared {
    state: Mutex<WakeState>,
    cond: Condvar,
}

/// A host whose poll blocks until notified (or its timeout passes).
struct CondvarHost {
    epoch: std::time::Instant,
    shared: Arc<Shared>,
}

struct CondvarNotify(Arc<Shared>);

impl Notify for CondvarNotify {
    fn notify(&self) {
        self.0.state.lock().unwrap().notified = true;
        self.0.cond.notify_all();
    }
}

/// The test's view of a [`CondvarHost`], usable from any thread.
#[derive(Clone)]
struct Probe(Arc<Shared>);

impl Probe {
    /// Wait until the loop is blocked in poll.
    fn wait_until_blocked(&self) {
        let state = self.0.state.lock().unwrap();
        let (state, _) = self
            .0
            .cond
            .wait_timeout_while(state, LOST_WAKEUP, |s| !s.blocked)
            .unwrap();
        assert!(state.blocked, "the loop never blocked in poll");
    }

    fn wakeups(&self) -> usize {
        self.0.state.lock().unwrap().wakeups
    }
}

impl CondvarHost {
    fn new() -> (Self, Probe) {
        let shared = Arc::new(Shared::default());
        let host = CondvarHost {
            epoch: std::time::Instant::now(),
            shared: shared.clone(),
        };
        (host, Probe(shared))
    }
}

impl Host for CondvarHost {
    fn now(&self) -> Instant {
        Instant::from_nanos(u64::try_from(self.epoch.elapsed().as_nanos()).unwrap())
    }

    fn poll(&mut self, _events: &mut Events, timeout: Option<Duration>) -> loop_core::Result<()> {
        let mut state = self.shared.state.lock().unwrap();
        if timeout == Some(Duration::ZERO) {
            state.notified = false;
            return Ok(());
        }
        let limit = timeout.map_or(LOST_WAKEUP, |t| t.min(LOST_WAKEUP));
        state.blocked = true;
        self.shared.cond.notify_all();
        let (mut state, _) = self
            .shared
            .cond
            .wait_timeout_while(state, limit, |s| !s.notified)
            .unwrap();
        state.blocked = false;
        if state.notified {
            state.notified = false;
            state.wakeups += 1;
            Ok(())
        } else if timeout.is_some_and(|t| t <= LOST_WAKEUP) {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Host,
                "lost wake-up: nothing woke the poll",
            ))
        }
    }

    fn notifier(&self) -> Arc<dyn Notify> {
        Arc::new(CondvarNotify(self.shared.clone()))
    }
}

#[test]
fn remote_handles_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Remote>();
    assert_send_sync::<RemoteHandle>();
}

#[test]
fn call_soon_threadsafe_from_another_thread_wakes_a_blocked_loop() {
    let (host, probe) = CondvarHost::new();
    let lp = EventLoop::new(host);
    let remote = lp.remote();
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let p = probe.clone();
    let sender = thread::spawn(move || {
        p.wait_until_blocked();
        remote.call_soon_threadsafe(move || r.store(true, Ordering::SeqCst));
    });
    // No timers, nothing ready: this iteration blocks without a timeout until the other
    // thread's callback arrives, and runs it.
    lp.run_once().unwrap();
    sender.join().unwrap();
    assert!(ran.load(Ordering::SeqCst));
    assert_eq!(probe.wakeups(), 1);
}

#[test]
fn a_task_woken_from_another_thread_resumes() {
    let (host, probe) = CondvarHost::new();
    let lp = EventLoop::new(host);
    let slot: Arc<Mutex<Option<Waker>>> = Arc::default();
    let ready = Arc::new(AtomicBool::new(false));
    let (s, r) = (slot.clone(), ready.clone());
    let task = lp.create_task(std::future::poll_fn(move |cx| {
        if r.load(Ordering::SeqCst) {
            Poll::Ready("woken")
        } else {
            *s.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        }
    }));
    let p = probe.clone();
    let waker_thread = thread::spawn(move || {
        p.wait_until_blocked();
        ready.store(true, Ordering::SeqCst);
        slot.lock()
            .unwrap()
            .take()
            .expect("the task parked its waker")
            .wake();
    });
    assert_eq!(lp.run_until_complete(task).unwrap().unwrap(), "woken");
    waker_thread.join().unwrap();
    assert!(probe.wakeups() >= 1);
}

#[test]
fn remote_wake_interrupts_a_blocked_poll_without_scheduling_anything() {
    let (host, probe) = CondvarHost::new();
    let lp = EventLoop::new(host);
    let remote = lp.remote();
    let p = probe.clone();
    let waker = thread::spawn(move || {
        p.wait_until_blocked();
        remote.wake();
    });
    lp.run_once().unwrap();
    waker.join().unwrap();
    assert_eq!(probe.wakeups(), 1);
    assert_eq!(lp.ready_count(), 0);
}

#[test]
fn callbacks_sent_before_the_loop_polls_run_without_blocking() {
    let (host, probe) = CondvarHost::new();
    let lp = EventLoop::new(host);
    let remote = lp.remote();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    thread::spawn(move || {
        remote.call_soon_threadsafe(move || {
            c.fetch_add(1, Ordering::SeqCst);
        });
    })
    .join()
    .unwrap();
    lp.run_once().unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert_eq!(probe.wakeups(), 0, "the loop had no reason to block");
}

#[test]
fn many_threads_each_see_their_callbacks_run_in_order() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 2_000;
    let (host, _probe) = CondvarHost::new();
    let lp = EventLoop::new(host);
    let seen: Arc<Mutex<Vec<(usize, usize)>>> = Arc::default();
    let senders: Vec<_> = (0..THREADS)
        .map(|t| {
            let remote = lp.remote();
            let seen = seen.clone();
            thread::spawn(move || {
                for i in 0..PER_THREAD {
                    let seen = seen.clone();
                    remote.call_soon_threadsafe(move || seen.lock().unwrap().push((t, i)));
                }
            })
        })
        .collect();
    while seen.lock().unwrap().len() < THREADS * PER_THREAD {
        lp.run_once().unwrap();
    }
    for s in senders {
        s.join().unwrap();
    }
    let seen = seen.lock().unwrap();
    for t in 0..THREADS {
        let order: Vec<usize> = seen
            .iter()
            .filter(|(th, _)| *th == t)
            .map(|(_, i)| *i)
            .collect();
        assert_eq!(order, (0..PER_THREAD).collect::<Vec<_>>(), "thread {t}");
    }
}

#[test]
fn a_cancelled_remote_handle_does_not_run() {
    let lp = EventLoop::new(SimHost::new(1));
    let remote = lp.remote();
    let ran = Arc::new(AtomicUsize::new(0));
    let (r1, r2) = (ran.clone(), ran.clone());
    let handles = thread::spawn(move || {
        let keep = remote.call_soon_threadsafe(move || {
            r1.fetch_add(1, Ordering::SeqCst);
        });
        let cancel = remote.call_soon_threadsafe(move || {
            r2.fetch_add(10, Ordering::SeqCst);
        });
        (keep, cancel)
    })
    .join()
    .unwrap();
    let (keep, cancelled) = handles;
    // Cancel from yet another thread.
    let c = cancelled.clone();
    thread::spawn(move || c.cancel()).join().unwrap();
    assert!(cancelled.cancelled());
    assert!(!keep.cancelled());
    lp.run_once().unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

#[test]
fn call_soon_threadsafe_on_the_loop_thread_keeps_fifo_order() {
    let lp = EventLoop::new(SimHost::new(1));
    let log: Arc<Mutex<Vec<&str>>> = Arc::default();
    let l = log.clone();
    lp.call_soon(move || l.lock().unwrap().push("a")).unwrap();
    let l = log.clone();
    let h = lp
        .call_soon_threadsafe(move || l.lock().unwrap().push("b"))
        .unwrap();
    let l = log.clone();
    lp.call_soon(move || l.lock().unwrap().push("c")).unwrap();
    lp.run_once().unwrap();
    assert_eq!(*log.lock().unwrap(), ["a", "b", "c"]);
    h.cancel();
    assert!(h.cancelled(), "cancel after it ran only sets the flag");
}

#[test]
fn a_notification_ends_a_simulated_poll_without_moving_the_clock() {
    let host = SimHost::new(1);
    let lp = EventLoop::new(host.clone());
    let log = util::Log::new();
    lp.call_later(Duration::from_secs(10), log.cb("timer"))
        .unwrap();
    let remote = lp.remote();
    thread::spawn(move || remote.wake()).join().unwrap();
    lp.run_once().unwrap();
    assert_eq!(lp.time(), Instant::ZERO);
    assert!(log.entries().is_empty());
    lp.run_once().unwrap();
    assert_eq!(log.take(), ["timer"]);
}
