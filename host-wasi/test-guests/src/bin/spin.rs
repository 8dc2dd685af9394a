//! Prints `spinning` and then computes forever without calling the host: only a CPU
//! limit, a deadline or a kill stops it.

fn main() {
    println!("spinning");
    let mut x: u64 = 1;
    loop {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}
