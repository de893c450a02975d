//! Signals as a readable descriptor (signalfd), so a loop can watch them like any fd.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::error::{Result, cvt, io_error};

/// A non-blocking signalfd for a set of signals, which are blocked for normal delivery.
///
/// Create it before spawning threads: the signals are blocked only in the calling thread and
/// in threads it starts afterwards, and a thread that does not block them would receive them
/// the usual way.
///
/// ```
/// use tickloop::signal::SignalFd;
///
/// let signals = SignalFd::new(&[libc::SIGUSR2])?;
/// unsafe { libc::raise(libc::SIGUSR2) };
/// assert_eq!(signals.read()?, Some(libc::SIGUSR2));
/// assert_eq!(signals.read()?, None);
/// # Ok::<(), tickloop::LoopError>(())
/// ```
#[derive(Debug)]
pub struct SignalFd {
    fd: OwnedFd,
}

impl SignalFd {
    /// Blocks `signals` in the calling thread and returns a descriptor that reports them.
    pub fn new(signals: &[libc::c_int]) -> Result<Self> {
        // SAFETY: the set is initialised by sigemptyset before use; all pointers are live.
        unsafe {
            let mut set = std::mem::zeroed::<libc::sigset_t>();
            libc::sigemptyset(&mut set);
            for &signal in signals {
                libc::sigaddset(&mut set, signal);
            }
            let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            if rc != 0 {
                return Err(io_error(
                    "pthread_sigmask",
                    std::io::Error::from_raw_os_error(rc),
                ));
            }
            let fd = cvt(libc::signalfd(
                -1,
                &set,
                libc::SFD_NONBLOCK | libc::SFD_CLOEXEC,
            ))
            .map_err(|e| io_error("signalfd", e))?;
            Ok(SignalFd {
                fd: OwnedFd::from_raw_fd(fd),
            })
        }
    }

    /// The next pending signal, or `None` if none is pending.
    pub fn read(&self) -> Result<Option<libc::c_int>> {
        // SAFETY: the buffer is a live, correctly sized signalfd_siginfo.
        unsafe {
            let mut info = std::mem::zeroed::<libc::signalfd_siginfo>();
            let size = std::mem::size_of::<libc::signalfd_siginfo>();
            let n = libc::read(self.fd.as_raw_fd(), &mut info as *mut _ as *mut _, size);
            if n < 0 {
                let err = std::io::Error::last_os_error();
                if err.kind() == std::io::ErrorKind::WouldBlock {
                    return Ok(None);
                }
                return Err(io_error("reading the signalfd", err));
            }
            Ok(Some(info.ssi_signo as libc::c_int))
        }
    }
}

impl AsRawFd for SignalFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
