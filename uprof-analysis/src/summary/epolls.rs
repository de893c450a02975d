//! What each epoll instance and each of its fd entries add up to.
use std::collections::BTreeMap;

use serde::Serialize;
use uprof_common::{EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, EPOLLRDHUP};

use crate::stats::DurationStats;
use crate::stream::{CtlOp, EntryKey, EntryRef, EpollId, EpollRef};

/// `epoll_ctl` calls by operation (failed ones included: churn is what the program asked for),
/// and how many of them failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CtlCounts {
    pub add: u64,
    #[serde(rename = "mod")]
    pub modify: u64,
    pub del: u64,
    /// Failed calls, whatever the operation.
    pub errors: u64,
}

impl CtlCounts {
    pub(crate) fn add(&mut self, other: &CtlCounts) {
        self.add += other.add;
        self.modify += other.modify;
        self.del += other.del;
        self.errors += other.errors;
    }

    pub(crate) fn count(&mut self, op: CtlOp, result: Result<(), i32>) {
        match op {
            CtlOp::Add => self.add += 1,
            CtlOp::Mod => self.modify += 1,
            CtlOp::Del => self.del += 1,
            // An unknown operation (EINVAL) is only an error.
            CtlOp::Other(_) => {}
        }
        if result.is_err() {
            self.errors += 1;
        }
    }
}

/// Delivered events whose mask has each bit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MaskCounts {
    #[serde(rename = "in")]
    pub input: u64,
    pub out: u64,
    pub err: u64,
    pub hup: u64,
    pub rdhup: u64,
}

impl MaskCounts {
    pub(crate) fn add(&mut self, other: &MaskCounts) {
        self.input += other.input;
        self.out += other.out;
        self.err += other.err;
        self.hup += other.hup;
        self.rdhup += other.rdhup;
    }

    pub(crate) fn count(&mut self, events: u32) {
        let bit = |mask: u32| u64::from(events & mask != 0);
        self.input += bit(EPOLLIN);
        self.out += bit(EPOLLOUT);
        self.err += bit(EPOLLERR);
        self.hup += bit(EPOLLHUP);
        self.rdhup += bit(EPOLLRDHUP);
    }
}

/// One epoll instance's totals.
pub(crate) struct EpollTotals {
    pub(crate) at: EpollRef,
    pub(crate) ctl: CtlCounts,
    pub(crate) waits: u64,
    pub(crate) delivered: u64,
}

impl EpollTotals {
    /// Whether the report lists it: it was waited on, asked (`epoll_ctl`), or delivered
    /// events. An instance only created, snapshotted from /proc or inherited by a child
    /// process, and never used while recording, is idle.
    pub(crate) fn used(&self) -> bool {
        self.waits > 0 || self.delivered > 0 || self.ctl != CtlCounts::default()
    }

    pub(crate) fn new(at: EpollRef) -> Self {
        Self {
            at,
            ctl: CtlCounts::default(),
            waits: 0,
            delivered: 0,
        }
    }
}

/// One fd entry's totals.
pub(crate) struct EntryTotals {
    pub(crate) epoll: EpollId,
    pub(crate) key: EntryKey,
    /// The fd's generation ended (closed or replaced) during the recording.
    pub(crate) closed: bool,
    pub(crate) delivered: u64,
    pub(crate) masks: MaskCounts,
    pub(crate) ctl: CtlCounts,
    /// Failed `epoll_ctl` calls by errno.
    pub(crate) ctl_errors: BTreeMap<i32, u64>,
    pub(crate) ready: ReadyStats,
}

impl EntryTotals {
    pub(crate) fn new(entry: EntryRef) -> Self {
        Self {
            epoll: entry.epoll,
            key: entry.key,
            closed: false,
            delivered: 0,
            masks: MaskCounts::default(),
            ctl: CtlCounts::default(),
            ctl_errors: BTreeMap::new(),
            ready: ReadyStats::default(),
        }
    }
}

/// Readiness of one fd entry (callback and socket tiers) and how long it waited to be
/// delivered.
#[derive(Default)]
pub(crate) struct ReadyStats {
    /// Readiness reports (`ep_poll_callback` calls or `sk_data_ready` credits).
    pub(crate) reports: u64,
    /// Reports that found an earlier readiness not delivered yet.
    pub(crate) coalesced: u64,
    /// Readiness dropped because the fd left the interest list before a wait picked it up.
    pub(crate) undelivered: u64,
    /// Blocked waiters this fd's readiness woke.
    pub(crate) woke: u64,
    /// Whether a readiness is waiting for pickup.
    pub(crate) pending: bool,
    /// From the first undelivered readiness to the return of the wait that delivered the fd;
    /// created at the first sample (most fds of a large server never get one).
    pub(crate) latency: Option<DurationStats>,
}

impl ReadyStats {
    /// Adds `other`'s counts and ready→delivered samples (not its `pending`).
    pub(crate) fn add(&mut self, other: &ReadyStats) {
        self.reports += other.reports;
        self.coalesced += other.coalesced;
        self.undelivered += other.undelivered;
        self.woke += other.woke;
        if let Some(latency) = &other.latency {
            self.latency
                .get_or_insert_with(DurationStats::new)
                .merge(latency);
        }
    }

    pub(crate) fn reported(&mut self, coalesced: bool) {
        self.reports += 1;
        self.coalesced += u64::from(coalesced);
        self.pending = true;
    }

    /// A wait returning at `ts` delivered the readiness first reported at `ready_ts`.
    pub(crate) fn delivered(&mut self, ready_ts: u64, ts: u64) {
        self.pending = false;
        self.latency
            .get_or_insert_with(DurationStats::new)
            .record(ts.saturating_sub(ready_ts));
    }

    pub(crate) fn dropped(&mut self) {
        self.pending = false;
        self.undelivered += 1;
    }
}
