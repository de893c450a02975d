//! `planted-latency`: readiness that waits a known time before a wait picks it up.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::{PATIENCE, Run, close_all, expect_events};
use crate::books::CtlOp;
use crate::caller::EpollCall;
use crate::fds;
use crate::report::Planted;

/// How long the loop stays busy between making the fd ready and waiting.
pub const BUSY: Duration = Duration::from_millis(20);

/// An eventfd and a Unix stream socket registered for input. `count` times: two writes to
/// each (the second finds the fd already queued: coalesced), [`BUSY`] of spinning, one wait
/// that returns both, a read of each. Then a last write to each, and both are closed before any
/// wait (readiness never delivered).
pub(super) fn planted_latency(run: &Run) -> Result<()> {
    let c = run.caller;
    let efd = fds::eventfd().context("eventfd")?;
    let (sock, peer) = fds::unix_socketpair().context("socketpair")?;
    let ep = c.epoll_create1().context("epoll_create1")?;
    for fd in [efd, sock] {
        c.epoll_ctl(ep, CtlOp::Add, fd, libc::EPOLLIN as u32)
            .with_context(|| format!("adding fd {}", fd.fd))?;
    }
    for _ in 0..run.count {
        let before_write = Instant::now();
        fds::poke(efd)?;
        fds::poke(peer)?;
        let written = Instant::now();
        fds::poke(efd)?;
        fds::poke(peer)?;
        while written.elapsed() < BUSY {
            std::hint::spin_loop();
        }
        let waiting = Instant::now();
        expect_events(
            c.epoll_wait(ep, EpollCall::Wait, 8, Some(PATIENCE)),
            &[efd.fd, sock.fd],
        )?;
        let returned = Instant::now();
        for fd in [efd, sock] {
            fds::drain(fd)?;
            run.books.plant(Planted {
                fd: fd.fd,
                min_ns: nanos(waiting - written),
                max_ns: nanos(returned - before_write),
            });
        }
    }
    fds::poke(efd)?;
    fds::poke(peer)?;
    close_all(c, &[efd, sock, peer])?;
    c.close(ep.fd)?;
    Ok(())
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
