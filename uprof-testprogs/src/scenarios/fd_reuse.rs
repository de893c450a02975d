//! `fd-reuse`: one fd number standing for two pipes in turn, and `epoll_ctl` errors.

use anyhow::{Context, Result, ensure};

use super::{Run, close_all, deliver};
use crate::books::CtlOp;
use crate::fds;

const EPOLLIN: u32 = libc::EPOLLIN as u32;

/// Events the first pipe delivers before it is closed.
const FIRST_EVENTS: u32 = 2;
/// Events the second pipe, on the same fd number, delivers.
const SECOND_EVENTS: u32 = 3;

/// Adds a pipe's read end, gets 2 events, closes the pipe; a new pipe's read end gets the same
/// number (checked), is added and gets 3 events. Then adding it again fails with EEXIST and
/// removing the unregistered write end fails with ENOENT.
pub(super) fn fd_reuse(run: &Run) -> Result<()> {
    let c = run.caller;
    let ep = c.epoll_create1().context("epoll_create1")?;

    let (first_r, first_w) = fds::pipe()?;
    deliver(c, ep, first_r, first_w, FIRST_EVENTS)?;
    // Closing the last reference also takes the fd off the interest list.
    close_all(c, &[first_r, first_w])?;

    let (second_r, second_w) = fds::pipe()?;
    ensure!(
        second_r.fd == first_r.fd,
        "the new pipe's read end is fd {}, not the reused {}",
        second_r.fd,
        first_r.fd
    );
    deliver(c, ep, second_r, second_w, SECOND_EVENTS)?;

    let again = c.epoll_ctl(ep, CtlOp::Add, second_r, EPOLLIN);
    ensure!(
        again.as_ref().err().and_then(|e| e.raw_os_error()) == Some(libc::EEXIST),
        "adding fd {} twice returned {again:?}, not EEXIST",
        second_r.fd
    );
    let unknown = c.epoll_ctl(ep, CtlOp::Del, second_w, 0);
    ensure!(
        unknown.as_ref().err().and_then(|e| e.raw_os_error()) == Some(libc::ENOENT),
        "removing unregistered fd {} returned {unknown:?}, not ENOENT",
        second_w.fd
    );

    c.epoll_ctl(ep, CtlOp::Del, second_r, 0)
        .context("removing the second pipe")?;
    close_all(c, &[second_r, second_w])?;
    c.close(ep.fd)?;
    Ok(())
}
