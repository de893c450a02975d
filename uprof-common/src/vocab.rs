//! Small enumerations and constants with one meaning on both sides.

/// Which syscall a [`crate::Wait`] record describes.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WaitSyscall {
    EpollWait = 1,
    EpollPwait = 2,
    EpollPwait2 = 3,
    Poll = 4,
    Ppoll = 5,
    Select = 6,
    Pselect6 = 7,
}

impl WaitSyscall {
    pub const ALL: [WaitSyscall; 7] = [
        Self::EpollWait,
        Self::EpollPwait,
        Self::EpollPwait2,
        Self::Poll,
        Self::Ppoll,
        Self::Select,
        Self::Pselect6,
    ];

    pub fn from_u8(v: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|s| *s as u8 == v)
    }

    /// The syscall's name, as in `man 2` and in the tracepoint names.
    pub fn name(self) -> &'static str {
        match self {
            Self::EpollWait => "epoll_wait",
            Self::EpollPwait => "epoll_pwait",
            Self::EpollPwait2 => "epoll_pwait2",
            Self::Poll => "poll",
            Self::Ppoll => "ppoll",
            Self::Select => "select",
            Self::Pselect6 => "pselect6",
        }
    }

    /// The `(epfd, nfds)` of a [`crate::Wait`] record, from the call's arguments: the epoll fd
    /// and `maxevents`, or `-1` and the number of fds passed (select: highest fd + 1).
    pub fn target(self, args: &[u64; 6]) -> (i32, u32) {
        match self {
            Self::EpollWait | Self::EpollPwait | Self::EpollPwait2 => {
                (args[0] as i32, args[2] as u32)
            }
            Self::Poll | Self::Ppoll => (-1, args[1] as u32),
            Self::Select | Self::Pselect6 => (-1, args[0] as u32),
        }
    }

    /// True for the epoll family, whose results are (events, data) pairs of an epoll instance.
    pub fn is_epoll(self) -> bool {
        matches!(self, Self::EpollWait | Self::EpollPwait | Self::EpollPwait2)
    }
}

/// `epoll_ctl` operations (`EPOLL_CTL_*`).
pub const EPOLL_CTL_ADD: i32 = 1;
pub const EPOLL_CTL_DEL: i32 = 2;
pub const EPOLL_CTL_MOD: i32 = 3;

/// Event mask bits of `struct epoll_event` (the same values as `poll`'s).
pub const EPOLLIN: u32 = 0x001;
pub const EPOLLPRI: u32 = 0x002;
pub const EPOLLOUT: u32 = 0x004;
pub const EPOLLERR: u32 = 0x008;
pub const EPOLLHUP: u32 = 0x010;
pub const EPOLLRDHUP: u32 = 0x2000;
pub const EPOLLEXCLUSIVE: u32 = 1 << 28;
pub const EPOLLONESHOT: u32 = 1 << 30;
pub const EPOLLET: u32 = 1 << 31;

/// `errno` values the reconstruction classifies.
pub const EINTR: i64 = 4;

/// Timeout value meaning "block until an event arrives".
pub const TIMEOUT_INFINITE: i64 = -1;

/// Size of `struct epoll_event` on x86_64, where the kernel declares it packed.
pub const EPOLL_EVENT_SIZE: usize = 12;

/// Returned (events, data) pairs carried by one [`crate::WaitEvents`] record.
pub const EVENTS_PER_CHUNK: usize = 16;

/// At most this many [`crate::WaitEvents`] records follow one wait, so at most
/// `EVENTS_PER_CHUNK * MAX_EVENT_CHUNKS` returned events are captured per call; the
/// [`crate::Wait`] record says how many were captured and how many returned.
pub const MAX_EVENT_CHUNKS: usize = 16;

/// `TASK_COMM_LEN`.
pub const COMM_LEN: usize = 16;

/// What an fd refers to, as learned from `/proc/PID/fd` when the fd is first seen.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FdKind {
    Unknown = 0,
    Socket = 1,
    Pipe = 2,
    EventFd = 3,
    TimerFd = 4,
    SignalFd = 5,
    Epoll = 6,
    File = 7,
    Other = 8,
}

impl FdKind {
    pub const ALL: [FdKind; 9] = [
        Self::Unknown,
        Self::Socket,
        Self::Pipe,
        Self::EventFd,
        Self::TimerFd,
        Self::SignalFd,
        Self::Epoll,
        Self::File,
        Self::Other,
    ];

    pub fn from_u32(v: u32) -> Self {
        Self::ALL
            .into_iter()
            .find(|k| *k as u32 == v)
            .unwrap_or(Self::Unknown)
    }

    /// Classifies the target of a `/proc/PID/fd/N` link.
    pub fn from_link(link: &[u8]) -> Self {
        let starts = |p: &[u8]| link.starts_with(p);
        if starts(b"socket:") {
            Self::Socket
        } else if starts(b"pipe:") {
            Self::Pipe
        } else if starts(b"anon_inode:[eventfd]") {
            Self::EventFd
        } else if starts(b"anon_inode:[timerfd]") {
            Self::TimerFd
        } else if starts(b"anon_inode:[signalfd]") {
            Self::SignalFd
        } else if starts(b"anon_inode:[eventpoll]") {
            Self::Epoll
        } else if starts(b"/") {
            Self::File
        } else if link.is_empty() {
            Self::Unknown
        } else {
            Self::Other
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Socket => "socket",
            Self::Pipe => "pipe",
            Self::EventFd => "eventfd",
            Self::TimerFd => "timerfd",
            Self::SignalFd => "signalfd",
            Self::Epoll => "epoll",
            Self::File => "file",
            Self::Other => "other",
        }
    }
}

/// Which syscall a thread is inside, as remembered between a syscall's entry and its exit
/// ([`crate::InFlight::call`]). Wait syscalls use their [`WaitSyscall`] value.
pub mod call {
    /// Not inside a traced syscall: a thread's `INFLIGHT` entry stays between its calls.
    pub const NONE: u8 = 0;
    pub const EPOLL_CREATE: u8 = 16;
    pub const EPOLL_CREATE1: u8 = 17;
    pub const EPOLL_CTL: u8 = 18;
    pub const CLOSE: u8 = 19;
    pub const DUP2: u8 = 20;
    pub const DUP3: u8 = 21;
}
