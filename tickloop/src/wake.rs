//! Waking the loop from other threads through an eventfd.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use crate::error::{Result, cvt, io_error};

/// A non-blocking eventfd: writers add one, the loop reads the count back to zero.
#[derive(Debug)]
pub(crate) struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: plain syscall; the descriptor is owned below.
        let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })
            .map_err(|e| io_error("eventfd", e))?;
        // SAFETY: fresh descriptor nobody else owns.
        Ok(EventFd {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    pub(crate) fn signal(&self) {
        let one: u64 = 1;
        // A full counter (EAGAIN) already means "signalled", so the result can be ignored.
        // SAFETY: writes 8 bytes from a live u64.
        unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Resets the counter (a read of an unsignalled eventfd fails with EAGAIN, which is fine).
    pub(crate) fn drain(&self) {
        let mut count: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64.
        unsafe { libc::read(self.fd.as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
    }
}

impl AsRawFd for EventFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Wakes a loop blocked in its poll phase, from any thread (libuv's `uv_async_send`).
///
/// Wakes coalesce: many calls before the loop runs produce one wakeup.
///
/// ```
/// use std::time::{Duration, Instant};
/// use tickloop::{EventLoop, BackendKind, RunMode};
///
/// let mut lp = EventLoop::new(BackendKind::Epoll)?;
/// let timer = lp.start_timer(Duration::from_secs(60), |_, _| {});
/// let waker = lp.waker();
/// std::thread::spawn(move || {
///     std::thread::sleep(Duration::from_millis(10));
///     waker.wake();
/// });
/// // The tick would block for the timer's minute; the wake ends its poll early.
/// let started = Instant::now();
/// assert!(lp.run(RunMode::Once)?);
/// assert!(started.elapsed() < Duration::from_secs(60));
/// assert_eq!(lp.stats().wakeups, 1);
/// lp.stop_timer(timer);
/// # Ok::<(), tickloop::LoopError>(())
/// ```
#[derive(Clone, Debug)]
pub struct LoopWaker {
    pub(crate) eventfd: Arc<EventFd>,
}

impl LoopWaker {
    /// Makes the loop's current or next poll return.
    pub fn wake(&self) {
        self.eventfd.signal();
    }
}
