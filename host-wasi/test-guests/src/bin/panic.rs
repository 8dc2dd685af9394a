//! Panics with a fixed message. Under `panic = "abort"` (the wasm32-wasip2 default) the
//! panic message goes to stderr and the guest traps.

fn main() {
    println!("about to panic");
    panic!("guest panicked on purpose");
}
