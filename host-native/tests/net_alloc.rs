//! The echo hot path of a native TCP transport allocates nothing: once a connection is
//! warm, a message costs the loop thread no heap allocation (poll, readiness
//! translation, read, `data_received`, write fast path).

mod util;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use host_native::NativeLoop;
use loop_core::{Error, Protocol, Transport};
use util::{LIMIT, watchdog};

/// Counts the allocations of the threads that asked to be counted.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn note() {
    if COUNTED.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; the bookkeeping
// touches only an atomic and a const-initialised thread-local (no allocation).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const WARM_UP: usize = 200;
const MEASURED: usize = 2000;
const SIZE: usize = 1024;

/// Echoes, and counts the loop thread's allocations over the measured messages.
struct Echo {
    transport: Option<Rc<dyn Transport>>,
    messages: usize,
    /// Allocations counted over the measured window, once it is over.
    result: Rc<Cell<Option<usize>>>,
    lp: NativeLoop,
}

impl Protocol for Echo {
    fn connection_made(&mut self, transport: Rc<dyn Transport>) {
        self.transport = Some(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        // The client sends one message and waits for it: one read, one message.
        self.messages += 1;
        if self.messages == WARM_UP {
            ALLOCATIONS.store(0, Ordering::Relaxed);
            COUNTED.with(|c| c.set(true));
        }
        if self.messages == WARM_UP + MEASURED {
            COUNTED.with(|c| c.set(false));
            self.result.set(Some(ALLOCATIONS.load(Ordering::Relaxed)));
        }
        self.transport.as_ref().unwrap().write(data).unwrap();
    }

    fn connection_lost(&mut self, _error: Option<Error>) {
        self.lp.stop();
    }
}

#[test]
fn warm_echo_allocates_nothing_per_message() {
    let _w = watchdog(LIMIT);
    let lp = NativeLoop::new().unwrap();
    let result = Rc::new(Cell::new(None));
    let (r, l) = (result.clone(), lp.clone());
    let made = RefCell::new(Some((r, l)));
    let l = lp.clone();
    let server = lp
        .run_until_complete(async move {
            l.create_server(
                move || {
                    let (result, lp) = made.borrow_mut().take().expect("one connection");
                    Echo {
                        transport: None,
                        messages: 0,
                        result,
                        lp,
                    }
                },
                ("127.0.0.1", 0),
            )
            .await
        })
        .unwrap()
        .unwrap();
    let addr = server.sockets()[0];
    let client = thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_nodelay(true).unwrap();
        let msg = [42u8; SIZE];
        let mut back = [0u8; SIZE];
        for _ in 0..WARM_UP + MEASURED + 10 {
            s.write_all(&msg).unwrap();
            s.read_exact(&mut back).unwrap();
            assert_eq!(back, msg);
        }
    });
    lp.run_forever().unwrap();
    client.join().unwrap();
    server.close();
    let allocations = result.get().expect("the measured window completed");
    assert_eq!(
        allocations, 0,
        "{allocations} allocations over {MEASURED} echoed messages"
    );
}
