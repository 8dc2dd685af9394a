//! StreamWriter and StreamReaderProtocol: drain and flow control, wait_closed, the
//! protocol's callbacks and the server-side client-connected callback, against a mock
//! transport on the simulation host.

mod stream_util;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use loop_core::stream::{ClientConnected, StreamReader, StreamReaderProtocol, StreamWriter};
use loop_core::transport::ExtraInfo;
use loop_core::{Error, ErrorKind, EventLoop, Protocol, Transport, sim::SimHost};
use stream_util::{MockTransport, poll_once};

/// A connected client-side pair over a mock transport, with the protocol shared so the
/// test can play the transport's part.
struct Pair {
    lp: EventLoop,
    transport: Rc<MockTransport>,
    protocol: Rc<RefCell<StreamReaderProtocol>>,
    reader: StreamReader,
    writer: StreamWriter,
}

fn pair() -> Pair {
    let lp = EventLoop::new(SimHost::new(11));
    let reader = StreamReader::with_limit(4).unwrap();
    let protocol = Rc::new(RefCell::new(StreamReaderProtocol::new(&lp, &reader)));
    let transport = MockTransport::new();
    let dyn_protocol: Rc<RefCell<dyn Protocol>> = protocol.clone();
    transport.attach(&lp, &dyn_protocol);
    protocol.borrow_mut().connection_made(transport.clone());
    let writer = StreamWriter::new(transport.clone(), &protocol.borrow(), Some(reader.clone()));
    Pair {
        lp,
        transport,
        protocol,
        reader,
        writer,
    }
}

fn boom() -> Error {
    Error::new(ErrorKind::ConnectionReset, "reset in mid-stream")
}

#[test]
fn writer_methods_delegate_to_the_transport() {
    let p = pair();
    p.writer.write(b"ab").unwrap();
    p.writer.writelines(&[b"c", b"de"]).unwrap();
    assert_eq!(p.transport.written(), b"abcde");
    assert!(p.writer.can_write_eof());
    p.writer.write_eof().unwrap();
    assert!(p.transport.eof_written.get());
    assert_eq!(
        p.writer.write(b"x").unwrap_err().kind(),
        ErrorKind::Runtime,
        "the transport's error is passed on"
    );
    assert_eq!(
        p.writer.get_extra_info("peername"),
        Some(ExtraInfo::Addr("192.0.2.1:80".parse().unwrap()))
    );
    assert!(!p.writer.is_closing());
    p.writer.close();
    assert!(p.writer.is_closing());
    assert_eq!(p.transport.closes.get(), 1);
    let t: &Rc<dyn Transport> = p.writer.transport();
    assert!(t.is_closing());
    assert!(p.writer.reader().is_some());
}

#[test]
fn drain_returns_at_once_when_writing_is_not_paused() {
    let p = pair();
    assert!(poll_once(p.writer.drain()).unwrap().is_ok());
}

#[test]
fn drain_waits_while_paused_and_every_drain_wakes_on_resume() {
    let p = pair();
    p.protocol.borrow_mut().pause_writing();
    assert!(poll_once(p.writer.drain()).is_none(), "paused: drain waits");
    let woken = Rc::new(Cell::new(0));
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let (w, n) = (p.writer.clone(), woken.clone());
            p.lp.create_task(async move {
                w.drain().await.unwrap();
                n.set(n.get() + 1);
            })
        })
        .collect();
    let proto = p.protocol.clone();
    p.lp.call_later(Duration::from_secs(2), move || {
        proto.borrow_mut().resume_writing()
    })
    .unwrap();
    for t in tasks {
        p.lp.run_until_complete(t).unwrap().unwrap();
    }
    assert_eq!(woken.get(), 3);
    assert_eq!(p.lp.time().as_secs_f64(), 2.0, "they waited for the resume");
    assert!(poll_once(p.writer.drain()).unwrap().is_ok());
}

#[test]
fn drain_fails_after_a_clean_connection_loss() {
    // asyncio 3.12 _drain_helper: ConnectionResetError('Connection lost').
    let p = pair();
    p.protocol.borrow_mut().connection_lost(None);
    let err = poll_once(p.writer.drain()).unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    assert_eq!(err.message(), Some("connection lost"));
}

#[test]
fn drain_fails_with_the_connection_error() {
    // asyncio: drain raises the reader's exception first.
    let p = pair();
    p.protocol.borrow_mut().connection_lost(Some(boom()));
    let err = poll_once(p.writer.drain()).unwrap().unwrap_err();
    assert_eq!(err, boom());
}

#[test]
fn a_waiting_drain_gets_the_connection_error() {
    let p = pair();
    p.protocol.borrow_mut().pause_writing();
    let w = p.writer.clone();
    let task = p.lp.create_task(async move { w.drain().await });
    let proto = p.protocol.clone();
    p.lp.call_later(Duration::from_secs(1), move || {
        proto.borrow_mut().connection_lost(Some(boom()))
    })
    .unwrap();
    assert_eq!(
        p.lp.run_until_complete(task).unwrap().unwrap().unwrap_err(),
        boom()
    );
}

#[test]
fn a_waiting_drain_returns_when_the_connection_closes_cleanly() {
    // As in asyncio: FlowControlMixin.connection_lost(None) sets the waiters' result.
    let p = pair();
    p.protocol.borrow_mut().pause_writing();
    let w = p.writer.clone();
    let task = p.lp.create_task(async move { w.drain().await });
    let proto = p.protocol.clone();
    p.lp.call_later(Duration::from_secs(1), move || {
        proto.borrow_mut().connection_lost(None)
    })
    .unwrap();
    assert!(p.lp.run_until_complete(task).unwrap().unwrap().is_ok());
    // The next drain reports the loss.
    assert!(poll_once(p.writer.drain()).unwrap().is_err());
}

#[test]
fn a_cancelled_drain_leaves_the_others_waiting() {
    let p = pair();
    p.protocol.borrow_mut().pause_writing();
    let w = p.writer.clone();
    let cancelled = p.lp.create_task(async move { w.drain().await });
    let w = p.writer.clone();
    let other = p.lp.create_task(async move { w.drain().await });
    p.lp.run_once().unwrap();
    cancelled.cancel();
    let proto = p.protocol.clone();
    p.lp.call_later(Duration::from_secs(1), move || {
        proto.borrow_mut().resume_writing()
    })
    .unwrap();
    assert!(p.lp.run_until_complete(other).unwrap().unwrap().is_ok());
    assert!(cancelled.cancelled());
}

#[test]
fn drain_on_a_closing_transport_yields_so_connection_lost_is_seen() {
    // asyncio's drain sleeps once when the transport is closing: the close's
    // connection_lost (scheduled with call_soon) runs first, and drain reports it
    // instead of returning as if all was well.
    let p = pair();
    let w = p.writer.clone();
    let err =
        p.lp.run_until_complete(async move {
            // Close and drain in one step: connection_lost is only scheduled so far.
            w.close();
            w.drain().await
        })
        .unwrap()
        .unwrap_err();
    assert_eq!(err.message(), Some("connection lost"));
}

#[test]
fn wait_closed_completes_on_connection_lost() {
    let p = pair();
    let w = p.writer.clone();
    let task = p.lp.create_task(async move { w.wait_closed().await });
    p.lp.run_once().unwrap();
    assert!(!task.done(), "open: wait_closed waits");
    p.writer.close();
    assert!(p.lp.run_until_complete(task).unwrap().unwrap().is_ok());
    assert!(p.reader.at_eof(), "a clean close feeds EOF to the reader");
}

#[test]
fn wait_closed_fails_with_the_connection_error() {
    let p = pair();
    p.protocol.borrow_mut().connection_lost(Some(boom()));
    let w = p.writer.clone();
    let err =
        p.lp.run_until_complete(async move { w.wait_closed().await })
            .unwrap()
            .unwrap_err();
    assert_eq!(err, boom());
    // The reader fails with it too.
    assert_eq!(poll_once(p.reader.read(1)).unwrap().unwrap_err(), boom());
}

#[test]
fn the_protocol_feeds_the_reader_and_its_flow_control() {
    let p = pair();
    let mut proto = p.protocol.borrow_mut();
    proto.data_received(b"line one\nline");
    proto.data_received(b" two");
    assert_eq!(p.transport.pauses.get(), 1, "13+4 bytes > 2 x limit 4");
    assert!(
        proto.eof_received(),
        "half-close: the writer can still write"
    );
    drop(proto);
    let r = p.reader.clone();
    let all =
        p.lp.run_until_complete(async move { r.read_to_end().await })
            .unwrap()
            .unwrap();
    assert_eq!(all, b"line one\nline two");
    assert_eq!(p.transport.resumes.get(), 1);
    p.writer.write(b"reply").unwrap();
}

#[test]
fn eof_over_tls_closes_the_connection() {
    let lp = EventLoop::new(SimHost::new(1));
    let reader = StreamReader::new();
    let mut proto = StreamReaderProtocol::new(&lp, &reader);
    let t = MockTransport::new();
    t.tls.set(true);
    proto.connection_made(t);
    assert!(!proto.eof_received());
    assert!(reader.at_eof());
}

#[test]
fn data_for_a_dropped_reader_is_discarded() {
    let lp = EventLoop::new(SimHost::new(1));
    let reader = StreamReader::new();
    let mut proto = StreamReaderProtocol::new(&lp, &reader);
    proto.connection_made(MockTransport::new());
    drop(reader);
    proto.data_received(b"nobody listens");
    assert!(proto.eof_received());
    proto.connection_lost(None);
}

fn server_protocol(
    lp: &EventLoop,
    cb: ClientConnected,
) -> (StreamReaderProtocol, Rc<MockTransport>) {
    let mut proto = StreamReaderProtocol::with_client_connected(lp, StreamReader::new(), cb);
    let t = MockTransport::new();
    proto.connection_made(t.clone());
    (proto, t)
}

#[test]
fn a_plain_client_callback_runs_inside_connection_made() {
    let lp = EventLoop::new(SimHost::new(1));
    let got = Rc::new(RefCell::new(None));
    let g = got.clone();
    let (mut proto, t) = server_protocol(
        &lp,
        ClientConnected::plain(move |reader, writer| {
            writer.write(b"welcome\n").unwrap();
            *g.borrow_mut() = Some(reader);
        }),
    );
    assert_eq!(t.written(), b"welcome\n");
    proto.data_received(b"hi");
    let reader = got.borrow_mut().take().unwrap();
    assert_eq!(poll_once(reader.read(10)).unwrap().unwrap(), b"hi");
}

#[test]
fn an_async_client_callback_runs_as_a_task() {
    let lp = EventLoop::new(SimHost::new(1));
    let done = Rc::new(Cell::new(false));
    let d = done.clone();
    let (mut proto, t) = server_protocol(
        &lp,
        ClientConnected::task(move |reader: StreamReader, writer: StreamWriter| {
            let d = d.clone();
            async move {
                let line = reader.readline().await?;
                writer.write(&line)?;
                writer.drain().await?;
                d.set(true);
                Ok::<(), Error>(())
            }
        }),
    );
    assert!(
        t.written().is_empty(),
        "a task starts on a later loop iteration"
    );
    proto.data_received(b"echo me\n");
    lp.run_until_complete(async move {
        while !done.get() {
            loop_core_yield().await;
        }
    })
    .unwrap();
    assert_eq!(t.written(), b"echo me\n");
    assert_eq!(
        t.closes.get(),
        0,
        "a handler that succeeds leaves the connection open"
    );
}

/// Give the loop one turn.
async fn loop_core_yield() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

#[test]
fn a_failing_client_task_is_reported_and_closes_the_transport() {
    let lp = EventLoop::new(SimHost::new(1));
    let reported = Rc::new(RefCell::new(Vec::new()));
    let rep = reported.clone();
    lp.set_exception_handler(Some(Rc::new(move |_, ctx| {
        rep.borrow_mut()
            .push((ctx.message.clone(), ctx.error.clone()));
    })));
    let (_proto, t) = server_protocol(
        &lp,
        ClientConnected::task(|_r, _w| async { Err(Error::new(ErrorKind::Other, "bad client")) }),
    );
    lp.run_until_complete(async {
        for _ in 0..3 {
            loop_core_yield().await;
        }
    })
    .unwrap();
    assert_eq!(t.closes.get(), 1);
    let reported = reported.borrow();
    assert_eq!(reported.len(), 1);
    assert_eq!(reported[0].0, "Unhandled exception in client_connected_cb");
    assert_eq!(
        reported[0].1.as_ref().unwrap().message(),
        Some("bad client")
    );
}

#[test]
fn a_cancelled_client_task_closes_the_transport() {
    let lp = EventLoop::new(SimHost::new(1));
    let tasks = Rc::new(RefCell::new(Vec::new()));
    let (_proto, t) = server_protocol(
        &lp,
        ClientConnected::task(|reader: StreamReader, _w| async move {
            // Waits forever: no data comes.
            reader.read(1).await.map(drop)
        }),
    );
    let ts = tasks.clone();
    let lp2 = lp.clone();
    lp.run_until_complete(async move {
        loop_core_yield().await;
        ts.borrow_mut().extend(lp2.all_tasks());
        for task in ts.borrow().iter() {
            if !task.ptr_eq(&lp2.current_task().unwrap()) {
                task.cancel();
            }
        }
        for _ in 0..3 {
            loop_core_yield().await;
        }
    })
    .unwrap();
    assert_eq!(t.closes.get(), 1);
}
