//! Watching descriptors (asyncio's `add_reader` / `remove_reader` / `add_writer` /
//! `remove_writer`): level-triggered callbacks, removal results, replacement, errors,
//! and the edge-triggered registrations transports use.

mod util;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use host_native::{NativeLoop, Trigger};
use loop_core::ErrorKind;
use util::{LIMIT, fail_safe, watchdog};

fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

/// Run the loop until a timer `d` from now fires (a few idle iterations).
fn run_for(lp: &NativeLoop, d: Duration) {
    let stopper = lp.clone();
    lp.call_later(d, move || stopper.stop()).unwrap();
    lp.run_forever().unwrap();
}

/// asyncio's add_reader is level-triggered: a reader that consumes one byte per call is
/// called again, iteration after iteration, until the data is drained.
#[test]
fn a_reader_that_reads_one_byte_per_call_is_called_until_drained() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let (r, mut w) = pair();
    w.write_all(b"hello").unwrap();
    let r = Rc::new(r);
    let got = Rc::new(RefCell::new(Vec::new()));
    let calls = Rc::new(Cell::new(0));
    let (r2, got2, calls2, lp2) = (r.clone(), got.clone(), calls.clone(), lp.clone());
    lp.add_reader(r.as_raw_fd(), move || {
        calls2.set(calls2.get() + 1);
        let mut byte = [0u8; 1];
        if let Ok(1) = (&*r2).read(&mut byte) {
            got2.borrow_mut().push(byte[0]);
        }
        if got2.borrow().len() == 5 {
            assert!(lp2.remove_reader(r2.as_raw_fd()).unwrap());
            lp2.stop();
        }
    })
    .unwrap();
    let failed = fail_safe(&lp, Duration::from_secs(10));
    lp.run_forever().unwrap();
    assert!(
        !failed.get(),
        "the reader was not called again for the rest"
    );
    assert_eq!(&*got.borrow(), b"hello");
    assert_eq!(calls.get(), 5);
}

/// Once drained, a level-triggered reader is not called until new data arrives; then it
/// is called again.
#[test]
fn a_drained_reader_waits_for_new_data() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let (r, mut w) = pair();
    w.write_all(b"ab").unwrap();
    let r = Rc::new(r);
    let calls = Rc::new(Cell::new(0));
    let (r2, calls2) = (r.clone(), calls.clone());
    lp.add_reader(r.as_raw_fd(), move || {
        calls2.set(calls2.get() + 1);
        let mut buf = [0u8; 16];
        let _ = (&*r2).read(&mut buf);
    })
    .unwrap();
    run_for(&lp, Duration::from_millis(30));
    assert_eq!(calls.get(), 1, "one call drains both bytes");
    w.write_all(b"c").unwrap();
    run_for(&lp, Duration::from_millis(30));
    assert_eq!(calls.get(), 2);
    assert!(lp.remove_reader(r.as_raw_fd()).unwrap());
}

/// A writer on an always-writable socket is called in every iteration until removed
/// (an edge-triggered implementation would call it once).
#[test]
fn a_writer_is_called_in_every_iteration_while_writable() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let (a, _b) = pair();
    let fd = a.as_raw_fd();
    let calls = Rc::new(Cell::new(0));
    let (calls2, lp2) = (calls.clone(), lp.clone());
    lp.add_writer(fd, move || {
        calls2.set(calls2.get() + 1);
        if calls2.get() == 3 {
            assert!(lp2.remove_writer(fd).unwrap());
            lp2.stop();
        }
    })
    .unwrap();
    let failed = fail_safe(&lp, Duration::from_secs(10));
    lp.run_forever().unwrap();
    assert!(!failed.get());
    assert_eq!(calls.get(), 3);
}

/// remove_reader / remove_writer return whether a callback was registered.
#[test]
fn remove_says_whether_something_was_removed() {
    let lp = NativeLoop::new().unwrap();
    let (a, _b) = pair();
    let fd = a.as_raw_fd();
    assert!(!lp.remove_reader(fd).unwrap());
    assert!(!lp.remove_writer(fd).unwrap());
    lp.add_reader(fd, || {}).unwrap();
    assert!(!lp.remove_writer(fd).unwrap());
    assert!(lp.remove_reader(fd).unwrap());
    assert!(!lp.remove_reader(fd).unwrap());
    lp.add_writer(fd, || {}).unwrap();
    lp.add_reader(fd, || {}).unwrap();
    assert!(lp.remove_writer(fd).unwrap());
    assert!(!lp.remove_writer(fd).unwrap());
    assert!(lp.remove_reader(fd).unwrap());
    assert!(!lp.remove_reader(fd).unwrap());
}

/// Removing the writer leaves the reader of the same descriptor working.
#[test]
fn reader_and_writer_of_one_descriptor_are_independent() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let (r, mut w) = pair();
    let fd = r.as_raw_fd();
    let read = Rc::new(Cell::new(false));
    let (read2, lp2) = (read.clone(), lp.clone());
    let r = Rc::new(r);
    let r2 = r.clone();
    lp.add_reader(fd, move || {
        let mut buf = [0u8; 8];
        if let Ok(n) = (&*r2).read(&mut buf) {
            assert_eq!(&buf[..n], b"x");
            read2.set(true);
            lp2.stop();
        }
    })
    .unwrap();
    lp.add_writer(fd, || {}).unwrap();
    assert!(lp.remove_writer(fd).unwrap());
    w.write_all(b"x").unwrap();
    let failed = fail_safe(&lp, Duration::from_secs(10));
    lp.run_forever().unwrap();
    assert!(!failed.get());
    assert!(read.get());
    assert!(lp.remove_reader(fd).unwrap());
}

/// add_reader on a watched descriptor replaces its reader: only the new one is called.
#[test]
fn add_reader_replaces_the_previous_reader() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let (r, mut w) = pair();
    let fd = r.as_raw_fd();
    let old_called = Rc::new(Cell::new(false));
    let old2 = old_called.clone();
    let first = lp.add_reader(fd, move || old2.set(true)).unwrap();
    let r = Rc::new(r);
    let (r2, lp2) = (r.clone(), lp.clone());
    lp.add_reader(fd, move || {
        let mut buf = [0u8; 8];
        let _ = (&*r2).read(&mut buf);
        lp2.stop();
    })
    .unwrap();
    assert!(first.cancelled());
    w.write_all(b"y").unwrap();
    let failed = fail_safe(&lp, Duration::from_secs(10));
    lp.run_forever().unwrap();
    assert!(!failed.get());
    assert!(!old_called.get());
}

/// Data already waiting when the reader is added is reported at once.
#[test]
fn a_reader_added_to_a_descriptor_with_pending_data_is_called() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let (r, mut w) = pair();
    w.write_all(b"early").unwrap();
    let fd = r.as_raw_fd();
    // Watch for writing first, so the reader arrives as a change of interest.
    lp.add_writer(fd, || {}).unwrap();
    assert!(lp.remove_writer(fd).unwrap());
    let lp2 = lp.clone();
    lp.add_reader(fd, move || lp2.stop()).unwrap();
    let failed = fail_safe(&lp, Duration::from_secs(10));
    lp.run_forever().unwrap();
    assert!(!failed.get());
    assert!(lp.remove_reader(fd).unwrap());
}

/// A peer that closes makes the reader run (and read end of file).
#[test]
fn a_hang_up_is_reported_to_the_reader() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let (r, w) = pair();
    let r = Rc::new(r);
    let eof = Rc::new(Cell::new(false));
    let (r2, eof2, lp2) = (r.clone(), eof.clone(), lp.clone());
    lp.add_reader(r.as_raw_fd(), move || {
        let mut buf = [0u8; 8];
        if let Ok(0) = (&*r2).read(&mut buf) {
            eof2.set(true);
            lp2.stop();
        }
    })
    .unwrap();
    drop(w);
    let failed = fail_safe(&lp, Duration::from_secs(10));
    lp.run_forever().unwrap();
    assert!(!failed.get());
    assert!(eof.get());
    assert!(lp.remove_reader(r.as_raw_fd()).unwrap());
}

/// The OS refuses to watch a regular file under epoll (EPERM): the error is typed and
/// nothing stays registered.
#[test]
fn watching_a_regular_file_fails_and_leaves_nothing_registered() {
    let lp = NativeLoop::new().unwrap();
    let path = std::env::temp_dir().join(format!("tulip-watch-{}", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    let err = lp.add_reader(file.as_raw_fd(), || {}).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Host);
    let io = err.downcast_ref::<std::io::Error>().expect("the OS error");
    assert_eq!(io.raw_os_error(), Some(libc_eperm()));
    assert!(!lp.remove_reader(file.as_raw_fd()).unwrap());
    drop(file);
    let _ = std::fs::remove_file(path);
}

fn libc_eperm() -> i32 {
    std::io::Error::from(std::io::ErrorKind::PermissionDenied)
        .raw_os_error()
        .unwrap_or(1)
}

/// Invalid descriptors and closed loops are typed errors.
#[test]
fn invalid_descriptor_and_closed_loop_are_errors() {
    let lp = NativeLoop::new().unwrap();
    assert_eq!(
        lp.add_reader(-1, || {}).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    let (a, _b) = pair();
    lp.close().unwrap();
    assert_eq!(
        lp.add_reader(a.as_raw_fd(), || {}).unwrap_err().kind(),
        ErrorKind::Runtime
    );
    assert!(!lp.remove_reader(a.as_raw_fd()).unwrap());
}

/// A descriptor registered by a transport cannot be watched with add_reader (asyncio:
/// "File descriptor is used by transport"), nor registered twice.
#[test]
fn transport_descriptors_are_not_open_to_add_reader() {
    let lp = NativeLoop::new().unwrap();
    let (a, _b) = pair();
    let token = lp.register_fd(a.as_fd(), Trigger::Edge).unwrap();
    assert_eq!(
        lp.add_reader(a.as_raw_fd(), || {}).unwrap_err().kind(),
        ErrorKind::Runtime
    );
    assert_eq!(
        lp.remove_reader(a.as_raw_fd()).unwrap_err().kind(),
        ErrorKind::Runtime
    );
    assert_eq!(
        lp.register_fd(a.as_fd(), Trigger::Level)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    lp.deregister_fd(token).unwrap();
    lp.add_reader(a.as_raw_fd(), || {}).unwrap();
    assert!(lp.remove_reader(a.as_raw_fd()).unwrap());
}

/// Edge-triggered registrations report a readiness change once: an owner that stops
/// before WouldBlock is not called again until new data arrives or it calls `rearm`.
#[test]
fn edge_registrations_report_once_until_rearmed() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let (r, mut w) = pair();
    let r = Rc::new(r);
    let token = lp.register_fd(r.as_fd(), Trigger::Edge).unwrap();
    let calls = Rc::new(Cell::new(0));
    let rearm = Rc::new(Cell::new(false));
    let got = Rc::new(RefCell::new(Vec::new()));
    let (r2, calls2, rearm2, got2, lp2) = (
        r.clone(),
        calls.clone(),
        rearm.clone(),
        got.clone(),
        lp.clone(),
    );
    lp.event_loop()
        .add_reader(token, move || {
            calls2.set(calls2.get() + 1);
            let mut byte = [0u8; 1];
            if let Ok(1) = (&*r2).read(&mut byte) {
                got2.borrow_mut().push(byte[0]);
                if rearm2.get() {
                    lp2.rearm(token);
                }
            }
        })
        .unwrap();
    w.write_all(b"ab").unwrap();
    run_for(&lp, Duration::from_millis(30));
    assert_eq!(calls.get(), 1, "reported once for one readiness change");
    assert_eq!(&*got.borrow(), b"a");

    // Re-arming makes the owner see the byte it left behind, and every later one.
    rearm.set(true);
    lp.rearm(token);
    w.write_all(b"cd").unwrap();
    run_for(&lp, Duration::from_millis(30));
    assert_eq!(&*got.borrow(), b"abcd");
    lp.deregister_fd(token).unwrap();
}

/// A token freed through the loop alone (`deregister_io` instead of `deregister_fd`) and
/// handed out again never mixes up the old and the new descriptor.
#[test]
fn a_reused_token_does_not_confuse_descriptors() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let (a, _a_peer) = pair();
    let (b, mut b_peer) = pair();
    let old = lp.register_fd(a.as_fd(), Trigger::Edge).unwrap();
    lp.event_loop().deregister_io(old).unwrap();
    let lp2 = lp.clone();
    lp.add_reader(b.as_raw_fd(), move || lp2.stop()).unwrap();
    // `a` is free again: watching it works and does not disturb `b`.
    lp.add_reader(a.as_raw_fd(), || panic!("a never becomes readable"))
        .unwrap();
    b_peer.write_all(b"z").unwrap();
    let failed = fail_safe(&lp, Duration::from_secs(10));
    lp.run_forever().unwrap();
    assert!(!failed.get());
    assert!(lp.remove_reader(a.as_raw_fd()).unwrap());
    assert!(lp.remove_reader(b.as_raw_fd()).unwrap());
}
