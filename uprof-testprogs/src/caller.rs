//! [`Caller`]: one thread's way of making the counted syscalls, each counted as it is made.

use std::ffi::CStr;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use libc::{c_int, epoll_event, pollfd, timespec, timeval};

use crate::books::{Books, CtlOp, EpollIndex, ThreadIndex};
use crate::report::{FdKind, Syscall};
use crate::sys;

/// An fd and what it refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fd {
    pub fd: c_int,
    pub kind: FdKind,
}

/// An epoll instance created through a [`Caller`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Epoll {
    pub fd: c_int,
    index: EpollIndex,
}

impl Epoll {
    /// The instance's fd, for adding it to another instance.
    pub fn as_fd(self) -> Fd {
        Fd {
            fd: self.fd,
            kind: FdKind::Epoll,
        }
    }
}

/// One event returned by an epoll wait: the fd it was registered with (the programs register
/// every fd with its own number as data) and the ready mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub fd: c_int,
    pub events: u32,
}

/// How a wait returned.
#[derive(Debug)]
pub enum Waited<T> {
    /// A positive return, with what was ready.
    Ready(T),
    TimedOut,
    Interrupted,
    Failed(io::Error),
}

impl<T> Waited<T> {
    fn new(result: io::Result<usize>, ready: impl FnOnce(usize) -> T) -> Waited<T> {
        match result {
            Ok(0) => Waited::TimedOut,
            Ok(n) => Waited::Ready(ready(n)),
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => Waited::Interrupted,
            Err(e) => Waited::Failed(e),
        }
    }
}

/// The epoll wait syscalls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EpollCall {
    Wait,
    Pwait,
    Pwait2,
}

impl EpollCall {
    pub const ALL: [EpollCall; 3] = [Self::Wait, Self::Pwait, Self::Pwait2];

    pub fn syscall(self) -> Syscall {
        match self {
            Self::Wait => Syscall::EpollWait,
            Self::Pwait => Syscall::EpollPwait,
            Self::Pwait2 => Syscall::EpollPwait2,
        }
    }
}

/// The poll syscalls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PollCall {
    Poll,
    Ppoll,
}

impl PollCall {
    pub const ALL: [PollCall; 2] = [Self::Poll, Self::Ppoll];

    pub fn syscall(self) -> Syscall {
        match self {
            Self::Poll => Syscall::Poll,
            Self::Ppoll => Syscall::Ppoll,
        }
    }
}

/// The select syscalls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelectCall {
    Select,
    Pselect6,
}

impl SelectCall {
    pub const ALL: [SelectCall; 2] = [Self::Select, Self::Pselect6];

    pub fn syscall(self) -> Syscall {
        match self {
            Self::Select => Syscall::Select,
            Self::Pselect6 => Syscall::Pselect6,
        }
    }
}

/// The calling thread's handle on its process's [`Books`]. Create one on each thread that makes
/// counted calls, and make them all through it.
pub struct Caller {
    books: Arc<Books>,
    thread: ThreadIndex,
    tid: u32,
}

impl Caller {
    /// Registers the calling thread in `books`.
    pub fn new(books: &Arc<Books>) -> Caller {
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() } as u32;
        let thread = books.add_thread(tid, thread_name());
        Caller {
            books: Arc::clone(books),
            thread,
            tid,
        }
    }

    pub fn tid(&self) -> u32 {
        self.tid
    }

    pub fn books(&self) -> &Arc<Books> {
        &self.books
    }

    /// Renames the calling thread with `prctl(PR_SET_NAME)` (at most 15 bytes).
    pub fn set_name(&self, name: &str) -> Result<()> {
        ensure!(
            name.len() < 16 && !name.contains('\0'),
            "bad thread name {name:?}"
        );
        let mut buf = [0u8; 16];
        buf[..name.len()].copy_from_slice(name.as_bytes());
        // SAFETY: `buf` is a NUL-terminated string of at most 16 bytes.
        let ret = unsafe { libc::prctl(libc::PR_SET_NAME, buf.as_ptr()) };
        if ret != 0 {
            return Err(io::Error::last_os_error()).context("prctl(PR_SET_NAME)");
        }
        self.books.rename_thread(self.thread, thread_name());
        Ok(())
    }

    pub fn epoll_create1(&self) -> io::Result<Epoll> {
        self.books.count_call(self.thread, Syscall::EpollCreate1);
        let fd = sys::epoll_create1(libc::EPOLL_CLOEXEC)?;
        Ok(Epoll {
            fd,
            index: self.books.add_epoll(fd),
        })
    }

    /// `epoll_ctl(ep, op, fd)` with `fd.fd` as the event data (`events` is ignored for `Del`).
    pub fn epoll_ctl(&self, ep: Epoll, op: CtlOp, fd: Fd, events: u32) -> io::Result<()> {
        let mut event = epoll_event {
            events,
            u64: fd.fd as u64,
        };
        let event = (op != CtlOp::Del).then_some(&mut event);
        self.books.count_call(self.thread, Syscall::EpollCtl);
        let result = sys::epoll_ctl(ep.fd, op.raw(), fd.fd, event);
        self.books.ctl(ep.index, op, fd.fd, fd.kind, result.is_ok());
        result
    }

    /// Waits on `ep` for up to `maxevents` events; `timeout` `None` waits forever.
    pub fn epoll_wait(
        &self,
        ep: Epoll,
        call: EpollCall,
        maxevents: usize,
        timeout: Option<Duration>,
    ) -> Waited<Vec<Event>> {
        let mut buf = vec![epoll_event { events: 0, u64: 0 }; maxevents];
        self.books.begin_wait(self.thread, call.syscall(), 0);
        let result = match call {
            EpollCall::Wait => sys::epoll_wait(ep.fd, &mut buf, millis(timeout)),
            EpollCall::Pwait => sys::epoll_pwait(ep.fd, &mut buf, millis(timeout)),
            EpollCall::Pwait2 => {
                sys::epoll_pwait2(ep.fd, &mut buf, timeout.map(to_timespec).as_mut())
            }
        };
        let returned = *result.as_ref().unwrap_or(&0);
        let events: Vec<Event> = buf[..returned]
            .iter()
            .map(|e| Event {
                fd: e.u64 as c_int,
                events: e.events,
            })
            .collect();
        let fds: Vec<c_int> = events.iter().map(|e| e.fd).collect();
        self.books.end_wait(
            self.thread,
            polled(timeout),
            &result,
            Some((ep.index, &fds)),
        );
        Waited::new(result, |_| events)
    }

    /// Polls `fds` (their `revents` are rewritten); ready with the number of ready entries.
    pub fn poll(
        &self,
        call: PollCall,
        fds: &mut [pollfd],
        timeout: Option<Duration>,
    ) -> Waited<usize> {
        self.books
            .begin_wait(self.thread, call.syscall(), fds.len() as u64);
        let result = match call {
            PollCall::Poll => sys::poll(fds, millis(timeout)),
            PollCall::Ppoll => sys::ppoll(fds, timeout.map(to_timespec).as_mut()),
        };
        self.books
            .end_wait(self.thread, polled(timeout), &result, None);
        Waited::new(result, |n| n)
    }

    /// Selects for reading on `readfds`; ready with the fds found readable.
    pub fn select(
        &self,
        call: SelectCall,
        readfds: &[c_int],
        timeout: Option<Duration>,
    ) -> Waited<Vec<c_int>> {
        let nfds = readfds.iter().max().map_or(0, |&max| max + 1);
        assert!(
            readfds.iter().all(|&fd| fd >= 0) && nfds as usize <= libc::FD_SETSIZE,
            "fds {readfds:?} do not fit an fd_set"
        );
        let mut set = fd_set_of(readfds);
        self.books
            .begin_wait(self.thread, call.syscall(), nfds as u64);
        let result = match call {
            SelectCall::Select => sys::select(nfds, &mut set, timeout.map(to_timeval).as_mut()),
            SelectCall::Pselect6 => {
                sys::pselect6(nfds, &mut set, timeout.map(to_timespec).as_mut())
            }
        };
        self.books
            .end_wait(self.thread, polled(timeout), &result, None);
        Waited::new(result, |_| {
            readfds
                .iter()
                .copied()
                // SAFETY: reads a bit of a live fd_set; every fd is below FD_SETSIZE.
                .filter(|&fd| unsafe { libc::FD_ISSET(fd, &set) })
                .collect()
        })
    }

    /// Closes `fd`. The books forget it first: the kernel frees the number as `close` begins,
    /// so another thread may get it for a new fd (and count calls on it) before this returns.
    /// (The only failure that leaves an fd open is EBADF: there was none to forget.)
    pub fn close(&self, fd: c_int) -> io::Result<()> {
        self.books.count_call(self.thread, Syscall::Close);
        self.books.closed(fd);
        sys::close(fd)
    }
}

/// The calling thread's name, from `prctl(PR_GET_NAME)`.
fn thread_name() -> String {
    let mut buf = [0u8; 17];
    // SAFETY: PR_GET_NAME writes at most 16 bytes, NUL included; buf has one more as a stop.
    let ret = unsafe { libc::prctl(libc::PR_GET_NAME, buf.as_mut_ptr()) };
    if ret != 0 {
        return String::new();
    }
    CStr::from_bytes_until_nul(&buf).map_or_else(
        |_| String::new(),
        |name| name.to_string_lossy().into_owned(),
    )
}

fn fd_set_of(fds: &[c_int]) -> libc::fd_set {
    // SAFETY: an all-zero fd_set is the empty set; FD_SET on fds below FD_SETSIZE (checked by
    // the caller) writes inside it.
    unsafe {
        let mut set: libc::fd_set = std::mem::zeroed();
        for &fd in fds {
            libc::FD_SET(fd, &mut set);
        }
        set
    }
}

/// Whether a wait with `timeout` returns at once (a poll).
fn polled(timeout: Option<Duration>) -> bool {
    timeout == Some(Duration::ZERO)
}

/// A timeout in whole milliseconds, `-1` for none (sub-millisecond parts are rounded down).
fn millis(timeout: Option<Duration>) -> c_int {
    timeout.map_or(-1, |t| t.as_millis().min(c_int::MAX as u128) as c_int)
}

fn to_timespec(t: Duration) -> timespec {
    timespec {
        tv_sec: t.as_secs() as libc::time_t,
        tv_nsec: t.subsec_nanos().into(),
    }
}

fn to_timeval(t: Duration) -> timeval {
    timeval {
        tv_sec: t.as_secs() as libc::time_t,
        tv_usec: t.subsec_micros().into(),
    }
}
