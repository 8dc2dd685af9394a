//! Watch a file descriptor for read events (asyncio's example): wait until one end of
//! a socket pair receives data with `add_reader`, print it, and stop.
//!
//! ```text
//! cargo run -p host-native --example watch_socketpair
//! ```

use std::cell::RefCell;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;

use host_native::NativeLoop;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Create a pair of connected sockets.
    let (rsock, wsock) = UnixStream::pair()?;
    rsock.set_nonblocking(true)?;
    let rsock = Rc::new(rsock);
    let wsock = Rc::new(RefCell::new(wsock));
    let lp = NativeLoop::new()?;

    let (reader_sock, reader_lp) = (rsock.clone(), lp.clone());
    let reader = move || {
        let mut data = [0u8; 100];
        match (&*reader_sock).read(&mut data) {
            Ok(n) => println!("Received: {}", String::from_utf8_lossy(&data[..n])),
            Err(e) => eprintln!("read failed: {e}"),
        }
        // We are done: unregister the file descriptor.
        if let Err(e) = reader_lp.remove_reader(reader_sock.as_raw_fd()) {
            eprintln!("remove_reader failed: {e}");
        }
        // Stop the event loop.
        reader_lp.stop();
    };

    // Register the file descriptor for read events.
    lp.add_reader(rsock.as_raw_fd(), reader)?;

    // Simulate the reception of data from the network.
    lp.call_soon(move || {
        if let Err(e) = wsock.borrow_mut().write_all(b"abc") {
            eprintln!("send failed: {e}");
        }
    })?;

    // Run the event loop.
    lp.run_forever()?;

    // We are done: close the sockets and the event loop.
    drop(rsock);
    lp.close()?;
    Ok(())
}
