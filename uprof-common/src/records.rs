//! Record layouts. All sizes are multiples of 8 and all padding is an explicit field, so every
//! byte of a record is initialised and the layout is the same in the kernel and in user space.
use core::mem::size_of;

use crate::{COMM_LEN, EPOLL_EVENT_SIZE, EVENTS_PER_CHUNK};

/// The common start of every record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// A [`Kind`] value.
    pub kind: u16,
    /// Size of the whole record in bytes, header included.
    pub len: u16,
    /// CPU the record was produced on (user-space records: `u32::MAX`).
    pub cpu: u32,
    /// `CLOCK_MONOTONIC` nanoseconds (`bpf_ktime_get_ns`).
    pub ts: u64,
    /// Process (thread-group) id.
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
}

/// `epoll_create`/`epoll_create1` returned.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EpollCreate {
    pub header: Header,
    pub flags: i32,
    /// The new epoll fd, or `-errno`.
    pub ret: i32,
}

/// `epoll_ctl` returned. `events`/`data` are those the caller passed (zero for `DEL`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EpollCtl {
    pub header: Header,
    pub enter_ts: u64,
    pub epfd: i32,
    pub op: i32,
    pub fd: i32,
    pub events: u32,
    pub data: u64,
    /// 0, or `-errno`.
    pub ret: i32,
    pub _pad: u32,
}

/// The thread exited while blocked in this wait: `ret` is meaningless.
pub const WAIT_ABANDONED: u8 = 1;
/// The wait was still in progress when recording ended: `ret` is meaningless.
pub const WAIT_UNFINISHED: u8 = 2;
/// The returned events could not be read from the caller's buffer.
pub const WAIT_CAPTURE_FAILED: u8 = 4;
/// The thread slept in this wait, was woken and ran again: `run_delay_ns` holds the delay from
/// its last wake-up (`sched_waking`) to running (`sched_switch`). Socket and callback tiers.
pub const WAIT_WOKEN: u8 = 8;

/// A wait syscall (epoll or poll family) returned. For the epoll family, `captured` returned
/// events follow in [`WaitEvents`] records of the same thread.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wait {
    pub header: Header,
    pub enter_ts: u64,
    /// Timeout in nanoseconds, or [`crate::TIMEOUT_INFINITE`].
    pub timeout_ns: i64,
    /// Number of ready fds/events, or `-errno`.
    pub ret: i64,
    /// The epoll fd (`-1` for the poll family).
    pub epfd: i32,
    /// `maxevents` (epoll) or the number of fds passed (poll: `nfds`; select: highest fd + 1).
    pub nfds: u32,
    /// A [`crate::WaitSyscall`] value.
    pub syscall: u8,
    /// `WAIT_*` flags.
    pub flags: u8,
    /// Returned events captured in the [`WaitEvents`] records that follow.
    pub captured: u16,
    /// With [`WAIT_WOKEN`]: nanoseconds from the last wake-up to running again (saturated).
    pub run_delay_ns: u32,
}

impl Wait {
    /// The record of wait `f` (its entry) ending with `ret` (or never: `flags`); a wake-up
    /// delay `f` holds sets [`WAIT_WOKEN`].
    pub fn new(
        header: Header,
        f: &InFlight,
        syscall: crate::WaitSyscall,
        ret: i64,
        flags: u8,
        captured: u16,
    ) -> Wait {
        let (epfd, nfds) = syscall.target(&f.args);
        let woken = if f.run_delay_ns != 0 { WAIT_WOKEN } else { 0 };
        Wait {
            header,
            enter_ts: f.ts,
            timeout_ns: f.timeout_ns,
            ret,
            epfd,
            nfds,
            syscall: syscall as u8,
            flags: flags | woken,
            captured,
            run_delay_ns: f.run_delay_ns.min(u32::MAX as u64) as u32,
        }
    }
}

/// Up to [`EVENTS_PER_CHUNK`] returned `struct epoll_event`s, copied as the kernel wrote them.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitEvents {
    pub header: Header,
    /// Index of this chunk among those following one wait.
    pub chunk: u16,
    pub count: u16,
    pub _pad: u32,
    /// `count` `struct epoll_event`s as the kernel lays them out ([`crate::arch`]).
    pub raw: [u8; EVENTS_PER_CHUNK * EPOLL_EVENT_SIZE],
}

impl Default for WaitEvents {
    fn default() -> Self {
        Self {
            header: Header::default(),
            chunk: 0,
            count: 0,
            _pad: 0,
            raw: [0; EVENTS_PER_CHUNK * EPOLL_EVENT_SIZE],
        }
    }
}

impl WaitEvents {
    /// The `i`th returned event as `(events, data)`.
    pub fn event(&self, i: usize) -> Option<(u32, u64)> {
        if i >= usize::from(self.count) {
            return None;
        }
        let (events, _) = self.raw.as_chunks::<EPOLL_EVENT_SIZE>();
        events.get(i).map(crate::arch::decode_epoll_event)
    }
}

/// `close` returned. Stamped with the time of the call, when the kernel frees the number (see
/// `docs/json-schema.md`, "Order").
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Close {
    pub header: Header,
    pub fd: i32,
    pub ret: i32,
}

/// `dup2`/`dup3` returned: `newfd` now refers to `oldfd`'s file (when `ret >= 0`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dup {
    pub header: Header,
    pub oldfd: i32,
    pub newfd: i32,
    pub flags: i32,
    pub ret: i32,
}

/// A traced task created a task (thread or process): `header` is the parent.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fork {
    pub header: Header,
    pub child_tid: u32,
    pub _pad: u32,
    pub comm: [u8; COMM_LEN],
}

/// A task's name (`comm`): after `exec` ([`Kind::Exec`]), at exit ([`Kind::Exit`]), after a
/// rename ([`Kind::Rename`], `header.tid` is the renamed thread), or learned by user space for a
/// task that existed before tracing ([`Kind::TaskInfo`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskComm {
    pub header: Header,
    pub comm: [u8; COMM_LEN],
}

impl TaskComm {
    /// The name up to its first NUL byte.
    pub fn name(&self) -> &[u8] {
        let end = self.comm.iter().position(|&b| b == 0).unwrap_or(COMM_LEN);
        &self.comm[..end]
    }
}

/// User space learned what `fd` of process `header.pid` refers to.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FdInfo {
    pub header: Header,
    pub fd: i32,
    /// A [`crate::FdKind`] value.
    pub kind: u32,
}

/// An entry of an epoll interest list that existed before tracing began, read by user space
/// from `/proc/PID/fdinfo/EPFD` when attaching to a running process.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Interest {
    pub header: Header,
    pub epfd: i32,
    pub fd: i32,
    pub events: u32,
    pub _pad: u32,
    pub data: u64,
}

/// The kernel queued an fd of a traced epoll instance on its ready list: `ep_poll_callback`
/// ran with a mask the entry listens for (callback tier only). `header.pid` is the process
/// that owns the epoll instance, `header.tid` the thread the callback ran in (any process, or
/// none: it often runs in interrupt context).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ready {
    pub header: Header,
    pub epfd: i32,
    /// The fd as registered (`epitem->ffd.fd`).
    pub fd: i32,
    /// The poll key passed to the callback (0 when the waker gave none: any event).
    pub mask: u32,
    /// A tag of the ready file (its kernel address, `epitem->ffd.file`, folded to 32 bits):
    /// callbacks of one wake-up that reach several epoll instances share it. (Recordings of
    /// uprof versions before it existed hold 0.)
    pub origin: u32,
    /// The registered `epoll_event.data`.
    pub data: u64,
}

impl Ready {
    /// The tag [`Ready::origin`] holds for a file at kernel address `file`: its address without
    /// the low bits every allocation shares, folded to 32 bits.
    pub fn origin_of(file: u64) -> u32 {
        ((file >> 6) ^ (file >> 38)) as u32
    }
}

/// A socket registered in a traced epoll instance received data or a connection
/// (`sock:sk_data_ready`, socket tier). `header.pid`/`header.tid` are the task it ran in (often
/// the sender, or whichever task a softirq interrupted): the waker of any waiter it wakes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SockReady {
    pub header: Header,
    /// The socket's inode number (`socket:[ino]` in `/proc/PID/fd`).
    pub ino: u64,
}

/// `fd` of `header.pid` is the socket with inode number `ino`: sent when a traced thread adds
/// a socket to an epoll instance (socket tier), and by user space for sockets already in an
/// interest list when tracing began.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Socket {
    pub header: Header,
    pub fd: i32,
    pub _pad: u32,
    pub ino: u64,
}

/// A traced thread blocked in a wait was woken (`sched_waking`, socket and callback tiers).
/// `header` names the woken thread and the time of the wake-up; the record is written by the
/// waker, on the waker's CPU.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wake {
    pub header: Header,
    /// Entry time of the wait the thread is in.
    pub enter_ts: u64,
    /// The task that woke it (0 when the wake-up came from an interrupt on an idle CPU).
    pub waker_pid: u32,
    pub waker_tid: u32,
    /// The epoll fd waited on (`-1` for the poll family).
    pub epfd: i32,
    /// A [`crate::WaitSyscall`] value.
    pub syscall: u8,
    pub _pad: [u8; 3],
}

/// Running total of records the kernel could not put in the ring buffer (user space reads the
/// kernel's counters and writes this record periodically and at the end).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lost {
    pub header: Header,
    pub total: u64,
}

/// Record kinds. Values are part of the record file format: never reuse one.
#[repr(u16)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    EpollCreate = 1,
    EpollCtl = 2,
    Wait = 3,
    WaitEvents = 4,
    Close = 5,
    Dup = 6,
    Fork = 7,
    Exec = 8,
    Exit = 9,
    Rename = 10,
    Ready = 11,
    SockReady = 12,
    Socket = 13,
    Wake = 14,
    TaskInfo = 32,
    FdInfo = 33,
    Interest = 34,
    Lost = 35,
}

/// A record type with a fixed kind and layout.
pub trait RecordBody: Copy {
    const KIND: Kind;

    fn header(&self) -> &Header;
    fn header_mut(&mut self) -> &mut Header;

    /// The record's bytes, as stored in the ring buffer and the record file.
    fn as_bytes(&self) -> &[u8] {
        // SAFETY: record types are repr(C), Copy, and have no implicit padding (every gap is an
        // explicit field; the size assertions at the end of this file check it), so all bytes are
        // initialised.
        unsafe { core::slice::from_raw_parts(self as *const Self as *const u8, size_of::<Self>()) }
    }
}

macro_rules! record_body {
    ($($ty:ident => $($kind:ident)|+ ;)*) => {
        $(impl RecordBody for $ty {
            const KIND: Kind = record_body!(@first $($kind)+);
            fn header(&self) -> &Header { &self.header }
            fn header_mut(&mut self) -> &mut Header { &mut self.header }
        })*

        /// A parsed record.
        // `WaitEvents` is the large one (288 bytes with arm64's 16-byte `epoll_event`s, over
        // clippy's limit; 224 on x86-64): a copy, not boxed, since this crate has no allocator.
        #[allow(clippy::large_enum_variant)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Record {
            $($($kind($ty),)+)*
        }

        impl Record {
            pub fn header(&self) -> &Header {
                match self { $($(Record::$kind(r) => &r.header,)+)* }
            }

            /// The record's bytes (as [`RecordBody::as_bytes`]).
            pub fn as_bytes(&self) -> &[u8] {
                match self { $($(Record::$kind(r) => r.as_bytes(),)+)* }
            }

            /// Parses the record at the start of `bytes`; returns it and its length.
            pub fn parse(bytes: &[u8]) -> Result<(Record, usize), ParseError> {
                let header: Header = read(bytes).ok_or(ParseError::Short)?;
                let len = header.len as usize;
                if len > bytes.len() {
                    return Err(ParseError::Short);
                }
                let body = &bytes[..len];
                $($(if header.kind == Kind::$kind as u16 {
                    if len != size_of::<$ty>() {
                        return Err(ParseError::BadLength { kind: header.kind, len: header.len });
                    }
                    return Ok((Record::$kind(read(body).ok_or(ParseError::Short)?), len));
                })+)*
                Err(ParseError::UnknownKind(header.kind))
            }
        }
    };
    (@first $first:ident $($rest:ident)*) => { Kind::$first };
}

record_body! {
    EpollCreate => EpollCreate;
    EpollCtl => EpollCtl;
    Wait => Wait;
    WaitEvents => WaitEvents;
    Close => Close;
    Dup => Dup;
    Fork => Fork;
    TaskComm => Exec | Exit | Rename | TaskInfo;
    FdInfo => FdInfo;
    Interest => Interest;
    Lost => Lost;
    Ready => Ready;
    SockReady => SockReady;
    Socket => Socket;
    Wake => Wake;
}

/// Why bytes are not a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Fewer bytes than the header announces.
    Short,
    /// A known kind with the wrong length.
    BadLength {
        kind: u16,
        len: u16,
    },
    UnknownKind(u16),
}

impl core::fmt::Display for ParseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Short => write!(f, "record cut short"),
            Self::BadLength { kind, len } => {
                write!(f, "record of kind {kind} has bad length {len}")
            }
            Self::UnknownKind(k) => write!(f, "unknown record kind {k}"),
        }
    }
}

fn read<T: Copy>(bytes: &[u8]) -> Option<T> {
    if bytes.len() < size_of::<T>() {
        return None;
    }
    // SAFETY: the length is checked and T is a plain-data record type (integers and byte arrays:
    // every bit pattern is valid); read_unaligned copes with any alignment.
    Some(unsafe { core::ptr::read_unaligned(bytes.as_ptr() as *const T) })
}

impl Header {
    /// A header for a record of type `R` produced now by user space.
    pub fn user<R: RecordBody>(ts: u64, pid: u32, tid: u32) -> Header {
        Header {
            kind: R::KIND as u16,
            len: size_of::<R>() as u16,
            cpu: u32::MAX,
            ts,
            pid,
            tid,
        }
    }
}

/// Compile-time check that no record type has implicit padding.
const _: () = {
    assert!(size_of::<Header>() == 24);
    assert!(size_of::<EpollCreate>() == 32);
    assert!(size_of::<EpollCtl>() == 64);
    assert!(size_of::<Wait>() == 64);
    assert!(size_of::<WaitEvents>() == 32 + EVENTS_PER_CHUNK * EPOLL_EVENT_SIZE);
    assert!(size_of::<Close>() == 32);
    assert!(size_of::<Dup>() == 40);
    assert!(size_of::<Fork>() == 48);
    assert!(size_of::<TaskComm>() == 40);
    assert!(size_of::<FdInfo>() == 32);
    assert!(size_of::<Interest>() == 48);
    assert!(size_of::<Lost>() == 32);
    assert!(size_of::<Ready>() == 48);
    assert!(size_of::<SockReady>() == 32);
    assert!(size_of::<Socket>() == 40);
    assert!(size_of::<Wake>() == 48);
};

/// A traced thread's syscall between entry and exit: the value of the eBPF `INFLIGHT` map,
/// keyed by thread id. User space reads it at the end of a recording to report waits that are
/// still blocked.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InFlight {
    /// Entry time (`CLOCK_MONOTONIC` ns).
    pub ts: u64,
    /// For waits: the timeout read at entry (the kernel rewrites select's and ppoll's), in ns,
    /// or [`crate::TIMEOUT_INFINITE`].
    pub timeout_ns: i64,
    /// The syscall's arguments.
    pub args: [u64; 6],
    /// A [`crate::WaitSyscall`] value or one of [`crate::call`] ([`crate::call::NONE`]
    /// between calls).
    pub call: u8,
    pub _pad: [u8; 3],
    /// The thread's process id.
    pub pid: u32,
    /// Waits: time of the last wake-up the thread has not yet run after (0: none).
    pub woken_ts: u64,
    /// Waits: delay from the last wake-up to running again (0: not woken yet).
    pub run_delay_ns: u64,
    /// Callback tier: the epoll fd whose instance this thread last made sure the kernel side
    /// knows (`-1`: none), and the generation of epoll fds it did so in. The entry outlives
    /// the call, so a loop's waits on one instance resolve it once, not at every return.
    pub known_epfd: i32,
    pub known_generation: u32,
    /// In-kernel aggregation: the return time of the thread's previous finished wait (0:
    /// none yet), the start of the busy time its next wait call ends.
    pub last_wait_exit: u64,
}

const _: () = assert!(size_of::<InFlight>() == 104);

#[cfg(feature = "user")]
// SAFETY: plain data, no implicit padding (checked above).
unsafe impl aya::Pod for InFlight {}

/// Where a traced epoll instance lives: the value of the eBPF `EPOLLS` map, keyed by the
/// kernel address of its `struct eventpoll`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EpollOwner {
    pub pid: u32,
    pub epfd: i32,
}

const _: () = assert!(size_of::<EpollOwner>() == 8);

#[cfg(feature = "user")]
// SAFETY: plain data, no implicit padding (checked above).
unsafe impl aya::Pod for EpollOwner {}
