//! Starting a command so that it is traced from its first instruction: the child is forked and
//! held before `exec` until the tracer has added it to the traced set.
use std::{
    ffi::CString,
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

use anyhow::{Context as _, Result, bail};

/// A forked child waiting to `exec` the command.
pub struct Held {
    pub pid: u32,
    go: OwnedFd,
    exec_error: OwnedFd,
    program: String,
}

/// How a launched command ended.
pub enum Status {
    Running,
    Exited(String),
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

    // SAFETY: the child only calls async-signal-safe functions (read, execvp, write, _exit) on
    // memory prepared before the fork.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()).context("fork failed"),
        0 => unsafe {
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
            })
        }
    }
}

impl Held {
    /// Lets the child exec; fails with the reason when the command cannot be run.
    pub fn release(self) -> Result<Launched> {
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
            reap(self.pid);
            bail!(
                "cannot run {}: {}",
                self.program,
                io::Error::from_raw_os_error(errno)
            );
        }
        Ok(Launched { pid: self.pid })
    }
}

/// A running command started by uprof.
pub struct Launched {
    pub pid: u32,
}

impl Launched {
    /// Non-blocking check of the command's state.
    pub fn status(&self) -> Status {
        let mut status = 0;
        // SAFETY: waitpid on our own child with a valid pointer.
        match unsafe { libc::waitpid(self.pid as i32, &mut status, libc::WNOHANG) } {
            0 => Status::Running,
            -1 => Status::Exited("exited".into()),
            _ if libc::WIFEXITED(status) => {
                Status::Exited(format!("exited with status {}", libc::WEXITSTATUS(status)))
            }
            _ if libc::WIFSIGNALED(status) => {
                Status::Exited(format!("killed by signal {}", libc::WTERMSIG(status)))
            }
            _ => Status::Running,
        }
    }
}

fn reap(pid: u32) {
    let mut status = 0;
    // SAFETY: waitpid on our own child.
    unsafe { libc::waitpid(pid as i32, &mut status, 0) };
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
