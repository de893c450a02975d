//! Single-threaded epoll scenarios: `timeouts`, `ready`, `syscalls`.

use anyhow::{Context, Result};

use super::{IDLE, PATIENCE, Run, close_all, expect_events, expect_timeout};
use crate::books::CtlOp;
use crate::caller::{EpollCall, Waited};
use crate::fds;

const EPOLLIN: u32 = libc::EPOLLIN as u32;
const EPOLLOUT: u32 = libc::EPOLLOUT as u32;

/// `count` waits with a 1 ms timeout on an empty interest list.
pub(super) fn timeouts(run: &Run) -> Result<()> {
    let c = run.caller;
    let ep = c.epoll_create1().context("epoll_create1")?;
    for _ in 0..run.count {
        expect_timeout(c.epoll_wait(ep, EpollCall::Wait, 8, Some(IDLE)))?;
    }
    c.close(ep.fd)?;
    Ok(())
}

/// A pipe, a Unix socket and an eventfd, each registered for input with its fd as data.
pub(super) fn ready(run: &Run) -> Result<()> {
    let c = run.caller;
    let (pipe_r, pipe_w) = fds::pipe()?;
    let (sock, sock_peer) = fds::unix_socketpair()?;
    let event = fds::eventfd()?;
    let ep = c.epoll_create1().context("epoll_create1")?;
    for fd in [pipe_r, sock, event] {
        c.epoll_ctl(ep, CtlOp::Add, fd, EPOLLIN)
            .with_context(|| format!("adding fd {}", fd.fd))?;
    }
    let wait = || c.epoll_wait(ep, EpollCall::Wait, 8, Some(PATIENCE));

    // One ready fd, then two and three in a single return.
    fds::poke(pipe_w)?;
    expect_events(wait(), &[pipe_r.fd])?;
    fds::drain(pipe_r)?;
    fds::poke(sock_peer)?;
    fds::poke(event)?;
    expect_events(wait(), &[sock.fd, event.fd])?;
    fds::poke(pipe_w)?;
    fds::poke(sock_peer)?;
    fds::poke(event)?;
    expect_events(wait(), &[pipe_r.fd, sock.fd, event.fd])?;
    for fd in [pipe_r, sock, event] {
        fds::drain(fd)?;
    }

    // Level-triggered: an fd left undrained is reported again.
    fds::poke(pipe_w)?;
    expect_events(wait(), &[pipe_r.fd])?;
    expect_events(wait(), &[pipe_r.fd])?;
    fds::drain(pipe_r)?;

    // Nothing ready.
    for _ in 0..2 {
        expect_timeout(c.epoll_wait(ep, EpollCall::Wait, 8, Some(IDLE)))?;
    }

    // An eventfd is always writable: watching it for output makes it ready until watched for
    // input again.
    c.epoll_ctl(ep, CtlOp::Mod, event, EPOLLOUT)
        .context("watching the eventfd for output")?;
    expect_events(wait(), &[event.fd])?;
    c.epoll_ctl(ep, CtlOp::Mod, event, EPOLLIN)
        .context("watching the eventfd for input")?;
    expect_timeout(c.epoll_wait(ep, EpollCall::Wait, 8, Some(IDLE)))?;

    for fd in [pipe_r, sock, event] {
        c.epoll_ctl(ep, CtlOp::Del, fd, 0)
            .with_context(|| format!("removing fd {}", fd.fd))?;
    }
    close_all(c, &[pipe_r, pipe_w, sock, sock_peer, event])?;
    c.close(ep.fd)?;
    Ok(())
}

/// Ready waits per syscall, with an eventfd left readable.
const SYSCALL_READY: u32 = 3;
/// Timed-out waits per syscall, once the eventfd is drained.
const SYSCALL_IDLE: u32 = 2;

/// The same waits through each epoll wait syscall. A kernel without `epoll_pwait2` (before
/// 5.11) fails those calls with ENOSYS: they are counted as errors and the report says so.
pub(super) fn syscalls(run: &Run) -> Result<()> {
    let c = run.caller;
    let event = fds::eventfd()?;
    let ep = c.epoll_create1().context("epoll_create1")?;
    c.epoll_ctl(ep, CtlOp::Add, event, EPOLLIN)
        .context("adding the eventfd")?;
    let mut missing_pwait2 = false;

    fds::poke(event)?;
    for call in EpollCall::ALL {
        for _ in 0..SYSCALL_READY {
            let waited = c.epoll_wait(ep, call, 8, Some(PATIENCE));
            if is_missing_pwait2(call, &waited) {
                missing_pwait2 = true;
            } else {
                expect_events(waited, &[event.fd])?;
            }
        }
    }
    fds::drain(event)?;
    for call in EpollCall::ALL {
        for _ in 0..SYSCALL_IDLE {
            let waited = c.epoll_wait(ep, call, 8, Some(IDLE));
            if is_missing_pwait2(call, &waited) {
                missing_pwait2 = true;
            } else {
                expect_timeout(waited)?;
            }
        }
    }
    if missing_pwait2 {
        run.books.note("epoll_pwait2 is not supported by this kernel (ENOSYS): its calls are counted as errors");
    }
    c.close(event.fd)?;
    c.close(ep.fd)?;
    Ok(())
}

fn is_missing_pwait2<T>(call: EpollCall, waited: &Waited<T>) -> bool {
    matches!(waited, Waited::Failed(e) if call == EpollCall::Pwait2 && e.raw_os_error() == Some(libc::ENOSYS))
}
