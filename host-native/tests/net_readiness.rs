//! The native raw channels keep the level-triggered readiness contract of the shared
//! machinery although they are registered edge-triggered: a reader that stops before
//! the socket is drained is called again, and end of stream is never hidden behind the
//! short read of the last data.

mod util;

use std::cell::RefCell;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;

use host_native::NativeLoop;
use host_native::net::NativeStream;
use loop_core::net::Net;
use loop_core::transport::RawStream;
use util::{LIMIT, watchdog};

/// A connected raw stream and the peer's end.
fn pair(lp: &NativeLoop) -> (Rc<RefCell<NativeStream>>, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let l = lp.clone();
    let raw = lp
        .run_until_complete(async move { Net::connect(&l, addr).await })
        .unwrap()
        .unwrap();
    let (peer, _) = listener.accept().unwrap();
    (Rc::new(RefCell::new(raw)), peer)
}

/// Reads of exactly the buffer's size, one per callback, as a reader with a small
/// budget would do: each leaves data behind, and the next iteration calls the reader
/// again until everything is read (then nothing is ready any more).
#[test]
fn a_reader_that_stops_early_is_called_again() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let (raw, mut peer) = pair(&lp);
    peer.write_all(&[7u8; 64]).unwrap();

    let done = lp.create_future::<()>();
    let calls = Rc::new(RefCell::new(0usize));
    let got = Rc::new(RefCell::new(0usize));
    let token = raw.borrow().token();
    let (r, d, c, g) = (raw.clone(), done.clone(), calls.clone(), got.clone());
    lp.event_loop()
        .add_reader(token, move || {
            *c.borrow_mut() += 1;
            let mut buf = [0u8; 16];
            let n = r.borrow_mut().try_read(&mut buf).unwrap();
            assert_eq!(n, 16, "one full buffer per call, data left behind");
            *g.borrow_mut() += n;
            if *g.borrow() == 64 && !d.done() {
                d.set_result(()).unwrap();
            }
        })
        .unwrap();
    lp.run_until_complete(done).unwrap().unwrap();
    assert_eq!(*calls.borrow(), 4, "called once per 16 bytes");
    lp.event_loop().remove_reader(token).unwrap();
}

/// Data and the peer's FIN already queued together: the short read of the data must
/// not hide the end of stream that follows it.
#[test]
fn end_of_stream_after_a_short_read_is_reported() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let (raw, mut peer) = pair(&lp);
    peer.write_all(b"last words").unwrap();
    drop(peer);

    let eof = lp.create_future::<()>();
    let reads = Rc::new(RefCell::new(Vec::new()));
    let token = raw.borrow().token();
    let (r, e, rs) = (raw.clone(), eof.clone(), reads.clone());
    lp.event_loop()
        .add_reader(token, move || {
            let mut buf = [0u8; 1024];
            match r.borrow_mut().try_read(&mut buf) {
                Ok(0) => {
                    if !e.done() {
                        e.set_result(()).unwrap();
                    }
                }
                Ok(n) => rs.borrow_mut().push(buf[..n].to_vec()),
                Err(err) => assert!(err.is_would_block(), "{err}"),
            }
        })
        .unwrap();
    lp.run_until_complete(eof).unwrap().unwrap();
    assert_eq!(*reads.borrow(), vec![b"last words".to_vec()]);
    lp.event_loop().remove_reader(token).unwrap();
}
