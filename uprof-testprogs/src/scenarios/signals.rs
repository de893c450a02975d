//! `eintr`: waits cut short by signals.

use std::io;
use std::mem;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;

use anyhow::{Context, Result, anyhow, ensure};

use super::{Run, expect_events};
use crate::books::CtlOp;
use crate::caller::{Caller, EpollCall, Fd, Waited};
use crate::fds;
use crate::proc_task::TaskWatch;
use crate::report::Syscall;

/// SIGUSR1 deliveries the handler saw.
static HANDLED: AtomicU64 = AtomicU64::new(0);

extern "C" fn count_signal(_: libc::c_int) {
    HANDLED.fetch_add(1, Ordering::Relaxed);
}

/// Installs [`count_signal`] for SIGUSR1 without `SA_RESTART`.
fn install_handler() -> Result<()> {
    // SAFETY: an all-zero sigaction is valid (empty mask, no flags); the handler only touches
    // an atomic, which is async-signal-safe.
    unsafe {
        let mut action: libc::sigaction = mem::zeroed();
        action.sa_sigaction = count_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        if libc::sigaction(libc::SIGUSR1, &action, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error()).context("installing the SIGUSR1 handler");
        }
    }
    Ok(())
}

/// A thread blocks in `epoll_wait` with no timeout; the main thread interrupts it with SIGUSR1
/// `count` times (each time only once it sleeps in the wait), then wakes it through an eventfd.
/// The waiter's report: `count + 1` epoll_wait calls, `count` interrupted, 1 ready.
pub(super) fn eintr(run: &Run) -> Result<()> {
    install_handler()?;
    let handled_before = HANDLED.load(Ordering::Relaxed);
    let (started, waiter_ready) = mpsc::channel::<(u32, Fd)>();
    let books = Arc::clone(run.books);
    let waiter = thread::spawn(move || -> Result<()> {
        let c = Caller::new(&books);
        let ep = c.epoll_create1().context("epoll_create1")?;
        let wake = fds::eventfd()?;
        c.epoll_ctl(ep, CtlOp::Add, wake, libc::EPOLLIN as u32)
            .context("adding the eventfd")?;
        started
            .send((c.tid(), wake))
            .context("telling the main thread")?;
        loop {
            match c.epoll_wait(ep, EpollCall::Wait, 8, None) {
                Waited::Interrupted => continue,
                waited => {
                    expect_events(waited, &[wake.fd])?;
                    break;
                }
            }
        }
        c.close(wake.fd)?;
        c.close(ep.fd)?;
        Ok(())
    });

    let (tid, wake) = waiter_ready
        .recv()
        .context("the waiter thread failed to start")?;
    let watch = TaskWatch::open(tid)?;
    for sent in 0..run.count {
        watch.wait_blocked(run.books, Syscall::EpollWait, sent + 1)?;
        tgkill(tid, libc::SIGUSR1)?;
    }
    watch.wait_blocked(run.books, Syscall::EpollWait, run.count + 1)?;
    fds::poke(wake)?;
    waiter
        .join()
        .map_err(|_| anyhow!("the waiter thread panicked"))??;
    watch.close(run.caller)?;

    let handled = HANDLED.load(Ordering::Relaxed) - handled_before;
    ensure!(
        handled == run.count,
        "sent {} signals, the handler ran {handled} times",
        run.count
    );
    Ok(())
}

fn tgkill(tid: u32, signal: libc::c_int) -> Result<()> {
    // SAFETY: no pointer arguments; `tid` is a thread of this process.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_tgkill,
            libc::getpid() as libc::c_long,
            tid as libc::c_long,
            signal as libc::c_long,
        )
    };
    if ret != 0 {
        return Err(io::Error::last_os_error()).with_context(|| format!("tgkill({tid}, {signal})"));
    }
    Ok(())
}
