//! Small enumerations and constants with one meaning on both sides.

/// Defines an enum stored in records as an integer, with each variant's value and name on one
/// line, and the decoding from those same lines: a variant cannot be added without being
/// decodable, nor decode as another.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident: $repr:ty, decoded by $decode:ident {
            $($(#[$vmeta:meta])* $variant:ident = $value:literal => $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[repr($repr)]
        pub enum $name {
            $($(#[$vmeta])* $variant = $value,)+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: [$name; [$($value),+].len()] = [$($name::$variant),+];

            /// The variant stored as `v`, if any.
            pub const fn $decode(v: $repr) -> Option<$name> {
                match v {
                    $($value => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// The name used in reports (for syscalls, as in `man 2` and tracepoint names).
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }
    };
}

wire_enum! {
    /// Which syscall a [`crate::Wait`] record describes.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
    pub enum WaitSyscall: u8, decoded by from_u8 {
        EpollWait = 1 => "epoll_wait",
        EpollPwait = 2 => "epoll_pwait",
        EpollPwait2 = 3 => "epoll_pwait2",
        Poll = 4 => "poll",
        Ppoll = 5 => "ppoll",
        Select = 6 => "select",
        Pselect6 = 7 => "pselect6",
    }
}

impl WaitSyscall {
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

/// Returned (events, data) pairs carried by one [`crate::WaitEvents`] record.
pub const EVENTS_PER_CHUNK: usize = 16;

/// At most this many [`crate::WaitEvents`] records follow one wait, so at most
/// `EVENTS_PER_CHUNK * MAX_EVENT_CHUNKS` returned events are captured per call; the
/// [`crate::Wait`] record says how many were captured and how many returned.
pub const MAX_EVENT_CHUNKS: usize = 16;

/// `TASK_COMM_LEN`.
pub const COMM_LEN: usize = 16;

wire_enum! {
    /// What an fd refers to, as learned from `/proc/PID/fd` when the fd is first seen.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum FdKind: u32, decoded by from_raw {
        Unknown = 0 => "unknown",
        Socket = 1 => "socket",
        Pipe = 2 => "pipe",
        EventFd = 3 => "eventfd",
        TimerFd = 4 => "timerfd",
        SignalFd = 5 => "signalfd",
        Epoll = 6 => "epoll",
        File = 7 => "file",
        Other = 8 => "other",
        /// A socket that listens (accepts connections).
        Listener = 9 => "listener",
    }
}

impl FdKind {
    /// The kind stored as `v`; a value this build does not know is [`FdKind::Unknown`].
    pub fn from_u32(v: u32) -> Self {
        Self::from_raw(v).unwrap_or(Self::Unknown)
    }

    /// A socket, listening or not.
    pub fn is_socket(self) -> bool {
        matches!(self, Self::Socket | Self::Listener)
    }

    /// Classifies the target of a `/proc/PID/fd/N` link (a socket as [`FdKind::Socket`]: the
    /// link does not say whether it listens).
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Each value decodes to the variant stored as it, and only those values decode.
    #[test]
    fn wait_syscalls_decode_exactly_their_values() {
        for v in 0..=u8::MAX {
            let stored_as = WaitSyscall::ALL.into_iter().find(|s| *s as u8 == v);
            assert_eq!(WaitSyscall::from_u8(v), stored_as, "value {v}");
        }
        for (i, a) in WaitSyscall::ALL.iter().enumerate() {
            assert!(
                WaitSyscall::ALL[i + 1..]
                    .iter()
                    .all(|b| a.name() != b.name())
            );
        }
    }

    #[test]
    fn fd_kinds_decode_exactly_their_values() {
        for v in (0..=1024).chain([u32::MAX]) {
            let stored_as = FdKind::ALL.into_iter().find(|k| *k as u32 == v);
            assert_eq!(FdKind::from_raw(v), stored_as, "value {v}");
            assert_eq!(FdKind::from_u32(v), stored_as.unwrap_or(FdKind::Unknown));
        }
        for (i, a) in FdKind::ALL.iter().enumerate() {
            assert!(FdKind::ALL[i + 1..].iter().all(|b| a.name() != b.name()));
        }
    }
}

wire_enum! {
    /// What an entry of the in-kernel loop histograms ([`crate::HistKey`]) counts: the waits of
    /// one outcome (named as the `outcome` label of `uprof_wait_duration_seconds`), or the busy
    /// time between a wait's return and the next wait call.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
    pub enum LoopFigure: u8, decoded by from_u8 {
        /// The wait returned events (or ready fds).
        Ready = 0 => "ready",
        /// A non-zero timeout expired.
        Timeout = 1 => "timeout",
        /// A zero timeout found nothing.
        Poll = 2 => "poll",
        /// Interrupted by a signal.
        Eintr = 3 => "eintr",
        /// Another errno.
        Error = 4 => "error",
        /// One loop iteration's work (not a wait).
        Busy = 5 => "busy",
    }
}

impl LoopFigure {
    /// The outcome of a finished wait that returned `ret` with a timeout of `timeout_ns`: the
    /// same rule as the user-side reconstruction's.
    #[inline(always)]
    pub fn of_wait(ret: i64, timeout_ns: i64) -> LoopFigure {
        if ret > 0 {
            LoopFigure::Ready
        } else if ret == 0 {
            if timeout_ns == 0 {
                LoopFigure::Poll
            } else {
                LoopFigure::Timeout
            }
        } else if ret == -crate::EINTR {
            LoopFigure::Eintr
        } else {
            LoopFigure::Error
        }
    }
}
