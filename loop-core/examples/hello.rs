//! Hello world on Tulip's event loop: asyncio's "Hello World with call_soon()" and
//! "display the time with call_later()" examples, plus a task that awaits a timer.
//!
//! It runs on the simulation host, so time is virtual: the run spans an hour of loop
//! time and finishes at once. Run it with `cargo run -p loop-core --example hello`.
use std::time::Duration;

use loop_core::sim::SimHost;
use loop_core::{EventLoop, Instant};

/// Print the loop's time every second until `end`, then stop the loop.
fn display_time(lp: EventLoop, end: Instant) {
    println!("tick at {:.1} s", lp.time().as_secs_f64());
    if lp.time() + Duration::from_secs(1) < end {
        let next = lp.clone();
        lp.call_later(Duration::from_secs(1), move || display_time(next, end))
            .expect("the loop is open");
    } else {
        lp.stop();
    }
}

fn main() -> loop_core::Result<()> {
    let lp = EventLoop::new(SimHost::new(0));

    // A callback: runs as soon as the loop runs.
    lp.call_soon(|| println!("Hello World"))?;

    // Timers: a tick per (virtual) second for 3 seconds.
    let end = lp.time() + Duration::from_secs(3);
    let ticker = lp.clone();
    lp.call_soon(move || display_time(ticker, end))?;
    lp.run_forever()?;

    // A task (run_until_complete wraps the async block in one) that waits an hour for
    // a future that a timer completes.
    let alarm = lp.create_future::<&str>();
    let ring = alarm.clone();
    lp.call_later(Duration::from_secs(3600), move || {
        ring.set_result("good morning").expect("set once");
    })?;
    let greeting = lp.run_until_complete(async move { alarm.await })??;
    println!("{greeting} at {:.0} s", lp.time().as_secs_f64());

    lp.close()
}
