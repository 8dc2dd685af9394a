//! Hello World with `call_soon` (asyncio's "Hello World with call_soon()" example): the
//! callback prints and stops the loop.
//!
//! ```text
//! cargo run -p host-native --example hello_world
//! ```

use host_native::NativeLoop;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let lp = NativeLoop::new()?;

    // Schedule a call to the callback; it stops the loop once it has printed.
    let stopper = lp.clone();
    lp.call_soon(move || {
        println!("Hello World");
        stopper.stop();
    })?;

    // Blocking call interrupted by stop().
    lp.run_forever()?;
    lp.close()?;
    Ok(())
}
