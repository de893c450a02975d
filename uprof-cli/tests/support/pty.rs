//! A pseudo-terminal for a command, to see what uprof shows on a terminal and what it does
//! when the terminal goes away (hang-up).
use std::{
    fs::File,
    io::Read as _,
    os::{
        fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
        unix::process::CommandExt as _,
    },
    process::{Command, Stdio},
};

/// The terminal side uprof's tests read: dropping it hangs the terminal up.
pub struct Master(File);

/// Opens a pseudo-terminal: (master, slave).
pub fn open() -> (Master, OwnedFd) {
    let (mut master, mut slave) = (0, 0);
    // SAFETY: valid pointers; null name, termios and window size are allowed.
    let ret = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(ret, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened and are owned by nobody else.
    let (master, slave) = unsafe { (File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    // SAFETY: fcntl on our own descriptors.
    unsafe {
        libc::fcntl(master.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC);
        libc::fcntl(slave.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC);
        libc::fcntl(master.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK);
    }
    (Master(master), slave)
}

/// Runs `cmd` on the terminal `slave`: as its stdin, stdout and stderr, and as the controlling
/// terminal of a new session `cmd` leads (so it is the one the hang-up signals).
pub fn attach(cmd: &mut Command, slave: &OwnedFd) {
    let io = |fd: &OwnedFd| Stdio::from(fd.try_clone().unwrap());
    cmd.stdin(io(slave)).stdout(io(slave)).stderr(io(slave));
    // SAFETY: setsid and ioctl are async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 || libc::ioctl(0, libc::TIOCSCTTY, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

impl Master {
    /// What the command has written so far (without waiting for more).
    pub fn read_available(&mut self) -> String {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = self.0.read(&mut buf) {
            seen.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&seen).into_owned()
    }
}
