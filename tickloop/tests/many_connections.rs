//! Thousands of concurrent connections on one loop, per backend (select within FD_SETSIZE).

mod common;

use std::cell::Cell;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Mutex;

use tickloop::{BackendKind, EventLoop, Interest, IoHandle, LoopError, RunMode};

/// The tests of this binary share one fd table; select needs low descriptor numbers, so they
/// take turns.
static FD_TABLE: Mutex<()> = Mutex::new(());

/// Outcome counters of the echo server below.
#[derive(Default)]
struct Served {
    expected: usize,
    closed: Cell<usize>,
    refused: Cell<usize>,
    listener: Cell<Option<IoHandle>>,
}

impl Served {
    /// Counts one connection as done; the last one closes the listener, ending the loop.
    fn done(&self, lp: &mut EventLoop, outcome: &Cell<usize>) {
        outcome.set(outcome.get() + 1);
        if self.closed.get() + self.refused.get() == self.expected {
            lp.close(self.listener.take().unwrap()).unwrap();
        }
    }
}

/// Starts a loop-driven echo server that stops listening once `expected` connections were
/// served or refused.
fn start_echo_server(lp: &mut EventLoop, expected: usize) -> (SocketAddr, Rc<Served>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    // Re-listening raises the backlog above std's 128, so sequential connects never stall.
    // SAFETY: listen on a descriptor we own.
    assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 4096) }, 0);
    let addr = listener.local_addr().unwrap();
    let served = Rc::new(Served {
        expected,
        ..Served::default()
    });
    let counters = Rc::clone(&served);
    let handle = lp
        .watch(listener.as_raw_fd(), Interest::READABLE, move |lp, _, _| {
            loop {
                let stream = match listener.accept() {
                    Ok((stream, _)) => stream,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("accept: {e}"),
                };
                stream.set_nonblocking(true).unwrap();
                let watched = watch_echo(lp, stream, Rc::clone(&counters));
                if let Err(LoopError::FdBeyondSelectLimit { .. }) = watched {
                    counters.done(lp, &counters.refused);
                }
            }
        })
        .unwrap();
    served.listener.set(Some(handle));
    (addr, served)
}

fn watch_echo(
    lp: &mut EventLoop,
    mut stream: TcpStream,
    served: Rc<Served>,
) -> tickloop::Result<()> {
    let fd = stream.as_raw_fd();
    lp.watch(fd, Interest::READABLE, move |lp, handle, _| {
        let mut buf = [0u8; 64];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => {
                    lp.close(handle).unwrap();
                    served.done(lp, &served.closed);
                    return;
                }
                Ok(n) => stream.write_all(&buf[..n]).unwrap(),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) => panic!("read: {e}"),
            }
        }
    })?;
    Ok(())
}

/// Opens `count` connections, then sends each its index and checks the echo, all while every
/// connection stays open; the server must therefore hold them all at once.
fn run_clients(addr: SocketAddr, count: usize) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut streams: Vec<TcpStream> = (0..count)
            .map(|_| TcpStream::connect(addr).unwrap())
            .collect();
        let mut echoed = 0;
        for (i, stream) in streams.iter_mut().enumerate() {
            let id = (i as u32).to_le_bytes();
            if stream.write_all(&id).is_err() {
                continue; // refused by the server
            }
            let mut back = [0u8; 4];
            if stream.read_exact(&mut back).is_ok() {
                assert_eq!(back, id);
                echoed += 1;
            }
        }
        echoed
    })
}

/// Thousands of connections (select: as many as fit below FD_SETSIZE) are all echoed and
/// closed.
fn thousands_of_connections(kind: BackendKind) {
    let _turn = FD_TABLE.lock().unwrap_or_else(|p| p.into_inner());
    common::raise_fd_limit(16_384);
    let count = if kind == BackendKind::Select {
        400
    } else {
        3000
    };
    let mut lp = EventLoop::new(kind).unwrap();
    let (addr, served) = start_echo_server(&mut lp, count);
    let clients = run_clients(addr, count);
    lp.run(RunMode::Default).unwrap();
    assert_eq!(clients.join().unwrap(), count);
    assert_eq!(served.closed.get(), count);
    assert_eq!(served.refused.get(), 0);
}

crate::per_backend!(
    #[cfg_attr(miri, ignore = "needs TCP sockets, which Miri does not emulate")]
    thousands_of_connections
);

/// With more connections than select can watch, the server refuses the ones whose fd is at or
/// above FD_SETSIZE with a clear error and keeps serving the others.
#[test]
#[cfg_attr(miri, ignore = "needs TCP sockets, which Miri does not emulate")]
fn select_refuses_connections_beyond_fd_setsize() {
    let _turn = FD_TABLE.lock().unwrap_or_else(|p| p.into_inner());
    common::raise_fd_limit(16_384);
    let count = 800; // 1600 descriptors: clients and accepted sockets
    let mut lp = EventLoop::new(BackendKind::Select).unwrap();
    let (addr, served) = start_echo_server(&mut lp, count);
    let clients = run_clients(addr, count);
    lp.run(RunMode::Default).unwrap();
    let echoed = clients.join().unwrap();
    assert!(served.refused.get() > 0);
    assert_eq!(served.closed.get() + served.refused.get(), count);
    assert_eq!(echoed, served.closed.get());
}
