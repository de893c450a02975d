//! `child`: a forked process with its own epoll work.

use std::io;

use anyhow::{Context, Result, bail, ensure};

use super::{Run, rounds};
use crate::books::Books;
use crate::caller::{Caller, Fd};
use crate::fds;
use crate::report::ProcessReport;

/// The process forks; the child makes 3 ready waits and 2 timeouts on an eventfd and sends its
/// report up a pipe; once it has exited, the parent makes 1 ready wait and 2 timeouts on an
/// eventfd of its own (created after the fork, so the two never share an fd).
pub(super) fn child(run: &Run) -> Result<()> {
    let c = run.caller;
    let (report_r, report_w) = fds::blocking_pipe()?;
    // SAFETY: the process is single-threaded here, so the child can go on using the allocator
    // and everything else; it leaves with _exit, never returning into the parent's code.
    match unsafe { libc::fork() } {
        -1 => return Err(io::Error::last_os_error()).context("fork"),
        0 => {
            let status = match in_child(&run.books.scenario(), report_r, report_w) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("child {}: {e:#}", std::process::id());
                    1
                }
            };
            // SAFETY: ends the child without running the parent's exit handlers.
            unsafe { libc::_exit(status) }
        }
        pid => {
            c.close(report_w.fd)?;
            let sent = fds::drain(report_r).context("reading the child's report")?;
            c.close(report_r.fd)?;
            reap(pid)?;
            let report: ProcessReport =
                serde_json::from_slice(&sent).context("parsing the child's report")?;
            ensure!(
                report.pid == pid as u32,
                "the report of child {pid} names pid {}",
                report.pid
            );
            run.books.add_child(report);
        }
    }
    let event = fds::eventfd()?;
    rounds(c, event, event, 1, 2)?;
    c.close(event.fd)?;
    Ok(())
}

/// The child's work, counted in books of its own. The report pipe's write end is left for
/// `_exit` to close, after the report that would otherwise have to count its close.
fn in_child(scenario: &str, report_r: Fd, report_w: Fd) -> Result<()> {
    let books = Books::new(scenario);
    let c = Caller::new(&books);
    c.close(report_r.fd)?;
    let event = fds::eventfd()?;
    rounds(&c, event, event, 3, 2)?;
    c.close(event.fd)?;
    let report = serde_json::to_vec(&books.snapshot()).context("serialising the report")?;
    fds::write_all(report_w, &report).context("sending the report")
}

/// Waits for child `pid` and checks it exited with status 0.
fn reap(pid: libc::pid_t) -> Result<()> {
    let mut status = 0;
    // SAFETY: `status` is a live int.
    if unsafe { libc::waitpid(pid, &mut status, 0) } != pid {
        return Err(io::Error::last_os_error()).with_context(|| format!("waiting for child {pid}"));
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("child {pid} failed (wait status {status:#x})");
    }
    Ok(())
}
