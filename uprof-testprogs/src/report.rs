//! The JSON object a test program prints: what it did, counted call by call as it did it.
//!
//! uprof's integration tests deserialize it with these same types and compare it with uprof's
//! own report of the run.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One process: its threads' calls, its epoll instances, and the processes it forked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessReport {
    /// The scenario (or program) that produced the report.
    pub scenario: String,
    pub pid: u32,
    /// Threads that made counted calls (each registered through a `Caller`), main thread first,
    /// then in order of registration.
    pub threads: Vec<ThreadReport>,
    /// Epoll instances, in order of creation.
    pub epolls: Vec<EpollReport>,
    /// Forked children's reports, in order of fork.
    pub children: Vec<ProcessReport>,
    /// Remarks a reader of the figures should know (for example an unsupported syscall).
    pub notes: Vec<String>,
    /// Readiness delays the process planted on purpose (`planted-latency`), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub planted: Vec<Planted>,
    /// What `herd` and `herd-exclusive` did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub herd: Option<Herd>,
    /// What `fd-reuse-race` did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub race: Option<ReuseRace>,
    /// The anti-pattern an `anti-*` scenario planted, for uprof's findings to name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anti_pattern: Option<AntiPattern>,
}

/// An anti-pattern planted on purpose: the finding uprof should report (its kind name as in
/// uprof's JSON), where, and the figure of its evidence the scenario knows exactly.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AntiPattern {
    pub finding: String,
    pub tid: u32,
    pub fd: Option<i32>,
    /// The name of the evidence figure, and its value.
    pub figure: String,
    pub value: u64,
}

/// Rounds of one thread closing an fd while another takes its number for a new fd and adds
/// that to an epoll instance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReuseRace {
    pub rounds: u64,
    /// CPUs the two threads ran on, one each; with 1 they took turns and could not overlap.
    pub cpus: u64,
    /// Rounds in which the new fd's `epoll_ctl(ADD)` returned before the `close` of the old fd
    /// under the same number did: the two calls overlapped in time.
    pub overlapped: u64,
}

/// Datagrams sent one at a time to a socket several threads wait on, each in its own epoll
/// instance, while every one of them was blocked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Herd {
    /// The receiving socket's fd.
    pub fd: i32,
    pub waiters: u64,
    /// Datagrams sent.
    pub rounds: u64,
    /// Whether the socket was registered with `EPOLLEXCLUSIVE`.
    pub exclusive: bool,
}

/// One planted delay: an fd made ready while the loop was busy, then picked up by a wait.
/// The kernel's ready-to-delivered time of that pickup lies within `min_ns..=max_ns`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Planted {
    pub fd: i32,
    /// From the return of the write that made the fd ready to the call of the wait.
    pub min_ns: u64,
    /// From the call of that write to the return of the wait.
    pub max_ns: u64,
}

impl ProcessReport {
    /// This process and all its descendants, parents before children.
    pub fn processes(&self) -> Vec<&ProcessReport> {
        let mut all = vec![self];
        for child in &self.children {
            all.extend(child.processes());
        }
        all
    }

    /// Calls of `syscall` made by every thread of this process and its descendants.
    pub fn total_calls(&self, syscall: Syscall) -> u64 {
        self.processes()
            .iter()
            .flat_map(|p| &p.threads)
            .map(|t| t.calls_of(syscall))
            .sum()
    }
}

/// One thread's counted calls and how its waits (epoll and poll family alike) returned.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadReport {
    pub tid: u32,
    /// The thread's name (`comm`) when it registered or was last renamed.
    pub comm: String,
    /// Calls per [`Syscall::name`], counted when made (before the kernel returns); syscalls the
    /// thread never called are absent.
    pub calls: BTreeMap<String, u64>,
    /// Waits that returned a positive count.
    pub ready: u64,
    /// Waits with a non-zero timeout that returned 0.
    pub timeouts: u64,
    /// Waits with a zero timeout that returned 0.
    #[serde(default)]
    pub polls: u64,
    /// Waits that returned `-EINTR`.
    pub interrupted: u64,
    /// Waits that returned another error.
    pub errors: u64,
    /// Sum of the positive wait returns.
    pub events: u64,
    /// Waits entered that had not returned when the report was taken.
    pub unfinished: u64,
    /// Sum of the `nfds` arguments of poll-family calls (for select: highest fd + 1).
    pub fds_scanned: u64,
}

impl ThreadReport {
    /// How many calls of `syscall` the thread made.
    pub fn calls_of(&self, syscall: Syscall) -> u64 {
        self.calls.get(syscall.name()).copied().unwrap_or(0)
    }

    /// Wait calls of every kind (epoll and poll family).
    pub fn waits(&self) -> u64 {
        Syscall::ALL
            .into_iter()
            .filter(|s| s.is_wait())
            .map(|s| self.calls_of(s))
            .sum()
    }
}

/// One epoll instance and every fd it was told about.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpollReport {
    pub pid: u32,
    pub epfd: i32,
    /// One entry per use of an fd number: a number closed and then reused gets a new entry.
    pub fds: Vec<FdReport>,
}

/// One use of an fd number by one epoll instance.
///
/// `add`, `mod` and `del` count `epoll_ctl` calls of that operation on the fd whether or not
/// they succeeded; `ctl_errors` counts those that failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FdReport {
    pub fd: i32,
    pub kind: FdKind,
    /// Events returned for this fd by the instance's waits.
    pub delivered: u64,
    pub add: u64,
    #[serde(rename = "mod")]
    pub modify: u64,
    pub del: u64,
    pub ctl_errors: u64,
}

/// What an fd refers to, named as uprof names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FdKind {
    Socket,
    /// A listening socket.
    Listener,
    Pipe,
    EventFd,
    TimerFd,
    SignalFd,
    Epoll,
    File,
}

impl FdKind {
    /// The name in the JSON report.
    pub fn name(self) -> &'static str {
        match self {
            Self::Socket => "socket",
            Self::Listener => "listener",
            Self::Pipe => "pipe",
            Self::EventFd => "eventfd",
            Self::TimerFd => "timerfd",
            Self::SignalFd => "signalfd",
            Self::Epoll => "epoll",
            Self::File => "file",
        }
    }
}

/// The syscalls the test programs count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Syscall {
    EpollCreate1,
    EpollCtl,
    EpollWait,
    EpollPwait,
    EpollPwait2,
    Poll,
    Ppoll,
    Select,
    Pselect6,
    Close,
}

impl Syscall {
    pub const ALL: [Syscall; 10] = [
        Self::EpollCreate1,
        Self::EpollCtl,
        Self::EpollWait,
        Self::EpollPwait,
        Self::EpollPwait2,
        Self::Poll,
        Self::Ppoll,
        Self::Select,
        Self::Pselect6,
        Self::Close,
    ];

    /// The syscall's name, as in `man 2`, strace and uprof's reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::EpollCreate1 => "epoll_create1",
            Self::EpollCtl => "epoll_ctl",
            Self::EpollWait => "epoll_wait",
            Self::EpollPwait => "epoll_pwait",
            Self::EpollPwait2 => "epoll_pwait2",
            Self::Poll => "poll",
            Self::Ppoll => "ppoll",
            Self::Select => "select",
            Self::Pselect6 => "pselect6",
            Self::Close => "close",
        }
    }

    /// True for the calls that wait for readiness (epoll and poll family).
    pub fn is_wait(self) -> bool {
        !matches!(self, Self::EpollCreate1 | Self::EpollCtl | Self::Close)
    }
}
