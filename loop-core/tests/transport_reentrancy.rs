//! Protocol callbacks calling back into their transport (write from data_received, close
//! from eof_received, abort anywhere), notifications raised re-entrantly, panicking
//! protocols, and BufferedProtocol.
mod net_util;

use std::cell::RefCell;
use std::rc::Rc;

use loop_core::net::Net;
use loop_core::sim::NetConfig;
use loop_core::{BufferedProtocol, Error, ErrorKind, ExceptionHandler, Transport};
use net_util::{addr, assert_clean, extra_addr, new_log, world, world_with};

#[test]
fn write_from_data_received_echoes() {
    let w = world(1);
    let a = addr("127.0.0.1:6000");
    let log = new_log();
    let (_server, _accepted) = w.recording_server(a, "echo", &log, |r| {
        r.on_data = Some(Box::new(|t, data| t.write(data).unwrap()));
    });
    let (local, client) = w.connect(a, "client", &log, |_| {});
    local.write(b"ping").unwrap();
    w.settle();
    assert_eq!(client.borrow().received, b"ping");
}

#[test]
fn close_from_eof_received_after_a_last_write() {
    let w = world(2);
    let a = addr("127.0.0.1:6001");
    let log = new_log();
    let (_server, accepted) = w.recording_server(a, "srv", &log, |r| {
        r.keep_open = true;
        r.on_eof = Some(Box::new(|t| {
            t.write(b"goodbye").unwrap();
            t.close();
            assert!(t.write(b"more").is_err());
        }));
    });
    let (local, client) = w.connect(a, "client", &log, |r| r.keep_open = true);
    local.write_eof().unwrap();
    w.settle();
    assert_eq!(client.borrow().received, b"goodbye");
    assert_eq!(client.borrow().eof, 1);
    assert_eq!(accepted.borrow()[0].borrow().lost_kind(), None);
    assert_clean(&accepted.borrow()[0].borrow());
}

#[test]
fn abort_from_data_received_stops_delivery() {
    let w = world_with(3, NetConfig::default().with_max_segment(1));
    let a = addr("127.0.0.1:6002");
    let log = new_log();
    let (_server, accepted) = w.recording_server(a, "srv", &log, |r| {
        r.on_data = Some(Box::new(|t, _| t.abort()));
    });
    let (local, _client) = w.connect(a, "client", &log, |_| {});
    // One-byte segments: several reads would follow if abort did not stop them.
    local.write(b"abcdef").unwrap();
    w.settle();
    let srv = accepted.borrow()[0].clone();
    let srv = srv.borrow();
    assert_eq!(srv.reads, 1, "{:?}", log.borrow());
    assert_eq!(srv.lost_kind(), None);
    assert_clean(&srv);
}

#[test]
fn close_from_data_received_flushes_what_it_wrote() {
    let w = world_with(4, NetConfig::default().with_stream_window(3));
    let a = addr("127.0.0.1:6003");
    let log = new_log();
    let (_server, _accepted) = w.recording_server(a, "srv", &log, |r| {
        r.on_data = Some(Box::new(|t, _| {
            t.write(b"a long answer").unwrap();
            t.close();
        }));
    });
    let (local, client) = w.connect(a, "client", &log, |r| r.keep_open = true);
    local.write(b"q").unwrap();
    w.settle();
    assert_eq!(client.borrow().received, b"a long answer");
    assert_eq!(client.borrow().eof, 1);
}

#[test]
fn write_and_close_from_connection_made() {
    let w = world(5);
    let a = addr("127.0.0.1:6004");
    let log = new_log();
    let (_server, _accepted) = w.recording_server(a, "srv", &log, |r| {
        r.on_made = Some(Box::new(|t| {
            t.write(b"banner").unwrap();
            t.close();
        }));
    });
    let (_local, client) = w.connect(a, "client", &log, |_| {});
    w.settle();
    let c = client.borrow();
    assert_eq!(c.received, b"banner");
    assert_eq!(c.eof, 1);
    assert_eq!(c.lost_kind(), None);
}

#[test]
fn pause_reading_from_connection_made_holds_data() {
    let w = world(6);
    let a = addr("127.0.0.1:6005");
    let log = new_log();
    let (_server, accepted) = w.recording_server(a, "srv", &log, |r| {
        r.on_made = Some(Box::new(|t| t.pause_reading()));
    });
    let (local, _client) = w.connect(a, "client", &log, |_| {});
    local.write(b"held").unwrap();
    w.settle();
    let srv = accepted.borrow()[0].clone();
    assert_eq!(srv.borrow().reads, 0);
    srv.borrow().t().resume_reading();
    w.settle();
    assert_eq!(srv.borrow().received, b"held");
}

/// pause_writing caused by a write inside data_received is delivered after
/// data_received returns (the protocol is borrowed during its own callback), in order,
/// exactly once.
#[test]
fn pause_raised_inside_data_received_is_delivered_after_it() {
    let w = world_with(7, NetConfig::default().with_stream_window(2));
    let a = addr("127.0.0.1:6006");
    let log = new_log();
    let (_server, accepted) = w.recording_server(a, "srv", &log, |r| {
        r.on_made = Some(Box::new(|t| {
            t.set_write_buffer_limits(Some(0), None).unwrap()
        }));
        r.on_data = Some(Box::new(|t, data| {
            t.write(data).unwrap();
            t.write(data).unwrap();
        }));
    });
    let (local, client) = w.connect(a, "client", &log, |_| {});
    local.write(b"xy").unwrap();
    w.settle();
    let log = log.borrow();
    let srv_events: Vec<&str> = log.iter().filter_map(|l| l.strip_prefix("srv: ")).collect();
    let data_at = srv_events
        .iter()
        .position(|e| e.starts_with("data"))
        .unwrap();
    let pause_at = srv_events
        .iter()
        .position(|e| e.starts_with("pause"))
        .unwrap();
    assert_eq!(pause_at, data_at + 1, "{srv_events:?}");
    let srv = accepted.borrow()[0].clone();
    assert_eq!((srv.borrow().paused, srv.borrow().resumed), (1, 1));
    assert_clean(&srv.borrow());
    assert_eq!(client.borrow().received, b"xyxy");
}

/// A write from code that holds the protocol's borrow (outside any transport callback)
/// cannot deliver pause_writing at once; it arrives on the next iteration, not lost.
#[test]
fn pause_raised_while_user_code_borrows_the_protocol_is_delivered_later() {
    let w = world_with(8, NetConfig::default().with_stream_window(1));
    let a = addr("127.0.0.1:6007");
    let log = new_log();
    let (_server, _accepted) = w.recording_server(a, "srv", &log, |r| r.keep_open = true);
    let (local, client) = w.connect(a, "client", &log, |_| {});
    local.set_write_buffer_limits(Some(0), None).unwrap();
    {
        let _held = client.borrow_mut();
        local.write(b"abc").unwrap();
    }
    assert_eq!(client.borrow().paused, 0, "not deliverable while borrowed");
    w.settle();
    let c = client.borrow();
    assert_eq!((c.paused, c.resumed), (1, 1));
    assert_clean(&c);
}

#[test]
fn panicking_protocol_is_reported_and_the_transport_force_closed() {
    let w = world(9);
    let reported = Rc::new(RefCell::new(Vec::new()));
    let r2 = reported.clone();
    let handler: ExceptionHandler = Rc::new(move |_, ctx| {
        r2.borrow_mut().push(ctx.error.as_ref().map(Error::kind));
    });
    w.lp.set_exception_handler(Some(handler));
    let a = addr("127.0.0.1:6008");
    let log = new_log();
    let (_server, accepted) = w.recording_server(a, "srv", &log, |r| {
        r.on_data = Some(Box::new(|_, _| panic!("protocol bug")));
    });
    let (local, client) = w.connect(a, "client", &log, |_| {});
    local.write(b"boom").unwrap();
    w.settle();
    assert_eq!(*reported.borrow(), vec![Some(ErrorKind::Panicked)]);
    // The panic unwound through the shared recorder's borrow; the transport still
    // finished with connection_lost(Panicked) on a fresh borrow.
    let srv = accepted.borrow()[0].clone();
    assert_eq!(srv.borrow().lost, vec![Some(ErrorKind::Panicked)]);
    assert_eq!(client.borrow().eof, 1, "the peer sees the connection end");
}

/// A BufferedProtocol with a 7-byte buffer: the transport reads straight into it.
struct Chunked {
    buf: [u8; 7],
    got: Vec<u8>,
    sizes: Vec<usize>,
    eof: bool,
    lost: Vec<Option<ErrorKind>>,
    empty_buffer: bool,
}

impl Chunked {
    fn new(empty_buffer: bool) -> Self {
        Chunked {
            buf: [0; 7],
            got: Vec::new(),
            sizes: Vec::new(),
            eof: false,
            lost: Vec::new(),
            empty_buffer,
        }
    }
}

impl BufferedProtocol for Chunked {
    fn get_buffer(&mut self, _size_hint: usize) -> &mut [u8] {
        if self.empty_buffer {
            &mut self.buf[..0]
        } else {
            &mut self.buf
        }
    }
    fn buffer_updated(&mut self, nbytes: usize) {
        self.sizes.push(nbytes);
        self.got.extend_from_slice(&self.buf[..nbytes]);
    }
    fn eof_received(&mut self) -> bool {
        self.eof = true;
        false
    }
    fn connection_lost(&mut self, error: Option<Error>) {
        self.lost.push(error.map(|e| e.kind()));
    }
}

#[test]
fn buffered_protocol_reads_into_its_own_buffer() {
    let w = world(10);
    let a = addr("127.0.0.1:6009");
    let log = new_log();
    let (_server, accepted) = w.recording_server(a, "srv", &log, |_| {});
    let net = w.net.clone();
    let (t, proto) = w.block_on(async move {
        net.create_buffered_connection(|| Chunked::new(false), a)
            .await
            .unwrap()
    });
    w.settle();
    let srv_t = accepted.borrow()[0].borrow().t();
    let data: Vec<u8> = (0..100u8).collect();
    srv_t.write(&data).unwrap();
    srv_t.write_eof().unwrap();
    w.settle();
    let p = proto.borrow();
    assert_eq!(p.got, data);
    assert!(p.sizes.iter().all(|&n| n > 0 && n <= 7), "{:?}", p.sizes);
    assert!(p.eof);
    assert_eq!(p.lost, vec![None]);
    assert!(t.is_closing());
}

#[test]
fn buffered_protocol_with_an_empty_buffer_fails_the_connection() {
    let w = world(11);
    let reported = Rc::new(RefCell::new(0));
    let r2 = reported.clone();
    w.lp.set_exception_handler(Some(Rc::new(move |_, _| *r2.borrow_mut() += 1)));
    let a = addr("127.0.0.1:6010");
    let log = new_log();
    let (_server, accepted) = w.recording_server(a, "srv", &log, |_| {});
    let net = w.net.clone();
    let (_t, proto) = w.block_on(async move {
        net.create_buffered_connection(|| Chunked::new(true), a)
            .await
            .unwrap()
    });
    w.settle();
    accepted.borrow()[0].borrow().t().write(b"x").unwrap();
    w.settle();
    assert_eq!(proto.borrow().lost, vec![Some(ErrorKind::Runtime)]);
    assert_eq!(*reported.borrow(), 1);
}

#[test]
fn transports_survive_their_protocols_dropping_them() {
    // The protocol drops its transport in connection_lost; the transport releases the
    // protocol: nothing leaks and nothing dangles.
    let w = world(12);
    let a = addr("127.0.0.1:6011");
    let log = new_log();
    let (server, _accepted) = w.recording_server(a, "srv", &log, |_| {});
    let (local, client) = w.connect(a, "client", &log, |_| {});
    let sock = extra_addr(&local, "sockname");
    local.close();
    w.settle();
    client.borrow_mut().transport = None;
    assert_eq!(
        Rc::strong_count(&client),
        1,
        "the transport released its protocol"
    );
    drop(local);
    assert!(w.net.connection(sock, a).is_none());
    server.close();
    w.settle();
    assert_eq!(w.net.open_streams(), 0);
}

#[test]
fn write_after_loss_is_an_error_not_silence() {
    let w = world(13);
    let a = addr("127.0.0.1:6012");
    let log = new_log();
    let (_server, accepted) = w.recording_server(a, "srv", &log, |_| {});
    let (local, _client) = w.connect(a, "client", &log, |_| {});
    w.settle();
    accepted.borrow()[0].borrow().t().abort();
    w.settle();
    // The peer's abort reads as EOF here; the default eof_received closes.
    assert!(local.is_closing());
    for r in [
        local.write(b"x"),
        local.writelines(&[b"y"]),
        local.write_eof(),
    ] {
        assert_eq!(r.unwrap_err().kind(), ErrorKind::Runtime);
    }
    let _: Rc<dyn Transport> = local;
}
