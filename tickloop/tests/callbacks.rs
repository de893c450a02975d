//! Closing, re-arming and stopping from inside callbacks; thread-pool completions.

mod common;

use std::cell::{Cell, RefCell};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tickloop::{BackendKind, EventLoop, Interest, LoopError, RunMode};

fn socket_pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

/// A watcher that closes itself: its callback (and the socket it owns) is dropped afterwards,
/// the close callback runs once, and the handle is stale from then on.
fn close_inside_own_callback(kind: BackendKind) {
    let (mut ours, mut peer) = socket_pair();
    peer.write_all(b"bye").unwrap();
    let mut lp = EventLoop::new(kind).unwrap();
    let closed = Rc::new(Cell::new(0));
    let closed_count = Rc::clone(&closed);
    let handle_slot = Rc::new(Cell::new(None));
    let own_handle = Rc::clone(&handle_slot);
    let handle = lp
        .watch(
            ours.as_raw_fd(),
            Interest::READABLE,
            move |lp, handle, _| {
                assert_eq!(Some(handle), own_handle.get());
                let mut buf = [0; 8];
                assert_eq!(ours.read(&mut buf).unwrap(), 3);
                let closed_count = Rc::clone(&closed_count);
                lp.close_then(handle, move |_| closed_count.set(closed_count.get() + 1))
                    .unwrap();
                assert!(matches!(
                    lp.set_interest(handle, Interest::READABLE),
                    Err(LoopError::StaleHandle)
                ));
            },
        )
        .unwrap();
    handle_slot.set(Some(handle));
    lp.run(RunMode::Default).unwrap();
    assert_eq!(closed.get(), 1);
    assert!(matches!(lp.close(handle), Err(LoopError::StaleHandle)));
    // Our end was dropped with the callback, so the peer reads EOF.
    peer.set_nonblocking(false).unwrap();
    let mut rest = Vec::new();
    assert_eq!(peer.read_to_end(&mut rest).unwrap(), 0);
}

/// A callback that closes another watcher whose event is in the same batch: the closed
/// watcher is not called.
fn close_other_watcher_ready_in_same_poll(kind: BackendKind) {
    let (a, mut a_peer) = socket_pair();
    let (b, mut b_peer) = socket_pair();
    a_peer.write_all(b"1").unwrap();
    b_peer.write_all(b"1").unwrap();
    let mut lp = EventLoop::new(kind).unwrap();
    let called = Rc::new(RefCell::new(Vec::new()));
    let handles = Rc::new(RefCell::new(Vec::new()));
    for (name, stream) in [("a", a), ("b", b)] {
        let called = Rc::clone(&called);
        let all_handles = Rc::clone(&handles);
        let handle = lp
            .watch(stream.as_raw_fd(), Interest::READABLE, move |lp, _, _| {
                let _owned = &stream;
                called.borrow_mut().push(name);
                // Whoever runs first closes both.
                for handle in all_handles.borrow_mut().drain(..) {
                    lp.close(handle).unwrap();
                }
            })
            .unwrap();
        handles.borrow_mut().push(handle);
    }
    lp.run(RunMode::Default).unwrap();
    assert_eq!(called.borrow().len(), 1, "{:?}", called.borrow());
}

/// Re-arming inside a callback: a writer switches to reading, then back to writing.
fn rearm_inside_callback(kind: BackendKind) {
    let (ours, peer) = socket_pair();
    let mut lp = EventLoop::new(kind).unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    let events = Rc::clone(&log);
    let mut stream = ours;
    let mut peer = Some(peer);
    lp.watch(
        stream.as_raw_fd(),
        Interest::WRITABLE,
        move |lp, handle, ready| {
            if ready.is_writable() {
                events.borrow_mut().push("write");
                if events.borrow().len() == 5 {
                    lp.close(handle).unwrap();
                    return;
                }
                stream.write_all(b"ping").unwrap();
                lp.set_interest(handle, Interest::READABLE).unwrap();
                // The peer answers; it is drained here so readiness is exact.
                let peer = peer.as_mut().unwrap();
                let mut buf = [0; 4];
                peer.read_exact(&mut buf).unwrap();
                peer.write_all(b"pong").unwrap();
            } else {
                events.borrow_mut().push("read");
                let mut buf = [0; 4];
                stream.read_exact(&mut buf).unwrap();
                assert_eq!(&buf, b"pong");
                assert_eq!(
                    stream.read(&mut buf).unwrap_err().kind(),
                    ErrorKind::WouldBlock
                );
                lp.set_interest(handle, Interest::WRITABLE).unwrap();
            }
        },
    )
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*log.borrow(), ["write", "read", "write", "read", "write"]);
}

/// Stopping from a callback returns from `run` while the loop is still alive; running again
/// continues where it left off.
fn stop_from_callback(kind: BackendKind) {
    let mut lp = EventLoop::new(kind).unwrap();
    let fired = Rc::new(Cell::new(0));
    let count = Rc::clone(&fired);
    lp.start_repeating_timer(Duration::ZERO, Duration::from_millis(1), move |lp, t| {
        count.set(count.get() + 1);
        if count.get() == 2 {
            lp.stop();
        }
        if count.get() == 5 {
            lp.stop_timer(t);
        }
    });
    assert!(lp.run(RunMode::Default).unwrap(), "stopped while alive");
    assert_eq!(fired.get(), 2);
    assert!(!lp.run(RunMode::Default).unwrap(), "ran to completion");
    assert_eq!(fired.get(), 5);
}

/// Work runs off the loop thread; completions run on it, with results or panic payloads.
fn thread_pool_completions(kind: BackendKind) {
    let mut lp = EventLoop::new(kind).unwrap();
    let loop_thread = std::thread::current().id();
    let results = Rc::new(RefCell::new(Vec::new()));
    for n in 0..20u64 {
        let results = Rc::clone(&results);
        lp.queue_work(
            move || {
                assert_ne!(std::thread::current().id(), loop_thread);
                std::thread::sleep(Duration::from_millis(n % 3));
                n * n
            },
            move |_, result| {
                assert_eq!(std::thread::current().id(), loop_thread);
                results.borrow_mut().push(result.unwrap());
            },
        )
        .unwrap();
    }
    let panicked = Rc::new(Cell::new(false));
    let saw_panic = Rc::clone(&panicked);
    lp.queue_work(
        || -> u64 { panic!("job failed on purpose") },
        move |_, result| saw_panic.set(result.is_err()),
    )
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    let mut squares = results.borrow().clone();
    squares.sort_unstable();
    assert_eq!(squares, (0..20u64).map(|n| n * n).collect::<Vec<_>>());
    assert!(panicked.get());
    assert_eq!(lp.stats().completions, 21);
}

/// A completion can queue more work, which keeps the loop alive until it completes too.
fn completion_queues_more_work(kind: BackendKind) {
    let mut lp = EventLoop::new(kind).unwrap();
    let chain = Rc::new(RefCell::new(Vec::new()));
    let first = Rc::clone(&chain);
    lp.queue_work(
        || 1,
        move |lp, result| {
            first.borrow_mut().push(result.unwrap());
            let second = Rc::clone(&first);
            lp.queue_work(|| 2, move |_, r| second.borrow_mut().push(r.unwrap()))
                .unwrap();
        },
    )
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*chain.borrow(), [1, 2]);
}

/// Without timers the tick reads the clock only when its poll returns: an I/O callback still
/// sees a `now()` no earlier than the moment its descriptor became ready.
fn io_callbacks_see_the_time_their_poll_returned(kind: BackendKind) {
    let (mut ours, mut peer) = socket_pair();
    let mut lp = EventLoop::new(kind).unwrap();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        let written_at = Instant::now();
        peer.write_all(b"x").unwrap();
        written_at
    });
    let seen = Rc::new(Cell::new(None));
    let slot = Rc::clone(&seen);
    lp.watch(
        ours.as_raw_fd(),
        Interest::READABLE,
        move |lp, handle, _| {
            let mut byte = [0];
            ours.read_exact(&mut byte).unwrap();
            slot.set(Some(lp.now()));
            lp.close(handle).unwrap();
        },
    )
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    let written_at = writer.join().unwrap();
    let seen = seen.get().expect("the callback ran");
    assert!(
        seen >= written_at,
        "now() {seen:?} is older than the write {written_at:?}"
    );
}

crate::per_backend!(
    io_callbacks_see_the_time_their_poll_returned,
    close_inside_own_callback,
    close_other_watcher_ready_in_same_poll,
    rearm_inside_callback,
    stop_from_callback,
    thread_pool_completions,
    completion_queues_more_work,
);
