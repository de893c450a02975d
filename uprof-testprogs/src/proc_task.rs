//! Knowing for sure that another thread of this process is blocked in a given syscall, from
//! `/proc/self/task/TID/syscall` (which shows the syscall number only while the thread sleeps
//! in it, and `running` otherwise).

use std::ffi::CString;
use std::io;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::books::Books;
use crate::caller::Caller;
use crate::report::Syscall;
use crate::sys;

/// How long a thread may take to reach the awaited wait before the program gives up.
const PATIENCE: Duration = Duration::from_secs(10);

/// An open `/proc/self/task/TID/syscall` file, read again from its start on each look, so that
/// watching costs a single counted `close` however long it takes.
pub struct TaskWatch {
    tid: u32,
    fd: libc::c_int,
}

impl TaskWatch {
    pub fn open(tid: u32) -> Result<TaskWatch> {
        let path = format!("/proc/self/task/{tid}/syscall");
        let cpath = CString::new(path.clone()).expect("a path without NUL");
        // SAFETY: `cpath` is a NUL-terminated path.
        let fd = unsafe { libc::open(cpath.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error()).with_context(|| format!("opening {path}"));
        }
        Ok(TaskWatch { tid, fd })
    }

    /// The number of the syscall the thread is sleeping in, or `None` while it runs.
    fn blocked_in(&self) -> Result<Option<libc::c_long>> {
        let mut buf = [0u8; 256];
        // SAFETY: `buf` is writable for its whole length.
        let n = unsafe { libc::pread(self.fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error())
                .with_context(|| format!("reading the syscall of thread {}", self.tid));
        }
        let text = String::from_utf8_lossy(&buf[..n as usize]);
        Ok(text
            .split_whitespace()
            .next()
            .and_then(|first| first.parse().ok()))
    }

    /// Returns once the thread has entered `syscall` at least `entered` times (as `books` count
    /// them) and sleeps in it: a signal or exit that follows then finds it in that very call.
    pub fn wait_blocked(&self, books: &Books, syscall: Syscall, entered: u64) -> Result<()> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if books.calls(self.tid, syscall) >= entered
                && self.blocked_in()? == Some(sys::number(syscall))
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "thread {} did not block in {} call {entered} within {PATIENCE:?}",
                    self.tid,
                    syscall.name()
                );
            }
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// Closes the file through `caller`, which counts the close.
    pub fn close(self, caller: &Caller) -> Result<()> {
        caller
            .close(self.fd)
            .context("closing a /proc syscall file")
    }
}
