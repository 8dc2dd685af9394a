//! Blocks in `wasi:io/poll` for the number of milliseconds given as its argument
//! (default 5000), then prints `slept` and exits 0. Time spent blocked in the host must
//! not be charged to the guest's CPU budget.

use std::time::Duration;

fn main() {
    let ms: u64 = std::env::args()
        .nth(1)
        .map_or(5000, |s| s.parse().expect("milliseconds"));
    let nanos = Duration::from_millis(ms).as_nanos() as u64;
    let timer = wasip2::clocks::monotonic_clock::subscribe_duration(nanos);
    wasip2::io::poll::poll(&[&timer]);
    println!("slept");
}
