//! The one blocking system call of each backend, chosen per target here and nowhere else.
//!
//! | target | epoll | poll | select |
//! |---|---|---|---|
//! | x86-64 | `epoll_wait` | `poll` | `select` |
//! | aarch64 and every other | `epoll_pwait` | `ppoll` | `pselect6` |
//! | Miri | libc's `epoll_wait` | libc's `poll` | libc's `select` (not emulated) |
//!
//! On x86-64 the backends issue the classic calls as raw syscalls rather than through glibc
//! (whose wrappers may use the `p` variants), so a tracer sees exactly those. aarch64, like
//! every Linux architecture newer than x86-64, has none of the three: there the backends issue
//! the `p` variants without a signal mask, which the kernel handles as the same waits. Miri
//! emulates some libc functions but no raw syscalls.
//!
//! Timeouts are rounded *up* to the call's unit (as mio does), so a wait never ends before
//! the deadline it was computed for: ending early would make the loop poll again, spinning,
//! until the timer is due.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

use crate::error::{Result, io_error};

/// Waits on an epoll instance; returns how many entries of `events` were filled (none if a
/// signal interrupted the wait).
pub(super) fn epoll_wait(
    epoll: BorrowedFd<'_>,
    events: &mut [libc::epoll_event],
    timeout: Option<Duration>,
) -> Result<usize> {
    let max = libc::c_int::try_from(events.len()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `events` has room for `max` entries and lives across the call.
    let n = unsafe { imp::epoll_wait(epoll.as_raw_fd(), events.as_mut_ptr(), max, timeout) };
    returned(n, imp::EPOLL_WAIT)
}

/// Polls an array of `pollfd`s; returns how many have non-zero `revents` (none if a signal
/// interrupted the wait).
pub(super) fn poll(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> Result<usize> {
    // SAFETY: `fds` holds `len` initialised pollfds and lives across the call.
    let n = unsafe { imp::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
    returned(n, imp::POLL)
}

/// `select` over the descriptors below `nfds` (at most `FD_SETSIZE`) in a read and a write
/// set, which it overwrites with the ready ones; returns how many bits are set (none if a
/// signal interrupted the wait).
pub(super) fn select(
    nfds: libc::c_int,
    read: &mut libc::fd_set,
    write: &mut libc::fd_set,
    timeout: Option<Duration>,
) -> Result<usize> {
    assert!(
        (0..=libc::FD_SETSIZE as libc::c_int).contains(&nfds),
        "select: nfds {nfds} is beyond FD_SETSIZE"
    );
    // SAFETY: the kernel reads and writes `nfds` <= FD_SETSIZE bits of each live set.
    let n = unsafe { imp::select(nfds, read, write, timeout) };
    returned(n, imp::SELECT)
}

/// A wait's return value: a count, or `errno` named after the call; an interrupted wait
/// (`EINTR`) counts as one that found nothing.
fn returned(n: libc::c_long, call: &'static str) -> Result<usize> {
    if n >= 0 {
        return Ok(n as usize);
    }
    let err = std::io::Error::last_os_error();
    if err.kind() == std::io::ErrorKind::Interrupted {
        Ok(0)
    } else {
        Err(io_error(call, err))
    }
}

/// The classic calls, as raw syscalls.
#[cfg(all(target_arch = "x86_64", not(miri)))]
mod imp {
    use super::{timeout_millis, timeval};
    use std::time::Duration;

    pub(super) const EPOLL_WAIT: &str = "epoll_wait";
    pub(super) const POLL: &str = "poll";
    pub(super) const SELECT: &str = "select";

    pub(super) unsafe fn epoll_wait(
        epfd: libc::c_int,
        events: *mut libc::epoll_event,
        max: libc::c_int,
        timeout: Option<Duration>,
    ) -> libc::c_long {
        let timeout = timeout_millis(timeout);
        // SAFETY: the caller's contract.
        unsafe { libc::syscall(libc::SYS_epoll_wait, epfd, events, max, timeout) }
    }

    pub(super) unsafe fn poll(
        fds: *mut libc::pollfd,
        nfds: libc::nfds_t,
        timeout: Option<Duration>,
    ) -> libc::c_long {
        let timeout = timeout_millis(timeout);
        // SAFETY: the caller's contract.
        unsafe { libc::syscall(libc::SYS_poll, fds, nfds, timeout) }
    }

    pub(super) unsafe fn select(
        nfds: libc::c_int,
        read: *mut libc::fd_set,
        write: *mut libc::fd_set,
        timeout: Option<Duration>,
    ) -> libc::c_long {
        // select writes the time left into it.
        let mut timeval = timeout.map(timeval);
        let timeval = timeval
            .as_mut()
            .map_or(std::ptr::null_mut(), std::ptr::from_mut);
        let no_set = std::ptr::null_mut::<libc::fd_set>();
        // SAFETY: the caller's contract; the timeval lives across the call.
        unsafe { libc::syscall(libc::SYS_select, nfds, read, write, no_set, timeval) }
    }
}

/// The `p` variants with no signal mask, as raw syscalls.
#[cfg(all(not(target_arch = "x86_64"), not(miri)))]
mod imp {
    use super::{timeout_millis, timespec};
    use std::time::Duration;

    pub(super) const EPOLL_WAIT: &str = "epoll_pwait";
    pub(super) const POLL: &str = "ppoll";
    pub(super) const SELECT: &str = "pselect6";

    const NO_SIGMASK: *const libc::sigset_t = std::ptr::null();

    pub(super) unsafe fn epoll_wait(
        epfd: libc::c_int,
        events: *mut libc::epoll_event,
        max: libc::c_int,
        timeout: Option<Duration>,
    ) -> libc::c_long {
        let timeout = timeout_millis(timeout);
        let sigset_size = 0usize;
        // SAFETY: the caller's contract.
        unsafe {
            libc::syscall(
                libc::SYS_epoll_pwait,
                epfd,
                events,
                max,
                timeout,
                NO_SIGMASK,
                sigset_size,
            )
        }
    }

    pub(super) unsafe fn poll(
        fds: *mut libc::pollfd,
        nfds: libc::nfds_t,
        timeout: Option<Duration>,
    ) -> libc::c_long {
        let timespec = timeout.map(timespec);
        let timespec = timespec
            .as_ref()
            .map_or(std::ptr::null(), std::ptr::from_ref);
        let sigset_size = 0usize;
        // SAFETY: the caller's contract; the timespec lives across the call.
        unsafe {
            libc::syscall(
                libc::SYS_ppoll,
                fds,
                nfds,
                timespec,
                NO_SIGMASK,
                sigset_size,
            )
        }
    }

    pub(super) unsafe fn select(
        nfds: libc::c_int,
        read: *mut libc::fd_set,
        write: *mut libc::fd_set,
        timeout: Option<Duration>,
    ) -> libc::c_long {
        // pselect6 writes the time left into it.
        let mut timespec = timeout.map(timespec);
        let timespec = timespec
            .as_mut()
            .map_or(std::ptr::null_mut(), std::ptr::from_mut);
        let no_set = std::ptr::null_mut::<libc::fd_set>();
        // The sixth argument points to a {sigmask, size} pair; null means no mask.
        let no_sigmask_pair = std::ptr::null::<libc::c_void>();
        // SAFETY: the caller's contract; the timespec lives across the call.
        unsafe {
            libc::syscall(
                libc::SYS_pselect6,
                nfds,
                read,
                write,
                no_set,
                timespec,
                no_sigmask_pair,
            )
        }
    }
}

/// libc's functions, which Miri emulates (except `select`).
#[cfg(miri)]
mod imp {
    use super::{timeout_millis, timeval};
    use std::time::Duration;

    pub(super) const EPOLL_WAIT: &str = "epoll_wait";
    pub(super) const POLL: &str = "poll";
    pub(super) const SELECT: &str = "select";

    pub(super) unsafe fn epoll_wait(
        epfd: libc::c_int,
        events: *mut libc::epoll_event,
        max: libc::c_int,
        timeout: Option<Duration>,
    ) -> libc::c_long {
        // SAFETY: the caller's contract.
        unsafe { libc::epoll_wait(epfd, events, max, timeout_millis(timeout)).into() }
    }

    pub(super) unsafe fn poll(
        fds: *mut libc::pollfd,
        nfds: libc::nfds_t,
        timeout: Option<Duration>,
    ) -> libc::c_long {
        // SAFETY: the caller's contract.
        unsafe { libc::poll(fds, nfds, timeout_millis(timeout)).into() }
    }

    pub(super) unsafe fn select(
        nfds: libc::c_int,
        read: *mut libc::fd_set,
        write: *mut libc::fd_set,
        timeout: Option<Duration>,
    ) -> libc::c_long {
        let mut timeval = timeout.map(timeval);
        let timeval = timeval
            .as_mut()
            .map_or(std::ptr::null_mut(), std::ptr::from_mut);
        // SAFETY: the caller's contract.
        unsafe { libc::select(nfds, read, write, std::ptr::null_mut(), timeval).into() }
    }
}

/// Whole milliseconds, rounded up; `-1` waits forever.
fn timeout_millis(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(t) => {
            libc::c_int::try_from(t.as_nanos().div_ceil(1_000_000)).unwrap_or(libc::c_int::MAX)
        }
    }
}

/// Whole microseconds, rounded up.
#[cfg(any(target_arch = "x86_64", miri))]
fn timeval(t: Duration) -> libc::timeval {
    let micros = t.as_nanos().div_ceil(1000);
    libc::timeval {
        tv_sec: libc::time_t::try_from(micros / 1_000_000).unwrap_or(libc::time_t::MAX),
        tv_usec: (micros % 1_000_000) as libc::suseconds_t,
    }
}

/// Exact to the nanosecond.
#[cfg(all(not(target_arch = "x86_64"), not(miri)))]
fn timespec(t: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: libc::time_t::try_from(t.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: t.subsec_nanos() as libc::c_long,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_up_to_whole_milliseconds() {
        assert_eq!(timeout_millis(None), -1);
        assert_eq!(timeout_millis(Some(Duration::ZERO)), 0);
        assert_eq!(timeout_millis(Some(Duration::from_micros(1))), 1);
        assert_eq!(timeout_millis(Some(Duration::from_micros(2001))), 3);
        // Below a microsecond is still a wait, not a spin.
        assert_eq!(timeout_millis(Some(Duration::from_nanos(1))), 1);
        // A nanosecond past a whole millisecond needs the next one.
        assert_eq!(timeout_millis(Some(Duration::from_nanos(1_000_001))), 2);
        assert_eq!(
            timeout_millis(Some(Duration::from_secs(1 << 40))),
            libc::c_int::MAX
        );
    }

    #[cfg(any(target_arch = "x86_64", miri))]
    #[test]
    fn timevals_round_up_to_whole_microseconds() {
        let micros = |t: libc::timeval| (t.tv_sec, t.tv_usec);
        assert_eq!(micros(timeval(Duration::ZERO)), (0, 0));
        assert_eq!(micros(timeval(Duration::from_nanos(1))), (0, 1));
        assert_eq!(micros(timeval(Duration::from_nanos(100_500))), (0, 101));
        assert_eq!(micros(timeval(Duration::from_micros(2_000_003))), (2, 3));
        // Rounding up may carry into the seconds.
        assert_eq!(micros(timeval(Duration::from_nanos(1_999_999_001))), (2, 0));
    }

    #[cfg(all(not(target_arch = "x86_64"), not(miri)))]
    #[test]
    fn timespecs_are_exact() {
        let t = timespec(Duration::from_nanos(2_000_000_501));
        assert_eq!((t.tv_sec, t.tv_nsec), (2, 501));
    }
}
