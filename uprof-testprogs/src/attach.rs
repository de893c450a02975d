//! `uprof record -p PIDS` as the integration tests and the benchmarks start it: the command,
//! and the machine-readable start signal (`--ready-fd`) it gives once it traces; and the
//! options of `uprof agent` both compare.
use std::fs::File;
use std::io::{self, Read as _};
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The descriptor `uprof record` is given for its start signal (`--ready-fd 3`).
pub const READY_FD: libc::c_int = 3;

/// `uprof record --ready-fd 3 -p PIDS -o OUT`; give it a [`Ready`] before starting it.
pub fn record_pids(uprof: &Path, pids: &[u32], out: &Path) -> Command {
    let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
    let mut cmd = Command::new(uprof);
    cmd.arg("record")
        .arg("--ready-fd")
        .arg(READY_FD.to_string())
        .arg("-p")
        .arg(pids.join(","))
        .arg("-o")
        .arg(out);
    cmd
}

/// `uprof agent --aggregation`.
#[derive(Clone, Copy, Debug)]
pub enum Aggregation {
    Kernel,
    Stream,
}

impl Aggregation {
    /// Its spelling on uprof's command line.
    pub fn arg(self) -> &'static str {
        match self {
            Aggregation::Kernel => "kernel",
            Aggregation::Stream => "stream",
        }
    }
}

/// The read end of a pipe whose write end a `uprof record` gets as fd 3, writes `ready` to once
/// it traces, and closes.
pub struct Ready {
    read: File,
    write: Option<OwnedFd>,
}

impl Ready {
    /// Hands fd 3 to `cmd` (which says `--ready-fd 3`, as [`record_pids`] does) when it starts.
    pub fn give_to(cmd: &mut Command) -> io::Result<Ready> {
        let mut fds = [0; 2];
        // SAFETY: a valid pointer to two ints.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just created and are owned by nobody else.
        let (read, write) = unsafe { (File::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let raw = write.as_raw_fd();
        // SAFETY: dup2 is async-signal-safe; the new fd 3 is not close-on-exec.
        unsafe {
            cmd.pre_exec(move || match libc::dup2(raw, READY_FD) {
                -1 => Err(io::Error::last_os_error()),
                _ => Ok(()),
            });
        }
        Ok(Ready {
            read,
            write: Some(write),
        })
    }

    /// Waits until uprof says it traces (`true`) or ends without saying so (`false`); an error
    /// after `timeout`, or if it wrote anything else.
    pub fn wait(&mut self, timeout: Duration) -> io::Result<bool> {
        // Only uprof may keep the pipe open, or its end would never be seen.
        self.write = None;
        let mut poll = libc::pollfd {
            fd: self.read.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: one valid pollfd.
        match unsafe { libc::poll(&mut poll, 1, ms) } {
            -1 => return Err(io::Error::last_os_error()),
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("`uprof record` did not start tracing within {timeout:?}"),
                ));
            }
            _ => {}
        }
        let mut said = String::new();
        self.read.read_to_string(&mut said)?;
        match said.as_str() {
            "ready\n" => Ok(true),
            "" => Ok(false),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("uprof wrote {other:?} to its ready fd"),
            )),
        }
    }
}
