//! Readiness of sockets, pipes and eventfds, per backend.

mod common;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;
use std::time::Duration;

use tickloop::{BackendKind, EventLoop, Interest, RunMode};

fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    client.set_nonblocking(true).unwrap();
    server.set_nonblocking(true).unwrap();
    (client, server)
}

fn read_fd(fd: &OwnedFd, buf: &mut [u8]) -> isize {
    // SAFETY: reads into a live buffer of the given length.
    unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) }
}

fn write_fd(fd: &OwnedFd, bytes: &[u8]) {
    // SAFETY: writes from a live buffer of the given length.
    let n = unsafe { libc::write(fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) };
    assert_eq!(n, bytes.len() as isize);
}

/// A socket with data is readable; the callback reads exactly what was sent.
fn socket_becomes_readable(kind: BackendKind) {
    let (mut client, mut server) = tcp_pair();
    let mut lp = EventLoop::new(kind).unwrap();
    let received = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&received);
    lp.watch(
        server.as_raw_fd(),
        Interest::READABLE,
        move |lp, handle, ready| {
            assert!(ready.is_readable());
            let mut buf = [0u8; 64];
            let n = server.read(&mut buf).unwrap();
            sink.borrow_mut().extend_from_slice(&buf[..n]);
            if sink.borrow().len() == 11 {
                lp.close(handle).unwrap();
            }
        },
    )
    .unwrap();
    client.write_all(b"hello world").unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(&*received.borrow(), b"hello world");
}

/// A fresh socket is writable at once; a paused watcher is not called.
fn socket_is_writable_and_pause_silences_it(kind: BackendKind) {
    let (client, _server) = tcp_pair();
    let mut lp = EventLoop::new(kind).unwrap();
    let calls = Rc::new(Cell::new(0));
    let seen = Rc::clone(&calls);
    let handle = lp
        .watch(
            client.as_raw_fd(),
            Interest::WRITABLE,
            move |lp, handle, ready| {
                assert!(ready.is_writable() && !ready.is_readable());
                seen.set(seen.get() + 1);
                lp.set_interest(handle, Interest::NONE).unwrap();
            },
        )
        .unwrap();
    // The paused watcher no longer keeps the loop alive, so this returns after one call.
    assert!(!lp.run(RunMode::Default).unwrap());
    assert_eq!(calls.get(), 1);
    assert_eq!(lp.interest(handle).unwrap(), Interest::NONE);
    lp.close(handle).unwrap();
}

/// A pipe becomes readable when written, and reports EOF once the write end closes.
fn pipe_reports_data_then_eof(kind: BackendKind) {
    let (read_end, write_end) = common::pipe();
    let mut lp = EventLoop::new(kind).unwrap();
    let reads = Rc::new(RefCell::new(Vec::new()));
    let log = Rc::clone(&reads);
    let fd = read_end.as_raw_fd();
    let mut write_end = Some(write_end);
    write_fd(write_end.as_ref().unwrap(), b"abc");
    lp.watch(fd, Interest::READABLE, move |lp, handle, _ready| {
        let mut buf = [0u8; 16];
        let n = read_fd(&read_end, &mut buf);
        log.borrow_mut().push(n);
        // Closing the write end after the first read makes the next readiness an EOF.
        write_end.take();
        if n == 0 {
            lp.close(handle).unwrap();
        }
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*reads.borrow(), vec![3, 0]);
}

/// An eventfd written by another thread wakes the loop and is readable with that count.
fn eventfd_written_by_another_thread(kind: BackendKind) {
    let efd = Rc::new(common::eventfd());
    let writer_fd = efd.try_clone().unwrap();
    let mut lp = EventLoop::new(kind).unwrap();
    let total = Rc::new(Cell::new(0u64));
    let sum = Rc::clone(&total);
    let reader = Rc::clone(&efd);
    lp.watch(efd.as_raw_fd(), Interest::READABLE, move |lp, handle, _| {
        let mut buf = [0u8; 8];
        assert_eq!(read_fd(&reader, &mut buf), 8);
        sum.set(sum.get() + u64::from_ne_bytes(buf));
        if sum.get() == 5 {
            lp.close(handle).unwrap();
        }
    })
    .unwrap();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        write_fd(&writer_fd, &2u64.to_ne_bytes());
        std::thread::sleep(Duration::from_millis(20));
        write_fd(&writer_fd, &3u64.to_ne_bytes());
    });
    lp.run(RunMode::Default).unwrap();
    writer.join().unwrap();
    assert_eq!(total.get(), 5);
}

crate::per_backend!(
    #[cfg_attr(miri, ignore = "needs TCP sockets, which Miri does not emulate")]
    socket_becomes_readable,
    #[cfg_attr(miri, ignore = "needs TCP sockets, which Miri does not emulate")]
    socket_is_writable_and_pause_silences_it,
    pipe_reports_data_then_eof,
    eventfd_written_by_another_thread,
);

/// Edge-triggered epoll reports unread data once; level-triggered keeps reporting it.
#[test]
fn edge_triggered_reports_once_level_triggered_repeats() {
    for (kind, expected_calls) in [(BackendKind::EpollEdge, 1), (BackendKind::Epoll, 3)] {
        let (read_end, write_end) = common::pipe();
        write_fd(&write_end, b"x");
        let mut lp = EventLoop::new(kind).unwrap();
        let calls = Rc::new(Cell::new(0));
        let seen = Rc::clone(&calls);
        // Never reads, so the pipe stays readable.
        lp.watch(read_end.as_raw_fd(), Interest::READABLE, move |_, _, _| {
            seen.set(seen.get() + 1);
        })
        .unwrap();
        for _ in 0..3 {
            lp.run(RunMode::NoWait).unwrap();
        }
        assert_eq!(calls.get(), expected_calls, "{kind}");
    }
}

/// select refuses descriptors at or above FD_SETSIZE when the watcher is created.
#[test]
#[cfg_attr(miri, ignore = "raises RLIMIT_NOFILE, which Miri does not emulate")]
fn select_refuses_fd_beyond_its_limit() {
    common::raise_fd_limit(4096);
    let (read_end, _write_end) = common::pipe();
    let high = tickloop::SELECT_FD_LIMIT as i32 + 10;
    // SAFETY: dup3 onto a free high descriptor, closed again below.
    let duplicated = unsafe { libc::dup3(read_end.as_raw_fd(), high, libc::O_CLOEXEC) };
    assert_eq!(duplicated, high);
    let mut lp = EventLoop::new(BackendKind::Select).unwrap();
    let err = lp
        .watch(high, Interest::READABLE, |_, _, _| {})
        .unwrap_err();
    assert!(matches!(
        err,
        tickloop::LoopError::FdBeyondSelectLimit { fd, limit } if fd == high && limit == 1024
    ));
    assert!(err.to_string().contains("FD_SETSIZE (1024)"), "{err}");
    // The other backends take the same descriptor.
    let mut lp = EventLoop::new(BackendKind::Poll).unwrap();
    assert!(lp.watch(high, Interest::READABLE, |_, _, _| {}).is_ok());
    // SAFETY: closes the descriptor created above.
    unsafe { libc::close(high) };
}

/// A failing `epoll_ctl` is reported with the operation and fd; the changes queued after it
/// are kept and applied by the next tick.
#[test]
fn failed_interest_change_is_reported_and_the_rest_of_the_queue_survives() {
    let mut lp = EventLoop::new(BackendKind::Epoll).unwrap();
    // Far above any descriptor this process has open (the tests run in parallel, so a
    // just-closed descriptor could be reused at once).
    let closed_fd = 999_999;
    lp.watch(closed_fd, Interest::READABLE, |_, _, _| {})
        .unwrap();
    let (read_end, write_end) = common::pipe();
    write_fd(&write_end, b"!");
    let calls = Rc::new(Cell::new(0));
    let seen = Rc::clone(&calls);
    lp.watch(
        read_end.as_raw_fd(),
        Interest::READABLE,
        move |lp, handle, _| {
            seen.set(seen.get() + 1);
            lp.close(handle).unwrap();
        },
    )
    .unwrap();
    let err = lp.run(RunMode::NoWait).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "epoll_ctl(ADD, fd {closed_fd}) failed: {}",
            std::io::Error::from_raw_os_error(libc::EBADF)
        )
    );
    lp.run(RunMode::NoWait).unwrap();
    assert_eq!(calls.get(), 1);
}
