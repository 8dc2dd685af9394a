//! StreamReader: asyncio's read methods, their errors and the reading flow control,
//! driven with feed_data / feed_eof / set_exception on the simulation host.

mod stream_util;

use std::time::Duration;

use loop_core::stream::{IncompleteReadError, LimitOverrunError, StreamReader};
use loop_core::{Error, ErrorKind, EventLoop, sim::SimHost};
use stream_util::{MockTransport, poll_once};

fn lp() -> EventLoop {
    EventLoop::new(SimHost::new(3))
}

fn run<T: 'static>(lp: &EventLoop, fut: impl Future<Output = T> + 'static) -> T {
    lp.run_until_complete(fut).unwrap()
}

/// Feed `chunks` one per millisecond of virtual time, then EOF.
fn feed_later(lp: &EventLoop, reader: &StreamReader, chunks: &[&[u8]], eof: bool) {
    let mut at = 0;
    for chunk in chunks {
        at += 1;
        let (r, c) = (reader.clone(), chunk.to_vec());
        lp.call_later(Duration::from_millis(at), move || r.feed_data(&c).unwrap())
            .unwrap();
    }
    if eof {
        let r = reader.clone();
        lp.call_later(Duration::from_millis(at + 1), move || r.feed_eof())
            .unwrap();
    }
}

#[test]
fn default_limit_is_64_kib_and_zero_is_rejected() {
    assert_eq!(StreamReader::new().limit(), 65536);
    assert_eq!(StreamReader::with_limit(10).unwrap().limit(), 10);
    let err = StreamReader::with_limit(0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[test]
fn read_returns_what_is_buffered_up_to_n_without_waiting() {
    let r = StreamReader::new();
    r.feed_data(b"hello").unwrap();
    assert_eq!(poll_once(r.read(3)).unwrap().unwrap(), b"hel");
    // Fewer bytes than asked: returns what there is rather than waiting for more.
    assert_eq!(poll_once(r.read(100)).unwrap().unwrap(), b"lo");
    assert_eq!(r.buffered(), 0);
}

#[test]
fn read_zero_returns_at_once_even_with_nothing_buffered() {
    let r = StreamReader::new();
    assert_eq!(poll_once(r.read(0)).unwrap().unwrap(), b"");
}

#[test]
fn read_waits_only_while_nothing_is_buffered() {
    let lp = lp();
    let r = StreamReader::new();
    assert!(
        poll_once(r.read(10)).is_none(),
        "read on an empty buffer waits"
    );
    feed_later(&lp, &r, &[b"ab", b"cd"], false);
    let r2 = r.clone();
    // Woken by the first chunk: returns it without waiting to fill n.
    assert_eq!(run(&lp, async move { r2.read(10).await.unwrap() }), b"ab");
}

#[test]
fn read_at_eof_returns_empty() {
    let lp = lp();
    let r = StreamReader::new();
    r.feed_data(b"x").unwrap();
    r.feed_eof();
    let r2 = r.clone();
    let (a, b) = run(&lp, async move {
        (r2.read(5).await.unwrap(), r2.read(5).await.unwrap())
    });
    assert_eq!((a.as_slice(), b.as_slice()), (&b"x"[..], &b""[..]));
}

#[test]
fn read_to_end_collects_every_chunk_until_eof() {
    let lp = lp();
    let r = StreamReader::new();
    r.feed_data(b"one ").unwrap();
    feed_later(&lp, &r, &[b"two ", b"three"], true);
    let r2 = r.clone();
    assert_eq!(
        run(&lp, async move { r2.read_to_end().await.unwrap() }),
        b"one two three"
    );
    assert!(r.at_eof());
}

#[test]
fn readline_returns_lines_and_the_partial_last_one() {
    let lp = lp();
    let r = StreamReader::new();
    feed_later(&lp, &r, &[b"first\nsec", b"ond\nthi", b"rd"], true);
    let r2 = r.clone();
    let lines = run(&lp, async move {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(r2.readline().await.unwrap());
        }
        v
    });
    assert_eq!(
        lines,
        [
            b"first\n".to_vec(),
            b"second\n".to_vec(),
            b"third".to_vec(),
            Vec::new()
        ]
    );
}

#[test]
fn readline_over_the_limit_discards_the_line_up_to_its_newline() {
    // asyncio: readline turns LimitOverrunError into ValueError after removing the
    // overlong line (separator included) from the buffer.
    let lp = lp();
    let r = StreamReader::with_limit(4).unwrap();
    r.feed_data(b"toolong\nok\n").unwrap();
    let r2 = r.clone();
    let (err, next) = run(&lp, async move {
        let err = r2.readline().await.unwrap_err();
        (err, r2.readline().await.unwrap())
    });
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(
        err.downcast_ref::<LimitOverrunError>()
            .unwrap()
            .separator_found
    );
    assert_eq!(next, b"ok\n");
}

#[test]
fn readline_over_the_limit_without_newline_clears_the_buffer() {
    let lp = lp();
    let r = StreamReader::with_limit(4).unwrap();
    r.feed_data(b"abcdefgh").unwrap();
    let r2 = r.clone();
    let err = run(&lp, async move { r2.readline().await.unwrap_err() });
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(
        !err.downcast_ref::<LimitOverrunError>()
            .unwrap()
            .separator_found
    );
    assert_eq!(r.buffered(), 0);
}

#[test]
fn readuntil_finds_a_separator_split_across_chunks() {
    let lp = lp();
    let r = StreamReader::new();
    feed_later(&lp, &r, &[b"key: v\r", b"\nnext"], false);
    let r2 = r.clone();
    assert_eq!(
        run(&lp, async move { r2.readuntil(b"\r\n").await.unwrap() }),
        b"key: v\r\n"
    );
    assert_eq!(r.buffered(), 4);
}

#[test]
fn readuntil_rejects_an_empty_separator() {
    let r = StreamReader::new();
    r.feed_data(b"abc").unwrap();
    let err = poll_once(r.readuntil(b"")).unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(r.buffered(), 3);
}

#[test]
fn readuntil_at_eof_fails_with_the_partial_bytes_and_consumes_them() {
    let lp = lp();
    let r = StreamReader::new();
    feed_later(&lp, &r, &[b"no sep", b"arator"], true);
    let r2 = r.clone();
    let err = run(&lp, async move { r2.readuntil(b"\n").await.unwrap_err() });
    assert_eq!(err.kind(), ErrorKind::IncompleteRead);
    let e = err.downcast_ref::<IncompleteReadError>().unwrap();
    assert_eq!(e.partial, b"no separator");
    assert_eq!(e.expected, None);
    assert!(r.at_eof());
}

#[test]
fn readuntil_limit_overrun_leaves_the_buffer_intact() {
    let lp = lp();
    let r = StreamReader::with_limit(5).unwrap();
    r.feed_data(b"abcdefghij").unwrap();
    let r2 = r.clone();
    let err = run(&lp, async move { r2.readuntil(b"\n").await.unwrap_err() });
    assert_eq!(err.kind(), ErrorKind::LimitOverrun);
    let e = err.downcast_ref::<LimitOverrunError>().unwrap();
    assert_eq!(
        *e,
        LimitOverrunError {
            consumed: 10,
            separator_found: false
        }
    );
    assert_eq!(r.buffered(), 10);
    // The data is still readable.
    assert_eq!(poll_once(r.read(100)).unwrap().unwrap(), b"abcdefghij");
}

#[test]
fn readuntil_separator_found_past_the_limit_is_an_overrun_at_its_offset() {
    let r = StreamReader::with_limit(3).unwrap();
    r.feed_data(b"abcdef|rest").unwrap();
    let err = poll_once(r.readuntil(b"|")).unwrap().unwrap_err();
    assert_eq!(
        *err.downcast_ref::<LimitOverrunError>().unwrap(),
        LimitOverrunError {
            consumed: 6,
            separator_found: true
        }
    );
    assert_eq!(r.buffered(), 11);
    // A chunk of exactly `limit` bytes before the separator is accepted.
    let r = StreamReader::with_limit(3).unwrap();
    r.feed_data(b"abc|").unwrap();
    assert_eq!(poll_once(r.readuntil(b"|")).unwrap().unwrap(), b"abc|");
}

#[test]
fn readexactly_waits_for_all_bytes() {
    let lp = lp();
    let r = StreamReader::new();
    feed_later(&lp, &r, &[b"12", b"34", b"5678"], false);
    let r2 = r.clone();
    assert_eq!(
        run(&lp, async move { r2.readexactly(5).await.unwrap() }),
        b"12345"
    );
    assert_eq!(r.buffered(), 3);
    assert_eq!(poll_once(r.readexactly(0)).unwrap().unwrap(), b"");
}

#[test]
fn readexactly_at_eof_carries_partial_bytes_and_expected_count() {
    let lp = lp();
    let r = StreamReader::new();
    feed_later(&lp, &r, &[b"abc"], true);
    let r2 = r.clone();
    let err = run(&lp, async move { r2.readexactly(8).await.unwrap_err() });
    assert_eq!(err.kind(), ErrorKind::IncompleteRead);
    assert_eq!(
        *err.downcast_ref::<IncompleteReadError>().unwrap(),
        IncompleteReadError {
            partial: b"abc".to_vec(),
            expected: Some(8)
        }
    );
    assert_eq!(r.buffered(), 0);
}

#[test]
fn at_eof_needs_eof_and_an_empty_buffer() {
    let r = StreamReader::new();
    assert!(!r.at_eof());
    r.feed_data(b"z").unwrap();
    r.feed_eof();
    assert!(!r.at_eof());
    poll_once(r.read(1)).unwrap().unwrap();
    assert!(r.at_eof());
}

#[test]
fn feed_data_after_eof_is_an_error_and_empty_data_is_ignored() {
    let r = StreamReader::new();
    r.feed_data(b"").unwrap();
    assert_eq!(r.buffered(), 0);
    r.feed_eof();
    assert_eq!(
        r.feed_data(b"x").unwrap_err().kind(),
        ErrorKind::InvalidState
    );
}

#[test]
fn an_exception_fails_every_read_even_with_buffered_data() {
    let r = StreamReader::new();
    r.feed_data(b"data\n").unwrap();
    r.set_exception(Error::new(ErrorKind::Other, "boom"));
    assert_eq!(r.exception().unwrap().message(), Some("boom"));
    assert_eq!(
        poll_once(r.read(2)).unwrap().unwrap_err().message(),
        Some("boom")
    );
    assert_eq!(
        poll_once(r.readline()).unwrap().unwrap_err().message(),
        Some("boom")
    );
    assert_eq!(
        poll_once(r.readexactly(1)).unwrap().unwrap_err().message(),
        Some("boom")
    );
    assert_eq!(
        poll_once(r.readuntil(b"\n"))
            .unwrap()
            .unwrap_err()
            .message(),
        Some("boom")
    );
    assert_eq!(
        poll_once(r.read_to_end()).unwrap().unwrap_err().message(),
        Some("boom")
    );
    // read(0) checks the exception first too, as asyncio's does.
    assert!(poll_once(r.read(0)).unwrap().is_err());
}

#[test]
fn an_exception_wakes_a_waiting_read() {
    let lp = lp();
    let r = StreamReader::new();
    let r2 = r.clone();
    lp.call_later(Duration::from_secs(1), move || {
        r2.set_exception(Error::new(ErrorKind::Other, "reset"))
    })
    .unwrap();
    let r3 = r.clone();
    let err = run(&lp, async move { r3.readexactly(4).await.unwrap_err() });
    assert_eq!(err.message(), Some("reset"));
}

#[test]
fn a_second_concurrent_read_is_a_runtime_error() {
    // asyncio: "read() called while another coroutine is already waiting for incoming
    // data" (RuntimeError).
    let lp = lp();
    let r = StreamReader::new();
    let r1 = r.clone();
    let first = lp.create_task(async move { r1.read(10).await });
    let r2 = r.clone();
    let second = lp.create_task(async move { r2.readline().await });
    let err = lp
        .run_until_complete(&*second)
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Runtime);
    assert!(err.message().unwrap().contains("readuntil()"));
    r.feed_data(b"ok").unwrap();
    assert_eq!(
        lp.run_until_complete(&*first).unwrap().unwrap().unwrap(),
        b"ok"
    );
}

#[test]
fn a_cancelled_read_frees_the_reader_for_the_next_one() {
    let lp = lp();
    let r = StreamReader::new();
    let r1 = r.clone();
    let first = lp.create_task(async move { r1.read(10).await });
    lp.run_once().unwrap();
    assert!(
        poll_once(r.read(1)).unwrap().is_err(),
        "first read is waiting"
    );
    first.cancel();
    assert!(
        lp.run_until_complete(&*first)
            .unwrap()
            .unwrap_err()
            .is_cancelled()
    );
    let r2 = r.clone();
    let second = lp.create_task(async move { r2.read(10).await });
    r.feed_data(b"later").unwrap();
    assert_eq!(
        lp.run_until_complete(&*second).unwrap().unwrap().unwrap(),
        b"later"
    );
}

#[test]
fn reading_pauses_above_twice_the_limit_and_resumes_at_the_limit() {
    // asyncio: feed_data pauses when len(buffer) > 2 * limit; _maybe_resume_transport
    // resumes when len(buffer) <= limit.
    let r = StreamReader::with_limit(4).unwrap();
    let t = MockTransport::new();
    r.set_transport(t.clone()).unwrap();
    r.feed_data(b"12345678").unwrap();
    assert_eq!(t.pauses.get(), 0, "exactly 2 x limit does not pause");
    r.feed_data(b"9").unwrap();
    assert_eq!(t.pauses.get(), 1);
    r.feed_data(b"abc").unwrap();
    assert_eq!(t.pauses.get(), 1, "paused once only");
    // 12 buffered: reading down to 5 keeps it paused, to 4 resumes.
    poll_once(r.read(7)).unwrap().unwrap();
    assert_eq!(t.resumes.get(), 0);
    poll_once(r.read(1)).unwrap().unwrap();
    assert_eq!(t.resumes.get(), 1);
    poll_once(r.read(4)).unwrap().unwrap();
    assert_eq!(t.resumes.get(), 1, "resumed once only");
    // And the cycle repeats.
    r.feed_data(b"123456789").unwrap();
    assert_eq!(t.pauses.get(), 2);
}

#[test]
fn reads_that_consume_resume_the_transport() {
    // Limit 2: 5 buffered bytes pause the transport; every read method that brings the
    // buffer down to 2 resumes it.
    for op in 0..5 {
        let r = StreamReader::with_limit(2).unwrap();
        let t = MockTransport::new();
        r.set_transport(t.clone()).unwrap();
        r.feed_data(if op == 3 { b"abcde" } else { b"ab\ncd" })
            .unwrap();
        assert_eq!(t.pauses.get(), 1);
        let rest: &[u8] = match op {
            0 => {
                assert_eq!(poll_once(r.readline()).unwrap().unwrap(), b"ab\n");
                b"cd"
            }
            1 => {
                assert_eq!(poll_once(r.readexactly(3)).unwrap().unwrap(), b"ab\n");
                b"cd"
            }
            2 => {
                assert_eq!(poll_once(r.readuntil(b"b\n")).unwrap().unwrap(), b"ab\n");
                b"cd"
            }
            3 => {
                // The overlong line is dropped from the buffer.
                assert!(poll_once(r.readline()).unwrap().is_err());
                b""
            }
            _ => {
                assert_eq!(poll_once(r.read(3)).unwrap().unwrap(), b"ab\n");
                b"cd"
            }
        };
        assert_eq!(t.resumes.get(), 1, "op {op}");
        assert_eq!(r.buffered(), rest.len(), "op {op}");
    }
}

#[test]
fn waiting_for_data_resumes_a_paused_transport() {
    // asyncio's _wait_for_data resumes reading first, or readexactly(n > limit) would
    // deadlock.
    let lp = lp();
    let r = StreamReader::with_limit(2).unwrap();
    let t = MockTransport::new();
    r.set_transport(t.clone()).unwrap();
    r.feed_data(b"12345").unwrap();
    assert!(t.paused.get());
    let r2 = r.clone();
    let task = lp.create_task(async move { r2.readexactly(8).await });
    lp.run_once().unwrap();
    assert!(!t.paused.get(), "waiting resumed the transport");
    assert_eq!(t.resumes.get(), 1);
    r.feed_data(b"678").unwrap();
    assert_eq!(
        lp.run_until_complete(&*task).unwrap().unwrap().unwrap(),
        b"12345678"
    );
}

#[test]
fn set_transport_twice_is_an_error() {
    let r = StreamReader::new();
    r.set_transport(MockTransport::new()).unwrap();
    let err = r.set_transport(MockTransport::new()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
}

#[test]
fn a_reader_without_transport_never_pauses() {
    let r = StreamReader::with_limit(1).unwrap();
    r.feed_data(&[0; 100]).unwrap();
    assert_eq!(poll_once(r.read(1000)).unwrap().unwrap().len(), 100);
}
