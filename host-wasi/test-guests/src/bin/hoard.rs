//! Creates timer pollables and keeps them all, forever: only a handle limit stops it.

fn main() {
    let mut kept = Vec::new();
    loop {
        kept.push(wasip2::clocks::monotonic_clock::subscribe_duration(
            1_000_000_000,
        ));
        if kept.len() % 1000 == 0 {
            println!("holding {}", kept.len());
        }
    }
}
