//! The events of the reconstructed stream: what an event loop did, with every identity
//! resolved (thread incarnations, epoll instances, fd generations) and every cross-record link
//! made (a wait's returned events, the readiness that woke a waiter, the herd it was part of).
use uprof_common::{FdKind, WaitSyscall};

/// One thread, from its creation to its exit: a thread id reused by a new task is a new
/// incarnation with a new `ThreadId`. Ids are dense, from 0, in order of first appearance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ThreadId(pub u32);

/// One epoll instance `(pid, epfd, generation)`: a closed and reused epoll fd number is a new
/// instance. Dense, from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EpollId(pub u32);

/// One fd generation (or one unmapped `data` value) as seen through one epoll instance: the
/// unit of the per-fd tables. Dense, from 0, across all instances.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryId(pub u32);

/// A readiness event: one `sk_data_ready` (socket tier), or the ready-list callbacks one
/// wake-up of a file made on every epoll instance watching it (callback tier). The unit of
/// thundering herds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OriginId(pub u64);

/// The thread an event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadRef {
    pub id: ThreadId,
    pub pid: u32,
    pub tid: u32,
}

/// An epoll instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpollRef {
    pub id: EpollId,
    pub pid: u32,
    pub epfd: i32,
    /// Incarnation of the fd number `epfd` in process `pid`.
    pub generation: u32,
}

/// What a per-instance fd entry describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryKey {
    /// An fd number and its generation in its process (a reused number is a new generation).
    Fd { fd: i32, generation: u32 },
    /// Returned events whose `data` matched no known interest entry.
    Unmapped { data: u64 },
}

/// An fd entry of an epoll instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryRef {
    pub id: EntryId,
    pub epoll: EpollId,
    pub key: EntryKey,
}

/// One event of the stream. Events come in time order (`ts`), with two exceptions:
/// [`Event::Herd`] is known only once no further waiter can be woken by its readiness, so it
/// comes less than [`HERD_LATENESS_NS`](crate::stream::HERD_LATENESS_NS) of stream time after
/// its own `ts` (or at the end); and an interrupted wait ([`Outcome::Interrupted`]) is known
/// only at its thread's next record (or at the end), which may be later.
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    /// A wait call returned (or never will: see [`Outcome`]).
    Wait(&'a Wait<'a>),
    /// An fd of an epoll instance became ready (callback and socket tiers).
    Ready(&'a Ready),
    /// Readiness that no wait will deliver: the fd left the interest list first.
    Undelivered(&'a Undelivered),
    /// A thread blocked in a wait was woken.
    Wake(&'a Wake),
    /// One readiness woke two or more waiters.
    Herd(&'a Herd),
    /// An `epoll_ctl` call returned.
    Ctl(&'a Ctl),
    /// A new epoll instance (`epoll_create`).
    EpollCreated(&'a EpollCreated),
    /// An interest entry that existed before tracing began (read from `/proc`).
    InterestSnapshot(&'a InterestSnapshot),
    /// What an fd refers to became known.
    FdKind(&'a FdKindLearned),
    /// An fd number stopped referring to its file: closed, replaced by `dup2`/`dup3`, or reused
    /// by a new epoll instance. Its generation ends.
    FdEnded(&'a FdEnded),
    /// Thread life: created, named, exited.
    Thread(&'a ThreadEvent<'a>),
    /// The kernel's running total of records it could not deliver grew.
    Lost(&'a Lost),
    /// The recording ended: the last event.
    End(&'a End),
}

impl Event<'_> {
    /// The event's time (`CLOCK_MONOTONIC` ns); for a herd, the first wake-up's.
    pub fn ts(&self) -> u64 {
        match self {
            Event::Wait(w) => w.exit_ts,
            Event::Ready(r) => r.ts,
            Event::Undelivered(u) => u.ts,
            Event::Wake(w) => w.ts,
            Event::Herd(h) => h.ts,
            Event::Ctl(c) => c.ts,
            Event::EpollCreated(c) => c.ts,
            Event::InterestSnapshot(s) => s.ts,
            Event::FdKind(k) => k.ts,
            Event::FdEnded(e) => e.ts,
            Event::Thread(t) => t.ts,
            Event::Lost(l) => l.ts,
            Event::End(e) => e.ts,
        }
    }
}

/// How a wait call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Returned `count` events (epoll) or ready fds (poll family), `count > 0`.
    Ready { count: u64 },
    /// Returned 0: the timeout expired (at once for a zero timeout: a poll).
    Timeout,
    /// `EINTR`: a signal arrived.
    Interrupted,
    /// Another error.
    Error { errno: i64 },
    /// The thread exited while blocked: the wait never returned to the program.
    Abandoned,
    /// Still blocked when recording ended.
    Unfinished,
}

impl Outcome {
    /// Whether the call returned to the program (its duration is known).
    pub fn finished(self) -> bool {
        !matches!(self, Outcome::Abandoned | Outcome::Unfinished)
    }
}

/// A wait call's timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timeout {
    /// Block until something is ready (`-1`, or a null timeout pointer).
    Infinite,
    /// Return at once: a poll.
    Zero,
    /// Nanoseconds.
    After(u64),
}

/// A wait call.
#[derive(Clone, Copy, Debug)]
pub struct Wait<'a> {
    pub thread: ThreadRef,
    pub syscall: WaitSyscall,
    /// The instance waited on (epoll family with a valid epfd).
    pub epoll: Option<EpollRef>,
    pub enter_ts: u64,
    /// Return time; for an unfinished or abandoned wait, the end of the recording or the
    /// thread's death.
    pub exit_ts: u64,
    pub timeout: Timeout,
    pub outcome: Outcome,
    /// `maxevents` (epoll) or the number of fds passed (poll: `nfds`; select: highest fd + 1).
    pub nfds: u32,
    /// The work before this wait: from the previous finished wait's return to this call (a
    /// tick); `None` for the thread's first wait and after an unfinished one. Set only for
    /// finished waits.
    pub busy_before_ns: Option<u64>,
    /// The thread slept, was woken and ran again this long after its last wake-up.
    pub run_delay_ns: Option<u64>,
    /// The returned events that were captured (epoll family), in the order returned.
    pub delivered: &'a [Delivery],
}

impl Wait<'_> {
    /// Time inside the call (known for finished waits).
    pub fn blocked_ns(&self) -> Option<u64> {
        self.outcome
            .finished()
            .then(|| self.exit_ts.saturating_sub(self.enter_ts))
    }
}

/// One `(events, data)` pair a wait returned, mapped to its fd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub entry: EntryRef,
    /// The returned `events` mask.
    pub mask: u32,
    pub data: u64,
    /// When the readiness this delivery picked up was first reported (callback and socket
    /// tiers), if it was.
    pub ready_ts: Option<u64>,
}

/// Where a readiness was observed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadySource {
    /// `ep_poll_callback` queued the fd (exact).
    Callback,
    /// The socket received data or a connection (`sk_data_ready`), credited to every
    /// registration listening for input: approximate.
    Socket,
}

#[derive(Clone, Copy, Debug)]
pub struct Ready {
    pub ts: u64,
    pub epoll: EpollRef,
    pub entry: EntryRef,
    pub source: ReadySource,
    /// The task the readiness was reported in: the waker of whatever it wakes.
    pub waker_tid: u32,
    pub origin: OriginId,
    /// An earlier readiness of the entry was still waiting for pickup.
    pub coalesced: bool,
}

#[derive(Clone, Copy, Debug)]
pub struct Undelivered {
    pub ts: u64,
    pub entry: EntryRef,
    /// When that readiness was first reported.
    pub ready_ts: u64,
}

#[derive(Clone, Copy, Debug)]
pub struct Wake {
    pub ts: u64,
    /// The woken thread.
    pub thread: ThreadRef,
    pub waker_pid: u32,
    pub waker_tid: u32,
    /// Entry time of the wait the thread was in.
    pub wait_enter_ts: u64,
    pub syscall: Option<WaitSyscall>,
    pub epoll: Option<EpollRef>,
    /// The readiness that caused it, when it was observed.
    pub cause: Option<WakeCause>,
}

#[derive(Clone, Copy, Debug)]
pub struct WakeCause {
    pub entry: EntryRef,
    pub origin: OriginId,
    pub ready_ts: u64,
}

#[derive(Clone, Debug)]
pub struct Herd {
    /// Time of the first wake-up.
    pub ts: u64,
    pub origin: OriginId,
    /// The threads woken, in order (a thread woken twice appears twice).
    pub woken: Vec<ThreadRef>,
    /// The fd entries whose readiness woke them, in the same order.
    pub entries: Vec<EntryRef>,
}

/// An `epoll_ctl` operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CtlOp {
    Add,
    Mod,
    Del,
    /// An operation the kernel does not know (it fails with `EINVAL`).
    Other(i32),
}

impl CtlOp {
    pub fn from_raw(op: i32) -> Self {
        match op {
            uprof_common::EPOLL_CTL_ADD => CtlOp::Add,
            uprof_common::EPOLL_CTL_MOD => CtlOp::Mod,
            uprof_common::EPOLL_CTL_DEL => CtlOp::Del,
            other => CtlOp::Other(other),
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Ctl {
    pub ts: u64,
    pub enter_ts: u64,
    pub thread: ThreadRef,
    pub epoll: EpollRef,
    pub entry: EntryRef,
    pub op: CtlOp,
    /// The `events` and `data` passed (zero for `DEL`).
    pub events: u32,
    pub data: u64,
    /// `Err(errno)` when the call failed.
    pub result: Result<(), i32>,
}

#[derive(Clone, Copy, Debug)]
pub struct EpollCreated {
    pub ts: u64,
    pub thread: ThreadRef,
    pub epoll: EpollRef,
}

#[derive(Clone, Copy, Debug)]
pub struct InterestSnapshot {
    pub ts: u64,
    pub epoll: EpollRef,
    pub entry: EntryRef,
    pub events: u32,
    pub data: u64,
}

#[derive(Clone, Copy, Debug)]
pub struct FdKindLearned {
    pub ts: u64,
    pub pid: u32,
    pub fd: i32,
    pub generation: u32,
    pub kind: FdKind,
}

/// Why an fd number's generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdEnd {
    Closed,
    /// `dup2`/`dup3` made it refer to another file.
    Replaced,
    /// `epoll_create` returned the number for a new instance.
    ReusedByEpoll,
}

#[derive(Clone, Copy, Debug)]
pub struct FdEnded {
    pub ts: u64,
    pub pid: u32,
    pub fd: i32,
    /// The generation that ended.
    pub generation: u32,
    pub how: FdEnd,
}

#[derive(Clone, Copy, Debug)]
pub struct ThreadEvent<'a> {
    pub ts: u64,
    pub what: ThreadChange<'a>,
}

#[derive(Clone, Copy, Debug)]
pub enum ThreadChange<'a> {
    /// `parent` created task `child` (a thread or a process: the child's own events say which
    /// process it belongs to). `comm` is the child's name.
    Forked {
        parent: ThreadRef,
        child: ThreadId,
        child_tid: u32,
        comm: &'a str,
    },
    /// The thread is (now) called `comm`.
    Named {
        thread: ThreadRef,
        comm: &'a str,
        how: Naming,
    },
    /// The thread exited (named `comm` at its exit).
    Exited { thread: ThreadRef, comm: &'a str },
}

/// How a thread's name was learned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Naming {
    Exec,
    Rename,
    /// Read from `/proc` for a thread that existed before tracing.
    Snapshot,
}

#[derive(Clone, Copy, Debug)]
pub struct Lost {
    pub ts: u64,
    /// Records lost since recording began.
    pub total: u64,
}

/// The end of the stream, with what the reconstruction could not place.
#[derive(Clone, Copy, Debug, Default)]
pub struct End {
    /// Time of the last record.
    pub ts: u64,
    /// Records older than a record already processed: processed out of order.
    pub late_records: u64,
    /// Returned epoll events that could not be paired with an epoll wait of their thread.
    pub unattributed_events: u64,
    /// Records whose values make no sense (an unknown wait syscall): skipped.
    pub malformed_records: u64,
}
