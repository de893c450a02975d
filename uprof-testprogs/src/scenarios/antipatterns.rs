//! `anti-*`: each plants one event-loop anti-pattern with known parameters, for uprof's
//! findings to name (and no other).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use super::{PATIENCE, Run, close_all, expect_events, expect_timeout};
use crate::books::CtlOp;
use crate::caller::{EpollCall, Fd, PollCall, Waited};
use crate::fds;
use crate::report::AntiPattern;

const IN: u32 = libc::EPOLLIN as u32;
const OUT: u32 = libc::EPOLLOUT as u32;

fn plant(run: &Run, finding: &str, fd: Option<Fd>, figure: &str, value: u64) {
    run.books.anti_pattern(AntiPattern {
        finding: finding.to_owned(),
        tid: run.caller.tid(),
        fd: fd.map(|fd| fd.fd),
        figure: figure.to_owned(),
        value,
    });
}

/// `ctl-churn`: COUNT times an eventfd is made ready, delivered and drained, then re-armed
/// with two `MOD`s (output interest on and off again, as a naive writer does): 2 changes per
/// delivered event.
pub(super) fn ctl_churn(run: &Run) -> Result<()> {
    let c = run.caller;
    let efd = fds::eventfd().context("eventfd")?;
    let ep = c.epoll_create1().context("epoll_create1")?;
    c.epoll_ctl(ep, CtlOp::Add, efd, IN)?;
    for _ in 0..run.count {
        fds::poke(efd)?;
        expect_events(
            c.epoll_wait(ep, EpollCall::Wait, 8, Some(PATIENCE)),
            &[efd.fd],
        )?;
        fds::drain(efd)?;
        c.epoll_ctl(ep, CtlOp::Mod, efd, IN | OUT)?;
        c.epoll_ctl(ep, CtlOp::Mod, efd, IN)?;
    }
    plant(run, "ctl-churn", Some(efd), "changes_per_event", 2);
    close_all(c, &[efd])?;
    c.close(ep.fd)?;
    Ok(())
}

/// `busy-poll`: COUNT zero-timeout waits in a row on an epoll instance with nothing ready.
pub(super) fn busy_poll(run: &Run) -> Result<()> {
    let c = run.caller;
    let efd = fds::eventfd().context("eventfd")?;
    let ep = c.epoll_create1().context("epoll_create1")?;
    c.epoll_ctl(ep, CtlOp::Add, efd, IN)?;
    for _ in 0..run.count {
        expect_timeout(c.epoll_wait(ep, EpollCall::Wait, 8, Some(Duration::ZERO)))?;
    }
    plant(
        run,
        "busy-poll",
        None,
        "spinning_polls",
        run.count.saturating_sub(1),
    );
    close_all(c, &[efd])?;
    c.close(ep.fd)?;
    Ok(())
}

/// Ready eventfds that `maxevents` leaves events of.
const MAXEVENTS: usize = 4;

/// `maxevents-saturated`: 2 × [`MAXEVENTS`] eventfds stay readable (never drained); COUNT
/// waits with `maxevents` [`MAXEVENTS`] each return it full.
pub(super) fn maxevents(run: &Run) -> Result<()> {
    let c = run.caller;
    let ep = c.epoll_create1().context("epoll_create1")?;
    let mut efds = Vec::new();
    for _ in 0..2 * MAXEVENTS {
        let efd = fds::eventfd().context("eventfd")?;
        c.epoll_ctl(ep, CtlOp::Add, efd, IN)?;
        fds::poke(efd)?;
        efds.push(efd);
    }
    for _ in 0..run.count {
        match c.epoll_wait(ep, EpollCall::Wait, MAXEVENTS, Some(PATIENCE)) {
            Waited::Ready(events) if events.len() == MAXEVENTS => {}
            waited => bail!("expected {MAXEVENTS} events, the wait returned {waited:?}"),
        }
    }
    plant(
        run,
        "maxevents-saturated",
        None,
        "maxevents",
        MAXEVENTS as u64,
    );
    close_all(c, &efds)?;
    c.close(ep.fd)?;
    Ok(())
}

/// `stale-interest`: a socket whose peer is closed stays registered; COUNT waits each deliver
/// its `EPOLLHUP`.
pub(super) fn hangup(run: &Run) -> Result<()> {
    let c = run.caller;
    let (sock, peer) = fds::unix_socketpair().context("socketpair")?;
    let ep = c.epoll_create1().context("epoll_create1")?;
    c.epoll_ctl(ep, CtlOp::Add, sock, IN)?;
    c.close(peer.fd)?;
    for _ in 0..run.count {
        let Waited::Ready(events) = c.epoll_wait(ep, EpollCall::Wait, 8, Some(PATIENCE)) else {
            bail!("a hung-up socket was not ready");
        };
        ensure!(
            events.len() == 1 && events[0].events & libc::EPOLLHUP as u32 != 0,
            "expected EPOLLHUP of fd {}, got {events:?}",
            sock.fd
        );
    }
    plant(run, "stale-interest", Some(sock), "hangups", run.count);
    close_all(c, &[sock])?;
    c.close(ep.fd)?;
    Ok(())
}

/// How long `anti-leak`'s loop runs with its forgotten fds registered: longer than
/// stale-interest's default idle time (1 s), so slower machines only make it longer.
const LEAK_IDLE: Duration = Duration::from_millis(1_200);
/// The timeout of each wait of `anti-leak`'s loop (not a short timer: 10 ms or less is).
const LEAK_TICK: Duration = Duration::from_millis(100);

/// `stale-interest` (leaks): the read ends of COUNT pipes are registered and never written to;
/// the loop waits [`LEAK_IDLE`] in waits of [`LEAK_TICK`] that time out, then closes them
/// still registered, in reverse order (the first registered is idle longest).
pub(super) fn leak(run: &Run) -> Result<()> {
    let c = run.caller;
    let ep = c.epoll_create1().context("epoll_create1")?;
    let mut pipes = Vec::new();
    for _ in 0..run.count {
        let (read, write) = fds::pipe().context("pipe")?;
        c.epoll_ctl(ep, CtlOp::Add, read, IN)?;
        pipes.push((read, write));
    }
    let start = Instant::now();
    while start.elapsed() < LEAK_IDLE {
        expect_timeout(c.epoll_wait(ep, EpollCall::Wait, 8, Some(LEAK_TICK)))?;
    }
    let first = pipes.first().map(|&(read, _)| read);
    plant(run, "stale-interest", first, "idle_fds", run.count);
    for &(read, write) in pipes.iter().rev() {
        close_all(c, &[read, write])?;
    }
    c.close(ep.fd)?;
    Ok(())
}

/// Pipes `linear-scan` polls.
const SCANNED: usize = 200;

/// `linear-scan`: COUNT `poll` calls over the read ends of [`SCANNED`] pipes, of which one is
/// readable.
pub(super) fn linear_scan(run: &Run) -> Result<()> {
    let c = run.caller;
    let mut ends = Vec::new();
    for _ in 0..SCANNED {
        ends.push(fds::pipe().context("pipe")?);
    }
    fds::poke(ends[0].1)?;
    for _ in 0..run.count {
        let mut entries: Vec<libc::pollfd> = ends
            .iter()
            .map(|(r, _)| libc::pollfd {
                fd: r.fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        match c.poll(PollCall::Poll, &mut entries, Some(PATIENCE)) {
            Waited::Ready(1) => {}
            waited => bail!("expected one ready pipe, poll returned {waited:?}"),
        }
    }
    plant(
        run,
        "linear-scan",
        None,
        "scanned_per_ready",
        SCANNED as u64,
    );
    let all: Vec<Fd> = ends.iter().flat_map(|&(r, w)| [r, w]).collect();
    close_all(c, &all)
}

/// The work of each tick of `saturated-loop`.
const TICK_WORK: Duration = Duration::from_millis(2);

/// `saturated-loop`: for COUNT seconds, each tick spins [`TICK_WORK`] on the event it was
/// woken for, and by then the next one is ready: the loop is busy all the time.
pub(super) fn saturated(run: &Run) -> Result<()> {
    let c = run.caller;
    let efd = fds::eventfd().context("eventfd")?;
    let ep = c.epoll_create1().context("epoll_create1")?;
    c.epoll_ctl(ep, CtlOp::Add, efd, IN)?;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(run.count) {
        fds::poke(efd)?;
        expect_events(
            c.epoll_wait(ep, EpollCall::Wait, 8, Some(PATIENCE)),
            &[efd.fd],
        )?;
        fds::drain(efd)?;
        let tick = Instant::now();
        while tick.elapsed() < TICK_WORK {
            std::hint::spin_loop();
        }
    }
    plant(
        run,
        "saturated-loop",
        None,
        "longest_run",
        run.count.saturating_sub(1),
    );
    close_all(c, &[efd])?;
    c.close(ep.fd)?;
    Ok(())
}
