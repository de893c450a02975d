//! The counted syscalls, each issued through `libc::syscall` so that one call is exactly one
//! syscall of the named kind: glibc's wrappers may substitute another (`epoll_wait` becomes
//! `epoll_pwait`, `poll` becomes `ppoll`, `select` becomes `pselect6`).
//!
//! Every argument is passed as a full `c_long`: `syscall(2)` reads its variadic arguments as
//! longs, and a narrower Rust integer would leave the upper half of the register undefined.
//!
//! These functions count nothing; [`crate::caller::Caller`] wraps them with the bookkeeping.

use std::io;
use std::ptr;

use libc::{c_int, c_long, epoll_event, fd_set, pollfd, timespec, timeval};

use crate::report::Syscall;

/// The kernel's `sigset_t` size, which the `p` variants check even when the mask is null.
const KERNEL_SIGSET_SIZE: c_long = 8;

/// The syscall number of `syscall` on this architecture.
pub fn number(syscall: Syscall) -> c_long {
    match syscall {
        Syscall::EpollCreate1 => libc::SYS_epoll_create1,
        Syscall::EpollCtl => libc::SYS_epoll_ctl,
        Syscall::EpollWait => libc::SYS_epoll_wait,
        Syscall::EpollPwait => libc::SYS_epoll_pwait,
        Syscall::EpollPwait2 => libc::SYS_epoll_pwait2,
        Syscall::Poll => libc::SYS_poll,
        Syscall::Ppoll => libc::SYS_ppoll,
        Syscall::Select => libc::SYS_select,
        Syscall::Pselect6 => libc::SYS_pselect6,
        Syscall::Close => libc::SYS_close,
    }
}

/// Turns a raw return into a count or the `errno` it signals.
fn result(ret: c_long) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

fn ptr_or_null<T>(value: Option<&mut T>) -> c_long {
    value.map_or(ptr::null_mut(), |v| v as *mut T) as c_long
}

pub fn epoll_create1(flags: c_int) -> io::Result<c_int> {
    // SAFETY: no pointer arguments.
    let ret = unsafe { libc::syscall(number(Syscall::EpollCreate1), flags as c_long) };
    result(ret).map(|fd| fd as c_int)
}

/// `event` is `None` for `EPOLL_CTL_DEL`.
pub fn epoll_ctl(
    epfd: c_int,
    op: c_int,
    fd: c_int,
    event: Option<&mut epoll_event>,
) -> io::Result<()> {
    let event = ptr_or_null(event);
    // SAFETY: `event` is null or points to an epoll_event that outlives the call.
    let ret = unsafe {
        libc::syscall(
            number(Syscall::EpollCtl),
            epfd as c_long,
            op as c_long,
            fd as c_long,
            event,
        )
    };
    result(ret).map(drop)
}

/// `maxevents` is `events.len()`; a negative `timeout_ms` waits forever.
pub fn epoll_wait(epfd: c_int, events: &mut [epoll_event], timeout_ms: c_int) -> io::Result<usize> {
    // SAFETY: the kernel writes at most `events.len()` entries into `events`.
    let ret = unsafe {
        libc::syscall(
            number(Syscall::EpollWait),
            epfd as c_long,
            events.as_mut_ptr() as c_long,
            events.len() as c_long,
            timeout_ms as c_long,
        )
    };
    result(ret)
}

/// `epoll_wait` with a null signal mask.
pub fn epoll_pwait(
    epfd: c_int,
    events: &mut [epoll_event],
    timeout_ms: c_int,
) -> io::Result<usize> {
    // SAFETY: as for epoll_wait; the mask pointer is null.
    let ret = unsafe {
        libc::syscall(
            number(Syscall::EpollPwait),
            epfd as c_long,
            events.as_mut_ptr() as c_long,
            events.len() as c_long,
            timeout_ms as c_long,
            ptr::null::<libc::sigset_t>() as c_long,
            KERNEL_SIGSET_SIZE,
        )
    };
    result(ret)
}

/// `epoll_wait` with a `timespec` timeout (`None` waits forever) and a null signal mask.
pub fn epoll_pwait2(
    epfd: c_int,
    events: &mut [epoll_event],
    timeout: Option<&mut timespec>,
) -> io::Result<usize> {
    let timeout = ptr_or_null(timeout);
    // SAFETY: as for epoll_wait; `timeout` is null or a live timespec, the mask pointer is null.
    let ret = unsafe {
        libc::syscall(
            number(Syscall::EpollPwait2),
            epfd as c_long,
            events.as_mut_ptr() as c_long,
            events.len() as c_long,
            timeout,
            ptr::null::<libc::sigset_t>() as c_long,
            KERNEL_SIGSET_SIZE,
        )
    };
    result(ret)
}

pub fn poll(fds: &mut [pollfd], timeout_ms: c_int) -> io::Result<usize> {
    // SAFETY: the kernel reads and updates exactly `fds.len()` entries.
    let ret = unsafe {
        libc::syscall(
            number(Syscall::Poll),
            fds.as_mut_ptr() as c_long,
            fds.len() as c_long,
            timeout_ms as c_long,
        )
    };
    result(ret)
}

/// `poll` with a `timespec` timeout (`None` waits forever; the kernel writes back the time
/// left) and a null signal mask.
pub fn ppoll(fds: &mut [pollfd], timeout: Option<&mut timespec>) -> io::Result<usize> {
    let timeout = ptr_or_null(timeout);
    // SAFETY: as for poll; `timeout` is null or a live timespec, the mask pointer is null.
    let ret = unsafe {
        libc::syscall(
            number(Syscall::Ppoll),
            fds.as_mut_ptr() as c_long,
            fds.len() as c_long,
            timeout,
            ptr::null::<libc::sigset_t>() as c_long,
            KERNEL_SIGSET_SIZE,
        )
    };
    result(ret)
}

/// `select` on a read set only; the kernel rewrites `readfds` and `timeout`.
pub fn select(
    nfds: c_int,
    readfds: &mut fd_set,
    timeout: Option<&mut timeval>,
) -> io::Result<usize> {
    let timeout = ptr_or_null(timeout);
    // SAFETY: `readfds` is a live fd_set covering `nfds` <= FD_SETSIZE bits (the caller checks),
    // `timeout` is null or a live timeval, the other sets are null.
    let ret = unsafe {
        libc::syscall(
            number(Syscall::Select),
            nfds as c_long,
            readfds as *mut fd_set as c_long,
            ptr::null_mut::<fd_set>() as c_long,
            ptr::null_mut::<fd_set>() as c_long,
            timeout,
        )
    };
    result(ret)
}

/// `select` with a `timespec` timeout and no signal mask (a null sixth argument).
pub fn pselect6(
    nfds: c_int,
    readfds: &mut fd_set,
    timeout: Option<&mut timespec>,
) -> io::Result<usize> {
    let timeout = ptr_or_null(timeout);
    // SAFETY: as for select; the signal-mask argument is null.
    let ret = unsafe {
        libc::syscall(
            number(Syscall::Pselect6),
            nfds as c_long,
            readfds as *mut fd_set as c_long,
            ptr::null_mut::<fd_set>() as c_long,
            ptr::null_mut::<fd_set>() as c_long,
            timeout,
            ptr::null::<c_long>() as c_long,
        )
    };
    result(ret)
}

pub fn close(fd: c_int) -> io::Result<()> {
    // SAFETY: no pointer arguments; closing an fd the caller owns.
    result(unsafe { libc::syscall(number(Syscall::Close), fd as c_long) }).map(drop)
}
