//! `herd` and `herd-exclusive`: a thundering herd on purpose. Several threads wait on one
//! socket, each through its own epoll instance; the main thread sends one datagram at a time,
//! each while every waiter is blocked. Without `EPOLLEXCLUSIVE` each datagram wakes every
//! waiter; with it, exactly one.

use std::sync::{Arc, mpsc};
use std::thread;

use anyhow::{Context, Result, anyhow, bail, ensure};

use super::{Run, close_all};
use crate::books::CtlOp;
use crate::caller::{Caller, EpollCall, Fd, Waited};
use crate::fds;
use crate::proc_task::TaskWatch;
use crate::report::{Herd, Syscall};

/// Threads waiting on the shared socket.
const WAITERS: u64 = 3;

pub(super) fn herd(run: &Run) -> Result<()> {
    shared_socket(run, false)
}

pub(super) fn herd_exclusive(run: &Run) -> Result<()> {
    shared_socket(run, true)
}

fn shared_socket(run: &Run, exclusive: bool) -> Result<()> {
    let c = run.caller;
    let (rx, tx) = fds::unix_datagram_pair().context("socketpair")?;
    let (started, waiter_started) = mpsc::channel::<u32>();
    let mut waiters = Vec::new();
    for i in 0..WAITERS {
        let stop = fds::eventfd().context("eventfd")?;
        let books = Arc::clone(run.books);
        let started = started.clone();
        let waiter =
            thread::spawn(move || wait_for_datagrams(&books, i, rx, stop, exclusive, started));
        waiters.push((stop, waiter));
    }
    let watches = (0..WAITERS)
        .map(|_| {
            let tid = waiter_started.recv().context("a waiter failed to start")?;
            TaskWatch::open(tid)
        })
        .collect::<Result<Vec<_>>>()?;
    let all_blocked = || -> Result<()> {
        for watch in &watches {
            watch.wait_blocked(run.books, Syscall::EpollWait, 1)?;
        }
        Ok(())
    };
    for _ in 0..run.count {
        // Every waiter sleeps (so the datagram before this one was taken): this one finds
        // them all blocked.
        all_blocked()?;
        fds::poke(tx)?;
    }
    all_blocked()?;
    // Each waiter's own eventfd stops it: wake-ups of one waiter each.
    let mut received = 0;
    for (stop, waiter) in waiters {
        fds::poke(stop)?;
        received += waiter.join().map_err(|_| anyhow!("a waiter panicked"))??;
        c.close(stop.fd)?;
    }
    ensure!(
        received == run.count,
        "{} datagrams sent, {received} received",
        run.count
    );
    for watch in watches {
        watch.close(c)?;
    }
    run.books.herd(Herd {
        fd: rx.fd,
        waiters: WAITERS,
        rounds: run.count,
        exclusive,
    });
    close_all(c, &[rx, tx])
}

/// One waiter: its own epoll instance holding the shared socket and its stop eventfd. Returns
/// the datagrams it received.
fn wait_for_datagrams(
    books: &Arc<crate::books::Books>,
    index: u64,
    socket: Fd,
    stop: Fd,
    exclusive: bool,
    started: mpsc::Sender<u32>,
) -> Result<u64> {
    let c = Caller::new(books);
    c.set_name(&format!("waiter-{index}"))?;
    let ep = c.epoll_create1().context("epoll_create1")?;
    let mut events = libc::EPOLLIN as u32;
    if exclusive {
        events |= libc::EPOLLEXCLUSIVE as u32;
    }
    c.epoll_ctl(ep, CtlOp::Add, socket, events)
        .context("adding the shared socket")?;
    c.epoll_ctl(ep, CtlOp::Add, stop, libc::EPOLLIN as u32)
        .context("adding the stop eventfd")?;
    started.send(c.tid()).context("telling the main thread")?;
    let mut received = 0;
    loop {
        match c.epoll_wait(ep, EpollCall::Wait, 4, None) {
            Waited::Ready(events) if events.iter().any(|e| e.fd == stop.fd) => {
                c.close(ep.fd)?;
                return Ok(received);
            }
            // Another waiter may have taken the datagram first: then there is nothing to read.
            Waited::Ready(_) => received += fds::drain(socket)?.len() as u64,
            other => bail!("a waiter's wait returned {other:?}"),
        }
    }
}
