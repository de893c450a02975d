//! Starting a command so that it is traced from its first instruction: the child is forked and
//! held before `exec` until the tracer has added it to the traced set.
//!
//! A held child must never outlive the recording that forked it: it is a copy of uprof holding
//! every eBPF program, link and map uprof had loaded. So it keeps only the read end of the pipe
//! that releases it (it sees end-of-file, and exits, as soon as uprof is gone however uprof
//! ended), and a [`Held`] that is dropped without [`Held::release`] kills and reaps it.
use std::{
    ffi::CString,
    fmt, io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

use anyhow::{Context as _, Result, bail};

/// A forked child waiting to `exec` the command. Dropping it kills and reaps the child.
pub struct Held {
    pid: u32,
    go: OwnedFd,
    exec_error: OwnedFd,
    program: String,
    /// Set once the child has exec'd the command: it is not ours to kill any more.
    released: bool,
}

/// How a command uprof started ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Status(i32),
    Signal(i32),
    /// Reaped by someone else: how it ended is not known.
    Unknown,
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Status(code) => write!(f, "exited with status {code}"),
            Exit::Signal(signal) => write!(f, "killed by signal {signal}"),
            Exit::Unknown => f.write_str("exited"),
        }
    }
}

/// Forks a child that execs `command` once [`Held::release`] is called.
pub fn hold(command: &[String]) -> Result<Held> {
    let program = command
        .first()
        .context("no command given after --")?
        .clone();
    let argv: Vec<CString> = command
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()
        .context("the command contains a NUL byte")?;
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let (go_read, go_write) = pipe()?;
    let (err_read, err_write) = pipe()?;

    // SAFETY: the child only calls async-signal-safe functions (close, signal, read, execvp,
    // write, _exit) on memory prepared before the fork.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()).context("fork failed"),
        0 => unsafe {
            // Only uprof may hold the write end: the child's read then ends when uprof is gone.
            libc::close(go_write.as_raw_fd());
            libc::close(err_read.as_raw_fd());
            // Rust ignores SIGPIPE in uprof; an ignored signal stays ignored across exec.
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            let mut byte = 0u8;
            if libc::read(go_read.as_raw_fd(), (&raw mut byte).cast(), 1) == 1 {
                libc::execvp(argv_ptrs[0], argv_ptrs.as_ptr());
                let errno = *libc::__errno_location();
                libc::write(
                    err_write.as_raw_fd(),
                    (&raw const errno).cast(),
                    size_of::<i32>(),
                );
            }
            libc::_exit(127)
        },
        pid => {
            drop((go_read, err_write));
            Ok(Held {
                pid: pid as u32,
                go: go_write,
                exec_error: err_read,
                program,
                released: false,
            })
        }
    }
}

impl Held {
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Lets the child exec; fails with the reason when the command cannot be run (the child
    /// is then reaped).
    pub fn release(mut self) -> Result<Launched> {
        let byte = 1u8;
        // SAFETY: writes one byte from a valid buffer to our pipe.
        if unsafe { libc::write(self.go.as_raw_fd(), (&raw const byte).cast(), 1) } != 1 {
            bail!(
                "could not start {}: {}",
                self.program,
                io::Error::last_os_error()
            );
        }
        // The error pipe closes on a successful exec (it is close-on-exec), or carries errno.
        let mut errno = 0i32;
        // SAFETY: reads at most size_of::<i32>() bytes into a valid i32.
        let n = unsafe {
            libc::read(
                self.exec_error.as_raw_fd(),
                (&raw mut errno).cast(),
                size_of::<i32>(),
            )
        };
        if n == size_of::<i32>() as isize {
            bail!(
                "cannot run {}: {}",
                self.program,
                io::Error::from_raw_os_error(errno)
            );
        }
        self.released = true;
        Ok(Launched { pid: self.pid })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if !self.released {
            // SAFETY: kill and waitpid on our own child, which nobody else reaps.
            unsafe { libc::kill(self.pid as i32, libc::SIGKILL) };
            reap(self.pid);
        }
    }
}

/// A running command started by uprof.
pub struct Launched {
    pid: u32,
}

impl Launched {
    /// Non-blocking check of the command's state: `None` while it runs.
    pub fn exit(&self) -> Option<Exit> {
        let mut status = 0;
        // SAFETY: waitpid on our own child with a valid pointer.
        match unsafe { libc::waitpid(self.pid as i32, &mut status, libc::WNOHANG) } {
            0 => None,
            -1 => Some(Exit::Unknown),
            _ if libc::WIFEXITED(status) => Some(Exit::Status(libc::WEXITSTATUS(status))),
            _ if libc::WIFSIGNALED(status) => Some(Exit::Signal(libc::WTERMSIG(status))),
            _ => None,
        }
    }

    /// Ends a command whose recording could not start after all.
    pub fn kill(self) {
        // SAFETY: kill and waitpid on our own child.
        unsafe { libc::kill(self.pid as i32, libc::SIGKILL) };
        reap(self.pid);
    }
}

fn reap(pid: u32) {
    let mut status = 0;
    // SAFETY: waitpid on our own child.
    while unsafe { libc::waitpid(pid as i32, &mut status, 0) } == -1
        && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
    {}
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: valid pointer to two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error()).context("pipe2 failed");
    }
    // SAFETY: both fds were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

#[cfg(test)]
mod tests {
    use std::{
        fs,
        path::Path,
        thread::sleep,
        time::{Duration, Instant},
    };

    use super::*;

    /// The fds of process `pid` that are ends of the pipe `fd` is an end of.
    fn ends_held(pid: u32, fd: &OwnedFd) -> usize {
        let ours = fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
        fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .filter_map(|e| fs::read_link(e.ok()?.path()).ok())
            .filter(|link| *link == ours)
            .count()
    }

    /// Polls `f` for up to two seconds until it holds.
    fn eventually(mut f: impl FnMut() -> bool) -> bool {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(2) {
            if f() {
                return true;
            }
            sleep(Duration::from_millis(10));
        }
        false
    }

    #[test]
    fn a_held_child_keeps_only_its_ends_of_the_pipes() {
        let held = hold(&["/bin/true".to_owned()]).unwrap();
        // The read end of the go pipe and the write end of the error pipe, nothing more: with
        // the write end of the go pipe it would wait forever once uprof is gone.
        assert!(
            eventually(|| ends_held(held.pid, &held.go) == 1),
            "the held child holds {} ends of the go pipe",
            ends_held(held.pid, &held.go)
        );
        assert!(
            eventually(|| ends_held(held.pid, &held.exec_error) == 1),
            "the held child holds {} ends of the error pipe",
            ends_held(held.pid, &held.exec_error)
        );
    }

    #[test]
    fn a_held_child_dropped_unreleased_is_killed_and_reaped() {
        let held = hold(&["/bin/true".to_owned()]).unwrap();
        let proc_dir = format!("/proc/{}", held.pid);
        assert!(Path::new(&proc_dir).exists());
        drop(held);
        // Reaped: not even a zombie is left.
        assert!(!Path::new(&proc_dir).exists(), "{proc_dir} is still there");
    }

    #[test]
    fn a_released_child_runs_the_command_with_sigpipe_at_its_default() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("sigign");
        let script = format!("grep SigIgn /proc/self/status > {}", out.display());
        let held = hold(&["/bin/sh".to_owned(), "-c".to_owned(), script]).unwrap();
        let launched = held.release().unwrap();
        assert!(eventually(|| launched.exit().is_some()));
        let line = fs::read_to_string(&out).unwrap();
        let ignored = u64::from_str_radix(line.trim().trim_start_matches("SigIgn:").trim(), 16);
        assert_eq!(ignored.unwrap() & (1 << (libc::SIGPIPE - 1)), 0, "{line}");
    }

    #[test]
    fn a_command_that_cannot_run_is_reported_and_reaped() {
        let held = hold(&["/nonexistent/command".to_owned()]).unwrap();
        let pid = held.pid;
        let err = held.release().err().unwrap();
        assert_eq!(
            err.to_string(),
            "cannot run /nonexistent/command: No such file or directory (os error 2)"
        );
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
    }
}
