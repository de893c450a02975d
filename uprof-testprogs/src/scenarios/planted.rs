//! `planted-latency`: readiness that waits a known time before a wait picks it up.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::{PATIENCE, Run, expect_events};
use crate::books::CtlOp;
use crate::caller::EpollCall;
use crate::fds;
use crate::report::Planted;

/// How long the loop stays busy between making the fd ready and waiting.
pub const BUSY: Duration = Duration::from_millis(20);

/// One eventfd registered for input. `count` times: two writes (the second finds the fd
/// already queued: coalesced), [`BUSY`] of spinning, one wait that returns the fd, a read.
/// Then a last write, and the eventfd is closed before any wait (readiness never delivered).
pub(super) fn planted_latency(run: &Run) -> Result<()> {
    let c = run.caller;
    let efd = fds::eventfd().context("eventfd")?;
    let ep = c.epoll_create1().context("epoll_create1")?;
    c.epoll_ctl(ep, CtlOp::Add, efd, libc::EPOLLIN as u32)
        .context("adding the eventfd")?;
    for _ in 0..run.count {
        let before_write = Instant::now();
        fds::poke(efd)?;
        let written = Instant::now();
        fds::poke(efd)?;
        while written.elapsed() < BUSY {
            std::hint::spin_loop();
        }
        let waiting = Instant::now();
        expect_events(
            c.epoll_wait(ep, EpollCall::Wait, 8, Some(PATIENCE)),
            &[efd.fd],
        )?;
        let returned = Instant::now();
        fds::drain(efd)?;
        run.books.plant(Planted {
            fd: efd.fd,
            min_ns: nanos(waiting - written),
            max_ns: nanos(returned - before_write),
        });
    }
    fds::poke(efd)?;
    c.close(efd.fd)?;
    c.close(ep.fd)?;
    Ok(())
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
