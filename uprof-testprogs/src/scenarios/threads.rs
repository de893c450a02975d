//! Two-thread scenarios: `threads`, `quiet-thread` and `exit-mid-wait`.

use std::sync::{Arc, mpsc};
use std::thread;

use anyhow::{Context, Result, anyhow, bail};

use super::{IDLE, Run, close_all, expect_timeout, rounds};
use crate::caller::{Caller, EpollCall};
use crate::fds;
use crate::proc_task::TaskWatch;
use crate::report::Syscall;

/// The second thread's name in `threads`.
const WORKER_NAME: &str = "worker-1";

/// The main thread: 2 ready waits and 3 timeouts on an eventfd. `worker-1`: 3 ready waits and
/// 2 timeouts on a pipe. Each on its own epoll instance, at the same time.
pub(super) fn threads(run: &Run) -> Result<()> {
    let books = Arc::clone(run.books);
    let worker = thread::spawn(move || -> Result<()> {
        let c = Caller::new(&books);
        c.set_name(WORKER_NAME)?;
        let (read, write) = fds::pipe()?;
        rounds(&c, read, write, 3, 2)?;
        close_all(&c, &[read, write])
    });

    let c = run.caller;
    let event = fds::eventfd()?;
    rounds(c, event, event, 2, 3)?;
    c.close(event.fd)?;
    worker
        .join()
        .map_err(|_| anyhow!("{WORKER_NAME} panicked"))?
}

/// A second thread, never renamed, makes `count` waits that time out after 1 ms on an epoll
/// instance the main thread made, and no other call: only its waits name it while it runs,
/// and none returns events. The main thread joins it and closes the instance.
pub(super) fn quiet_thread(run: &Run) -> Result<()> {
    let c = run.caller;
    let ep = c.epoll_create1().context("epoll_create1")?;
    let books = Arc::clone(run.books);
    let count = run.count;
    thread::spawn(move || -> Result<()> {
        let c = Caller::new(&books);
        for _ in 0..count {
            expect_timeout(c.epoll_wait(ep, EpollCall::Wait, 8, Some(IDLE)))?;
        }
        Ok(())
    })
    .join()
    .map_err(|_| anyhow!("the quiet thread panicked"))??;
    c.close(ep.fd)?;
    Ok(())
}

/// Waits the main thread makes before exiting.
const MAIN_WAITS: u32 = 3;

/// A second thread blocks in `epoll_wait` with no timeout on an empty interest list; the main
/// thread makes 3 waits that time out, makes sure the other sleeps in its wait, and returns,
/// leaving the process to exit under it: that wait never returns and is reported `unfinished`.
pub(super) fn exit_mid_wait(run: &Run) -> Result<()> {
    let (started, blocker_started) = mpsc::channel::<u32>();
    let books = Arc::clone(run.books);
    // Never joined: the thread cannot finish, and the process exits under it.
    drop(thread::spawn(move || -> Result<()> {
        let c = Caller::new(&books);
        let ep = c.epoll_create1().context("epoll_create1")?;
        started.send(c.tid()).context("telling the main thread")?;
        let waited = c.epoll_wait(ep, EpollCall::Wait, 8, None);
        bail!("a wait with nothing to wait for returned {waited:?}")
    }));

    let c = run.caller;
    let tid = blocker_started
        .recv()
        .context("the blocking thread failed to start")?;
    let ep = c.epoll_create1().context("epoll_create1")?;
    for _ in 0..MAIN_WAITS {
        expect_timeout(c.epoll_wait(ep, EpollCall::Wait, 8, Some(IDLE)))?;
    }
    c.close(ep.fd)?;
    let watch = TaskWatch::open(tid)?;
    watch.wait_blocked(run.books, Syscall::EpollWait, 1)?;
    watch.close(c)
}
