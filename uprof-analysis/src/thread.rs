//! What one thread's wait calls say about its event loop.
use uprof_common::{EINTR, WAIT_ABANDONED, WAIT_UNFINISHED, Wait, WaitSyscall};

use crate::stats::{CountHistogram, DurationStats};
use crate::wakeup::WakeStats;

/// How a wait call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The thread exited while blocked, or recording ended first: `ret` means nothing.
    Unfinished,
    Ready,
    Timeout,
    Interrupted,
    Error,
}

impl Outcome {
    pub(crate) fn of(w: &Wait) -> Self {
        if w.flags & (WAIT_ABANDONED | WAIT_UNFINISHED) != 0 {
            Self::Unfinished
        } else if w.ret > 0 {
            Self::Ready
        } else if w.ret == 0 {
            Self::Timeout
        } else if w.ret == -EINTR {
            Self::Interrupted
        } else {
            Self::Error
        }
    }
}

/// One traced thread.
pub(crate) struct Thread {
    pub(crate) tid: u32,
    /// `None` for a task created by a traced fork until a record of its own says which process
    /// it belongs to.
    pub(crate) pid: Option<u32>,
    pub(crate) comm: Option<String>,
    pub(crate) exited: bool,
    pub(crate) ctl_calls: u64,
    pub(crate) waits: WaitStats,
    /// Exit time of the previous finished wait: the start of the current tick's work.
    pub(crate) last_exit: Option<u64>,
    /// Index of the epoll instance the last wait was on (its `WaitEvents` follow it).
    pub(crate) last_epoll: Option<usize>,
    /// Wake-ups while blocked (socket and callback tiers).
    pub(crate) wake: WakeStats,
}

impl Thread {
    pub(crate) fn new(tid: u32, pid: Option<u32>) -> Self {
        Self {
            tid,
            pid,
            comm: None,
            exited: false,
            ctl_calls: 0,
            waits: WaitStats::new(),
            last_exit: None,
            last_epoll: None,
            wake: WakeStats::default(),
        }
    }

    /// Threads that waited or changed an interest list are reported.
    pub(crate) fn listed(&self) -> bool {
        self.waits.calls > 0 || self.ctl_calls > 0
    }

    /// Accounts a wait call of this thread.
    pub(crate) fn wait(&mut self, w: &Wait) {
        let outcome = Outcome::of(w);
        self.waits.count(w, outcome);
        self.wake.wait_ended(w, outcome);
        if outcome == Outcome::Unfinished {
            self.last_exit = None;
            return;
        }
        let exit = w.header.ts;
        self.waits.blocked.record(exit.saturating_sub(w.enter_ts));
        if let Some(prev) = self.last_exit {
            self.waits.busy.record(w.enter_ts.saturating_sub(prev));
        }
        self.last_exit = Some(exit);
    }
}

/// Counters of one thread's wait calls.
pub(crate) struct WaitStats {
    pub(crate) calls: u64,
    /// Calls per [`WaitSyscall::ALL`] entry.
    pub(crate) by_syscall: [u64; WaitSyscall::ALL.len()],
    pub(crate) ready: u64,
    pub(crate) timeouts: u64,
    pub(crate) interrupted: u64,
    pub(crate) errors: u64,
    pub(crate) unfinished: u64,
    /// Sum of `ret` over ready returns.
    pub(crate) events: u64,
    pub(crate) per_wakeup: CountHistogram,
    /// Time inside finished waits.
    pub(crate) blocked: DurationStats,
    /// Time between a finished wait's exit and the next wait's entry.
    pub(crate) busy: DurationStats,
    pub(crate) scan: ScanStats,
}

impl WaitStats {
    fn new() -> Self {
        Self {
            calls: 0,
            by_syscall: [0; WaitSyscall::ALL.len()],
            ready: 0,
            timeouts: 0,
            interrupted: 0,
            errors: 0,
            unfinished: 0,
            events: 0,
            per_wakeup: CountHistogram::new(),
            blocked: DurationStats::new(),
            busy: DurationStats::new(),
            scan: ScanStats::default(),
        }
    }

    fn count(&mut self, w: &Wait, outcome: Outcome) {
        self.calls += 1;
        let syscall = WaitSyscall::from_u8(w.syscall);
        if let Some(i) = WaitSyscall::ALL.iter().position(|s| Some(*s) == syscall) {
            self.by_syscall[i] += 1;
        }
        let ready = if outcome == Outcome::Ready {
            w.ret as u64
        } else {
            0
        };
        match outcome {
            Outcome::Unfinished => self.unfinished += 1,
            Outcome::Ready => {
                self.ready += 1;
                self.events += ready;
                self.per_wakeup.record(ready);
            }
            Outcome::Timeout => self.timeouts += 1,
            Outcome::Interrupted => self.interrupted += 1,
            Outcome::Error => self.errors += 1,
        }
        if syscall.is_some_and(|s| !s.is_epoll()) {
            self.scan
                .count(u64::from(w.nfds), outcome == Outcome::Ready, ready);
        }
    }
}

/// What poll-family calls (which scan every fd passed) cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ScanStats {
    /// Poll-family calls, unfinished ones included.
    pub(crate) calls: u64,
    /// Sum of `nfds` over those calls.
    pub(crate) scanned: u64,
    /// Ready returns among them.
    pub(crate) wakeups: u64,
    /// Sum of `nfds` over ready returns.
    pub(crate) scanned_on_wakeup: u64,
    /// Sum of ready fds over ready returns.
    pub(crate) ready_fds: u64,
}

impl ScanStats {
    fn count(&mut self, nfds: u64, woke: bool, ready_fds: u64) {
        self.calls += 1;
        self.scanned += nfds;
        if woke {
            self.wakeups += 1;
            self.scanned_on_wakeup += nfds;
            self.ready_fds += ready_fds;
        }
    }
}
