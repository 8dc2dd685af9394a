//! Allocates (and touches) memory one MiB at a time until an allocation fails, printing
//! the running total. A Rust guest aborts when an allocation fails, so this never exits
//! normally under a memory limit.

fn main() {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        blocks.push(vec![0xA5; 1 << 20]);
        println!("allocated {} MiB", blocks.len());
    }
}
