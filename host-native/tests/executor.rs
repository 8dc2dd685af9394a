//! `run_in_executor` and the executors: results and panics come back to the loop, the
//! pool is bounded, the default executor can be replaced and shut down, and closing the
//! loop shuts it down.

mod util;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use host_native::{Executor, Job, NativeLoop, ThreadPoolExecutor};
use loop_core::ErrorKind;
use util::{LIMIT, watchdog};

/// The job runs on another thread and its result wakes the loop, which was blocked in
/// its poll with nothing else to do.
#[test]
fn run_in_executor_returns_the_result_from_another_thread() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let loop_thread = thread::current().id();
    let job = lp.run_in_executor(move || {
        thread::sleep(Duration::from_millis(20));
        (thread::current().id() != loop_thread, 6 * 7)
    });
    let (elsewhere, value) = lp.run_until_complete(job).unwrap().unwrap();
    assert!(elsewhere);
    assert_eq!(value, 42);
    lp.close().unwrap();
}

/// A panic in the job is the future's error (ErrorKind::Panicked, with the message),
/// and the pool keeps working.
#[test]
fn a_panic_in_the_job_is_reported_as_an_error() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let job = lp.run_in_executor(|| -> u8 { panic!("job exploded") });
    let err = lp.run_until_complete(job).unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
    assert!(err.to_string().contains("job exploded"), "{err}");
    let again = lp.run_in_executor(|| 1);
    assert_eq!(lp.run_until_complete(again).unwrap().unwrap(), 1);
}

/// A pool of two threads never runs more than two jobs at once, and runs them all.
#[test]
fn the_pool_is_bounded() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let pool = Arc::new(ThreadPoolExecutor::new(2).unwrap());
    lp.set_default_executor(pool.clone());
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let jobs: Vec<_> = (0..6)
        .map(|i| {
            let (running, peak) = (running.clone(), peak.clone());
            lp.run_in_executor(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                thread::sleep(Duration::from_millis(10));
                running.fetch_sub(1, Ordering::SeqCst);
                i
            })
        })
        .collect();
    let results = lp
        .run_until_complete(async move {
            let mut out = Vec::new();
            for job in jobs {
                out.push(job.await?);
            }
            Ok::<_, loop_core::Error>(out)
        })
        .unwrap()
        .unwrap();
    assert_eq!(results, [0, 1, 2, 3, 4, 5]);
    assert!(peak.load(Ordering::SeqCst) <= 2);
    assert!(pool.worker_count() <= 2);
}

/// shutdown_default_executor waits for the running job, then run_in_executor refuses
/// new work (asyncio: "Executor shutdown has been called").
#[test]
fn shutdown_default_executor_waits_for_running_jobs() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let finished = Arc::new(AtomicBool::new(false));
    let f2 = finished.clone();
    let (started_tx, started_rx) = mpsc::channel();
    let job = lp.run_in_executor(move || {
        started_tx.send(()).unwrap();
        thread::sleep(Duration::from_millis(30));
        f2.store(true, Ordering::SeqCst);
    });
    started_rx.recv().unwrap();
    drop(job); // already running: it still runs to completion
    lp.run_until_complete(lp.shutdown_default_executor(None))
        .unwrap()
        .unwrap();
    assert!(finished.load(Ordering::SeqCst));
    let refused = lp.run_in_executor(|| 0);
    let err = lp.run_until_complete(refused).unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Runtime);
}

/// A shutdown that takes longer than its timeout reports ErrorKind::Timeout.
#[test]
fn shutdown_default_executor_can_time_out() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (started_tx, started_rx) = mpsc::channel();
    let _job = lp.run_in_executor(move || {
        started_tx.send(()).unwrap();
        let _ = release_rx.recv();
    });
    started_rx.recv().unwrap();
    let err = lp
        .run_until_complete(lp.shutdown_default_executor(Some(Duration::from_millis(20))))
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    release_tx.send(()).unwrap();
}

/// close() shuts the default executor down (without waiting); the loop then refuses
/// run_in_executor.
#[test]
fn close_shuts_the_default_executor_down() {
    let lp = NativeLoop::new().unwrap();
    let pool = Arc::new(ThreadPoolExecutor::new(1).unwrap());
    lp.set_default_executor(pool.clone());
    lp.close().unwrap();
    let err = pool.execute(Box::new(|| {})).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Runtime);
    let refused = lp.run_in_executor(|| 0);
    let err = futures_block_on(refused).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Runtime);
}

/// Poll a future that is ready at once.
fn futures_block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("expected a ready future"),
    }
}

/// Dropping the future of a job that has not started yet skips the job.
#[test]
fn dropping_the_future_before_the_job_starts_skips_it() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let pool = Arc::new(ThreadPoolExecutor::new(1).unwrap());
    lp.set_default_executor(pool.clone());
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (started_tx, started_rx) = mpsc::channel();
    let blocker = lp.run_in_executor(move || {
        started_tx.send(()).unwrap();
        let _ = release_rx.recv();
    });
    started_rx.recv().unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let r2 = ran.clone();
    let skipped = lp.run_in_executor(move || r2.store(true, Ordering::SeqCst));
    drop(skipped);
    release_tx.send(()).unwrap();
    lp.run_until_complete(blocker).unwrap().unwrap();
    pool.shutdown(true);
    assert!(!ran.load(Ordering::SeqCst));
}

/// An executor of one's own: one thread per job, counting its jobs.
#[derive(Debug, Default)]
struct ThreadPerJob {
    jobs: AtomicUsize,
}

impl Executor for ThreadPerJob {
    fn execute(&self, job: Job) -> loop_core::Result<()> {
        self.jobs.fetch_add(1, Ordering::SeqCst);
        thread::spawn(job);
        Ok(())
    }

    fn shutdown(&self, _wait: bool) {}
}

/// run_in_executor_on uses the given executor, and set_default_executor replaces the
/// default one with any Executor.
#[test]
fn other_executors_can_be_used_and_made_default() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let mine = Arc::new(ThreadPerJob::default());
    let job = lp.run_in_executor_on(&*mine, || "on mine");
    assert_eq!(lp.run_until_complete(job).unwrap().unwrap(), "on mine");
    assert_eq!(mine.jobs.load(Ordering::SeqCst), 1);
    lp.set_default_executor(mine.clone());
    let job = lp.run_in_executor(|| 5);
    assert_eq!(lp.run_until_complete(job).unwrap().unwrap(), 5);
    assert_eq!(mine.jobs.load(Ordering::SeqCst), 2);
}

/// An executor that drops a job without running it fails the job's future.
#[test]
fn a_job_dropped_by_its_executor_is_an_error() {
    #[derive(Debug)]
    struct Dropper;
    impl Executor for Dropper {
        fn execute(&self, job: Job) -> loop_core::Result<()> {
            drop(job);
            Ok(())
        }
        fn shutdown(&self, _wait: bool) {}
    }
    let lp = NativeLoop::new().unwrap();
    let job = lp.run_in_executor_on(&Dropper, || 1);
    let err = lp.run_until_complete(job).unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Runtime);
}
