//! Display the current date with `call_later` (asyncio's example): a callback prints
//! the date every second and reschedules itself for five seconds, then stops the loop.
//!
//! ```text
//! cargo run -p host-native --example display_date
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use host_native::NativeLoop;
use loop_core::Instant;

/// The current UTC time as `YYYY-MM-DD HH:MM:SS.mmm`.
fn now_utc() -> String {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since_epoch.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since_epoch.subsec_millis()
    )
}

fn display_date(end_time: Instant, lp: NativeLoop) {
    println!("{}", now_utc());
    if lp.time() + Duration::from_secs(1) < end_time {
        let next = lp.clone();
        let scheduled = lp.call_later(Duration::from_secs(1), move || display_date(end_time, next));
        if let Err(e) = scheduled {
            eprintln!("cannot reschedule: {e}");
            lp.stop();
        }
    } else {
        lp.stop();
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let lp = NativeLoop::new()?;

    // Schedule the first call to display_date().
    let end_time = lp.time() + Duration::from_secs(5);
    let first = lp.clone();
    lp.call_soon(move || display_date(end_time, first))?;

    // Blocking call interrupted by stop().
    lp.run_forever()?;
    lp.close()?;
    Ok(())
}
