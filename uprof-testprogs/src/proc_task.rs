//! Knowing for sure that another thread of this process sleeps in a given syscall, waiting for
//! events: `/proc/self/task/TID/syscall` shows the syscall number only while the thread sleeps
//! in it (`running` otherwise), and `/proc/self/task/TID/stat` says whether the sleep is
//! interruptible, as waits for events are (a sleep on a lock or a page fault inside the same
//! syscall is not).

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

/// The thread's open `/proc/self/task/TID/syscall` and `stat` files, read again from their
/// start on each look, so that watching costs two counted `close`s however long it takes.
pub struct TaskWatch {
    tid: u32,
    syscall: libc::c_int,
    stat: libc::c_int,
}

impl TaskWatch {
    pub fn open(tid: u32) -> Result<TaskWatch> {
        Ok(TaskWatch {
            tid,
            syscall: open_task_file(tid, "syscall")?,
            stat: open_task_file(tid, "stat")?,
        })
    }

    /// The start of the file behind `fd`.
    fn read(&self, fd: libc::c_int, what: &str) -> Result<String> {
        let mut buf = [0u8; 512];
        // SAFETY: `buf` is writable for its whole length.
        let n = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error())
                .with_context(|| format!("reading the {what} of thread {}", self.tid));
        }
        Ok(String::from_utf8_lossy(&buf[..n as usize]).into_owned())
    }

    /// The number of the syscall the thread is sleeping in, or `None` while it runs.
    fn blocked_in(&self) -> Result<Option<libc::c_long>> {
        let text = self.read(self.syscall, "syscall")?;
        Ok(text
            .split_whitespace()
            .next()
            .and_then(|first| first.parse().ok()))
    }

    /// Whether the thread sleeps interruptibly (state `S`; the state follows the parenthesised
    /// name, which may itself hold spaces).
    fn sleeps_interruptibly(&self) -> Result<bool> {
        let text = self.read(self.stat, "state")?;
        Ok(text
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('S')))
    }

    /// Returns once the thread has entered `syscall` at least `entered` times (as `books` count
    /// them) and sleeps in it waiting for events: a signal, exit or event that follows then
    /// finds it in that very call, asleep.
    pub fn wait_blocked(&self, books: &Books, syscall: Syscall, entered: u64) -> Result<()> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if books.calls(self.tid, syscall) >= entered
                && self.blocked_in()? == Some(sys::number(syscall))
                && self.sleeps_interruptibly()?
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

    /// Closes the files through `caller`, which counts the closes.
    pub fn close(self, caller: &Caller) -> Result<()> {
        for fd in [self.syscall, self.stat] {
            caller.close(fd).context("closing a /proc task file")?;
        }
        Ok(())
    }
}

fn open_task_file(tid: u32, name: &str) -> Result<libc::c_int> {
    let path = format!("/proc/self/task/{tid}/{name}");
    let cpath = CString::new(path.clone()).expect("a path without NUL");
    // SAFETY: `cpath` is a NUL-terminated path.
    let fd = unsafe { libc::open(cpath.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error()).with_context(|| format!("opening {path}"));
    }
    Ok(fd)
}
