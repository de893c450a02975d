//! What one thread's waits add up to.
use uprof_common::WaitSyscall;

use crate::stats::{CountHistogram, DurationStats};
use crate::stream::{Outcome, Timeout, Wait};

/// One thread incarnation's totals.
pub(crate) struct ThreadTotals {
    pub(crate) tid: u32,
    /// Known from the thread's own events (a fork child has none until it does something).
    pub(crate) pid: Option<u32>,
    pub(crate) comm: Option<String>,
    pub(crate) ctl_calls: u64,
    pub(crate) waits: WaitStats,
    pub(crate) wake: WakeStats,
}

impl ThreadTotals {
    pub(crate) fn new(tid: u32) -> Self {
        Self {
            tid,
            pid: None,
            comm: None,
            ctl_calls: 0,
            waits: WaitStats::default(),
            wake: WakeStats::default(),
        }
    }

    /// Threads that waited or changed an interest list are reported.
    pub(crate) fn listed(&self) -> bool {
        self.waits.calls > 0 || self.ctl_calls > 0
    }

    pub(crate) fn wait(&mut self, w: &Wait) {
        self.waits.count(w);
        self.wake.wait_ended(w);
    }
}

/// Counters of one thread's wait calls.
#[derive(Default)]
pub(crate) struct WaitStats {
    pub(crate) calls: u64,
    /// Calls per syscall.
    pub(crate) by_syscall: [u64; WaitSyscall::ALL.len()],
    /// Calls that returned events or ready fds.
    pub(crate) ready: u64,
    /// Calls with a non-zero timeout that expired.
    pub(crate) timeouts: u64,
    /// Calls with a zero timeout that found nothing ready.
    pub(crate) polls: u64,
    pub(crate) interrupted: u64,
    pub(crate) errors: u64,
    pub(crate) unfinished: u64,
    /// Events or ready fds returned, over ready returns.
    pub(crate) events: u64,
    pub(crate) per_wakeup: CountHistogram,
    /// Time inside finished waits.
    pub(crate) blocked: DurationStats,
    /// Time between a finished wait's return and the next wait's entry.
    pub(crate) busy: DurationStats,
    pub(crate) scan: ScanStats,
}

impl WaitStats {
    fn count(&mut self, w: &Wait) {
        self.calls += 1;
        if let Some(i) = WaitSyscall::ALL.iter().position(|&s| s == w.syscall) {
            self.by_syscall[i] += 1;
        }
        let ready = match w.outcome {
            Outcome::Ready { count } => count,
            _ => 0,
        };
        match w.outcome {
            Outcome::Abandoned | Outcome::Unfinished => self.unfinished += 1,
            Outcome::Ready { count } => {
                self.ready += 1;
                self.events = self.events.saturating_add(count);
                self.per_wakeup.record(count);
            }
            Outcome::Timeout if w.timeout == Timeout::Zero => self.polls += 1,
            Outcome::Timeout => self.timeouts += 1,
            Outcome::Interrupted => self.interrupted += 1,
            Outcome::Error { .. } => self.errors += 1,
        }
        if !w.syscall.is_epoll() {
            let woke = matches!(w.outcome, Outcome::Ready { .. });
            self.scan.count(u64::from(w.nfds), woke, ready);
        }
        if let Some(blocked) = w.blocked_ns() {
            self.blocked.record(blocked);
        }
        if let Some(busy) = w.busy_before_ns {
            self.busy.record(busy);
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
        self.scanned = self.scanned.saturating_add(nfds);
        if woke {
            self.wakeups += 1;
            self.scanned_on_wakeup = self.scanned_on_wakeup.saturating_add(nfds);
            self.ready_fds = self.ready_fds.saturating_add(ready_fds);
        }
    }
}

/// Why the waits that slept ended, and how the thread got going again.
#[derive(Default)]
pub(crate) struct WakeStats {
    /// Finished waits during which the thread was woken.
    pub(crate) slept: u64,
    /// Finished waits never woken: something was ready at entry, or the timeout was zero.
    pub(crate) without_sleeping: u64,
    /// Slept waits by how they ended.
    pub(crate) readiness: u64,
    pub(crate) timeout: u64,
    pub(crate) signal: u64,
    pub(crate) other: u64,
    /// Readiness wake-ups whose fd is known (the readiness was observed).
    pub(crate) attributed: u64,
    /// Wake-ups that did not end the wait: the thread slept again (another waiter took the
    /// event first), or the recording ended first.
    pub(crate) spurious: u64,
    /// Wake-ups by a readiness that woke other waiters too.
    pub(crate) herd: u64,
    /// From the last wake-up to running again, per slept wait.
    pub(crate) wake_to_run: DurationStats,
    /// The current wait's wake-ups, and whether the last one was attributed to a readiness.
    wakings: u64,
    last_attributed: bool,
}

impl WakeStats {
    /// The thread was woken during its current wait.
    pub(crate) fn woken(&mut self, attributed: bool) {
        self.wakings += 1;
        self.last_attributed = attributed;
    }

    /// The current wait ended.
    fn wait_ended(&mut self, w: &Wait) {
        let wakings = std::mem::take(&mut self.wakings);
        if !w.outcome.finished() {
            self.spurious += wakings;
            return;
        }
        if wakings == 0 {
            self.without_sleeping += 1;
            return;
        }
        self.slept += 1;
        self.spurious += wakings - 1;
        match w.outcome {
            Outcome::Ready { .. } => {
                self.readiness += 1;
                self.attributed += u64::from(self.last_attributed);
            }
            Outcome::Timeout => self.timeout += 1,
            Outcome::Interrupted => self.signal += 1,
            Outcome::Error { .. } | Outcome::Abandoned | Outcome::Unfinished => self.other += 1,
        }
        if let Some(delay) = w.run_delay_ns {
            self.wake_to_run.record(delay);
        }
    }
}
