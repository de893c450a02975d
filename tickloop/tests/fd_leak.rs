//! No descriptor outlives a loop: one test (so nothing else opens fds meanwhile) that runs a
//! busy scenario on every backend and compares /proc/self/fd before and after.

mod common;

use std::cell::Cell;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;

use tickloop::{BackendKind, EventLoop, Interest, RunMode};

fn busy_scenario(kind: BackendKind) {
    let mut lp = EventLoop::new(kind).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Rc::new(Cell::new(0));
    let count = Rc::clone(&accepted);
    lp.watch(
        listener.as_raw_fd(),
        Interest::READABLE,
        move |lp, handle, _| {
            while let Ok((mut stream, _)) = listener.accept() {
                stream.set_nonblocking(true).unwrap();
                count.set(count.get() + 1);
                lp.watch(
                    stream.as_raw_fd(),
                    Interest::READABLE,
                    move |lp, conn, _| {
                        let mut buf = [0; 16];
                        match stream.read(&mut buf) {
                            Ok(0) => lp.close(conn).unwrap(),
                            Ok(n) => stream.write_all(&buf[..n]).unwrap(),
                            Err(_) => {}
                        }
                    },
                )
                .unwrap();
                if count.get() == 10 {
                    lp.close(handle).unwrap();
                }
            }
        },
    )
    .unwrap();
    let (read_end, write_end) = common::pipe();
    let pipe_handle = lp
        .watch(read_end.as_raw_fd(), Interest::READABLE, move |_, _, _| {
            let _ = &read_end;
        })
        .unwrap();
    drop(write_end);
    lp.start_timer(Duration::from_millis(5), move |lp, _| {
        lp.close(pipe_handle).unwrap();
    });
    lp.queue_work(|| 42, |_, result| assert_eq!(result.unwrap(), 42))
        .unwrap();
    let clients = std::thread::spawn(move || {
        for _ in 0..10 {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream.write_all(b"x").unwrap();
            let mut back = [0; 1];
            stream.read_exact(&mut back).unwrap();
        }
    });
    lp.run(RunMode::Default).unwrap();
    clients.join().unwrap();
    assert_eq!(accepted.get(), 10);
}

#[test]
#[cfg_attr(
    miri,
    ignore = "needs TCP sockets and /proc, which Miri does not emulate"
)]
fn no_descriptor_outlives_the_loop() {
    // Warm up once so lazily opened process-wide descriptors are not counted as leaks.
    busy_scenario(BackendKind::Epoll);
    let before = common::open_fd_count();
    for kind in BackendKind::ALL {
        busy_scenario(kind);
        assert_eq!(
            common::open_fd_count(),
            before,
            "fds leaked by the {kind} backend"
        );
    }
}
