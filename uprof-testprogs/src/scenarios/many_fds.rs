//! `many-fds`: a large interest list with one ready fd per wait.

use anyhow::{Context, Result, ensure};

use super::{PATIENCE, Run, close_all, expect_events};
use crate::books::CtlOp;
use crate::caller::EpollCall;
use crate::fds;

/// Fds the process needs besides the pipes: stdio, the epoll instance, slack.
const SPARE_FDS: u64 = 8;

/// `count` pipes' read ends registered on one instance; before each of `waits` waits, the next
/// pipe in turn gets one byte, so every wait returns exactly one event.
pub(super) fn many_fds(run: &Run) -> Result<()> {
    ensure!(run.count > 0, "many-fds needs at least one pipe");
    fds::raise_fd_limit(2 * run.count + SPARE_FDS)?;
    let c = run.caller;
    let pipes = (0..run.count)
        .map(|_| fds::pipe())
        .collect::<Result<Vec<_>, _>>()
        .context("creating pipes")?;
    let ep = c.epoll_create1().context("epoll_create1")?;
    for &(read, _) in &pipes {
        c.epoll_ctl(ep, CtlOp::Add, read, libc::EPOLLIN as u32)
            .with_context(|| format!("adding fd {}", read.fd))?;
    }
    for (read, write) in pipes.iter().cycle().take(run.waits as usize) {
        fds::poke(*write)?;
        expect_events(
            c.epoll_wait(ep, EpollCall::Wait, 64, Some(PATIENCE)),
            &[read.fd],
        )?;
        fds::drain(*read)?;
    }
    for &(read, write) in &pipes {
        close_all(c, &[read, write])?;
    }
    c.close(ep.fd)?;
    Ok(())
}
