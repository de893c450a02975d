//! `--ready-fd FD`: a start signal for scripts and tests, so that none has to wait for (and
//! parse) a human message. Once tracing has started uprof writes `ready\n` to FD and closes it;
//! if uprof ends before that, the reader sees end-of-file without the line.
use std::{
    fs::File,
    io::{self, Write as _},
    os::fd::{FromRawFd as _, OwnedFd, RawFd},
};

use anyhow::{Result, bail};

pub struct Ready(OwnedFd);

impl Ready {
    /// Takes over the inherited descriptor `fd`, and makes it close-on-exec: a command uprof
    /// starts must not hold it open.
    pub fn take(fd: RawFd) -> Result<Ready> {
        if fd < 3 {
            bail!("--ready-fd {fd}: use a descriptor other than stdin, stdout and stderr");
        }
        // SAFETY: fcntl on an integer descriptor has no memory effects.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } == -1 {
            bail!("--ready-fd {fd}: {}", io::Error::last_os_error());
        }
        // SAFETY: the descriptor is open (fcntl succeeded) and uprof uses it nowhere else.
        Ok(Ready(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Says that tracing has started, and closes the descriptor.
    pub fn signal(self) {
        // The reader may be gone: that is its business, not a reason to stop recording.
        let _ = File::from(self.0).write_all(b"ready\n");
    }
}
