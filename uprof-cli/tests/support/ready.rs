//! `uprof record --ready-fd 3`: the machine-readable start signal tests wait for.
use std::{
    fs::File,
    io::Read as _,
    os::{
        fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
        unix::process::CommandExt as _,
    },
    process::Command,
};

/// The descriptor number uprof is given.
pub const READY_FD: &str = "3";

/// The read end of a pipe whose write end a `uprof record` gets as fd 3.
pub struct Ready {
    read: File,
    write: Option<OwnedFd>,
}

impl Ready {
    /// Hands fd 3 to `cmd` when it starts: add `--ready-fd 3` (see [`READY_FD`]) to its
    /// arguments.
    pub fn give_to(cmd: &mut Command) -> Ready {
        let mut fds = [0; 2];
        // SAFETY: a valid pointer to two ints.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: both descriptors were just created and are owned by nobody else.
        let (read, write) = unsafe { (File::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let raw = write.as_raw_fd();
        // SAFETY: dup2 is async-signal-safe; the new fd 3 is not close-on-exec.
        unsafe {
            cmd.pre_exec(move || match libc::dup2(raw, 3) {
                -1 => Err(std::io::Error::last_os_error()),
                _ => Ok(()),
            });
        }
        Ready {
            read,
            write: Some(write),
        }
    }

    /// Waits until uprof says it traces, or ends without saying so: whether it did.
    pub fn wait(&mut self) -> bool {
        // Only uprof may keep the pipe open, or this would never see the end.
        self.write = None;
        let mut said = String::new();
        self.read.read_to_string(&mut said).unwrap();
        match said.as_str() {
            "ready\n" => true,
            "" => false,
            other => panic!("uprof wrote {other:?} to its ready fd"),
        }
    }
}
