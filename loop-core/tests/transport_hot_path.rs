//! The echo hot path — readiness → read → data_received → write fast path — allocates
//! nothing once warm (a counting global allocator checks it).
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

use loop_core::sim::{SimHost, SimSource};
use loop_core::transport::{RawStream, StreamProtocolRef, StreamTransport};
use loop_core::{Error, ErrorKind, EventLoop, ExtraInfo, Interest, Protocol, Token, Transport};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A channel with `incoming` bytes to read (once) and an unlimited send side.
#[derive(Default)]
struct Wire {
    incoming: Cell<usize>,
    sent: Cell<usize>,
}

struct Mock {
    token: Token,
    wire: Rc<Wire>,
}

struct Ready(Rc<Wire>);

impl SimSource for Ready {
    fn readiness(&self) -> Interest {
        if self.0.incoming.get() > 0 {
            Interest::BOTH
        } else {
            Interest::WRITABLE
        }
    }
}

impl RawStream for Mock {
    fn token(&self) -> Token {
        self.token
    }
    fn try_read(&mut self, buf: &mut [u8]) -> loop_core::Result<usize> {
        let n = self.wire.incoming.replace(0).min(buf.len());
        if n == 0 {
            return Err(Error::from_kind(ErrorKind::WouldBlock));
        }
        buf[..n].fill(b'x');
        Ok(n)
    }
    fn try_write(&mut self, buf: &[u8]) -> loop_core::Result<usize> {
        self.wire.sent.set(self.wire.sent.get() + buf.len());
        Ok(buf.len())
    }
    fn shutdown_write(&mut self) -> loop_core::Result<()> {
        Ok(())
    }
    fn close(&mut self) {}
    fn extra_info(&self, _name: &str) -> Option<ExtraInfo> {
        None
    }
}

#[derive(Default)]
struct Echo {
    t: Option<Rc<dyn Transport>>,
    echoed: usize,
}

impl Protocol for Echo {
    fn connection_made(&mut self, t: Rc<dyn Transport>) {
        self.t = Some(t);
    }
    fn data_received(&mut self, data: &[u8]) {
        self.echoed += data.len();
        self.t.as_ref().unwrap().write(data).unwrap();
    }
}

#[test]
fn echo_hot_path_allocates_nothing() {
    let host = SimHost::new(1);
    let lp = EventLoop::new(host.clone());
    let token = lp.register_io();
    let wire = Rc::new(Wire::default());
    host.attach(token, Rc::new(Ready(wire.clone())));
    let proto = Rc::new(RefCell::new(Echo::default()));
    let _t = StreamTransport::new(
        &lp,
        Mock {
            token,
            wire: wire.clone(),
        },
        StreamProtocolRef::plain(proto.clone()),
    )
    .unwrap();
    let round = |n: usize| {
        for _ in 0..n {
            wire.incoming.set(512);
            lp.run_once().unwrap();
        }
    };
    round(100); // warm-up: connection_made, the loop's read buffer, queues' capacity
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    round(10_000);
    let allocated = ALLOCATIONS.load(Ordering::Relaxed) - before;
    // Every iteration after the first (which runs connection_made) echoed 512 bytes.
    assert_eq!(proto.borrow().echoed, 10_099 * 512);
    assert_eq!(wire.sent.get(), proto.borrow().echoed);
    assert_eq!(allocated, 0, "allocations in 10 000 echo iterations");
}
