//! What is known of one epoll instance: its interest list (to map returned `data` back to fds)
//! and what it delivered and was asked, per fd.
use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::stats::DurationStats;
use crate::wakeup::ReadyMark;
use uprof_common::{
    EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD, EPOLLERR, EPOLLEXCLUSIVE, EPOLLHUP, EPOLLIN,
    EPOLLONESHOT, EPOLLOUT, EPOLLRDHUP,
};

/// Which fd a per-fd entry describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum FdKey {
    /// An fd number and its generation in its process (a reused number is a new generation).
    Fd { fd: i32, generation: u32 },
    /// Events whose `data` matched no known interest entry.
    Unmapped { data: u64 },
}

/// The interest list as far as it was observed: fd -> registration, and data -> fd.
///
/// When several fds are registered with the same `data`, returned events map to the one
/// registered last.
#[derive(Clone, Default)]
pub(crate) struct Interest {
    by_fd: FxHashMap<i32, Registration>,
    by_data: FxHashMap<u64, Target>,
}

/// One interest entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Registration {
    pub(crate) generation: u32,
    pub(crate) data: u64,
    /// The `events` registered (flags included).
    pub(crate) events: u32,
    /// False once an `EPOLLONESHOT` entry delivered, until the next `EPOLL_CTL_MOD`.
    pub(crate) armed: bool,
}

impl Registration {
    pub(crate) fn new(generation: u32, data: u64, events: u32) -> Self {
        Self {
            generation,
            data,
            events,
            armed: true,
        }
    }
}

/// The fd that registered a `data` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    fd: i32,
    generation: u32,
    /// Index of the fd's entry in [`FdTable`], once it has one.
    slot: Option<usize>,
}

impl Interest {
    /// Registers (or re-registers) `fd`.
    fn insert(&mut self, fd: i32, registration: Registration, slot: Option<usize>) {
        self.remove(fd);
        self.by_fd.insert(fd, registration);
        self.by_data.insert(
            registration.data,
            Target {
                fd,
                generation: registration.generation,
                slot,
            },
        );
    }

    fn remove(&mut self, fd: i32) {
        if let Some(r) = self.by_fd.remove(&fd)
            && self
                .by_data
                .get(&r.data)
                .is_some_and(|t| (t.fd, t.generation) == (fd, r.generation))
        {
            self.by_data.remove(&r.data);
        }
    }

    /// Registered fds, in no particular order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (i32, Registration)> + '_ {
        self.by_fd.iter().map(|(&fd, &r)| (fd, r))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.by_fd.is_empty()
    }
}

/// Per-fd entries in order of creation, with an index by key.
#[derive(Default)]
pub(crate) struct FdTable {
    entries: Vec<(FdKey, FdStats)>,
    index: FxHashMap<FdKey, usize>,
}

impl FdTable {
    /// The slot of `key`'s entry, created empty if needed.
    fn slot(&mut self, key: FdKey) -> usize {
        *self.index.entry(key).or_insert_with(|| {
            self.entries.push((key, FdStats::default()));
            self.entries.len() - 1
        })
    }

    pub(crate) fn into_entries(self) -> impl Iterator<Item = (FdKey, FdStats)> {
        self.entries.into_iter()
    }
}

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
    pub(crate) fn count(&mut self, op: i32, ret: i32) {
        match op {
            EPOLL_CTL_ADD => self.add += 1,
            EPOLL_CTL_MOD => self.modify += 1,
            EPOLL_CTL_DEL => self.del += 1,
            // An unknown operation (EINVAL) is only an error.
            _ => {}
        }
        if ret < 0 {
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
    fn count(&mut self, events: u32) {
        let bit = |mask: u32| u64::from(events & mask != 0);
        self.input += bit(EPOLLIN);
        self.out += bit(EPOLLOUT);
        self.err += bit(EPOLLERR);
        self.hup += bit(EPOLLHUP);
        self.rdhup += bit(EPOLLRDHUP);
    }
}

/// One fd as seen through one epoll instance.
#[derive(Default)]
pub(crate) struct FdStats {
    pub(crate) delivered: u64,
    pub(crate) masks: MaskCounts,
    pub(crate) ctl: CtlCounts,
    /// Failed `epoll_ctl` calls by errno.
    pub(crate) ctl_errors: BTreeMap<i32, u64>,
    pub(crate) ready: ReadyStats,
}

/// Ready-list callbacks of one fd (callback tier) and how long they waited to be delivered.
#[derive(Default)]
pub(crate) struct ReadyStats {
    /// `ep_poll_callback` calls that queued (or found already queued) the fd.
    pub(crate) callbacks: u64,
    /// Time of the first callback not delivered yet.
    pending_since: Option<u64>,
    /// Callbacks that found an earlier readiness not delivered yet.
    pub(crate) coalesced: u64,
    /// Readiness dropped because the fd left the interest list before a wait picked it up.
    pub(crate) undelivered: u64,
    /// Blocked waiters this fd's readiness woke.
    pub(crate) woke: u64,
    /// From the first undelivered callback to the return of the wait that delivered the fd;
    /// created at the first sample (most fds of a large server never get one).
    pub(crate) latency: Option<DurationStats>,
}

impl ReadyStats {
    fn callback(&mut self, ts: u64) {
        self.callbacks += 1;
        if self.pending_since.is_some() {
            self.coalesced += 1;
        } else {
            self.pending_since = Some(ts);
        }
    }

    /// A wait returning at `ts` delivered the fd. A delivery without a pending callback (a
    /// level-triggered fd still ready, requeued by the kernel itself) has no latency.
    fn delivered(&mut self, ts: u64) {
        if let Some(since) = self.pending_since.take() {
            self.latency
                .get_or_insert_with(DurationStats::new)
                .record(ts.saturating_sub(since));
        }
    }

    fn dropped(&mut self) {
        if self.pending_since.take().is_some() {
            self.undelivered += 1;
        }
    }

    /// Whether a callback is still waiting for delivery (at the end of the recording).
    pub(crate) fn pending(&self) -> bool {
        self.pending_since.is_some()
    }
}

/// One epoll instance: `(pid, epfd, generation)`.
pub(crate) struct EpollInstance {
    pub(crate) pid: u32,
    pub(crate) epfd: i32,
    pub(crate) generation: u32,
    /// Whether the report lists it: it was created, asked or waited on, or snapshotted from
    /// /proc. An instance only inherited by a child process that never used it is left out.
    pub(crate) listed: bool,
    pub(crate) ctl: CtlCounts,
    pub(crate) waits: u64,
    pub(crate) delivered: u64,
    pub(crate) interest: Interest,
    pub(crate) fds: FdTable,
    /// The latest readiness reports, to attribute wake-ups of this instance's waiters.
    recent: [Option<ReadyMark>; RECENT_READY],
    /// Where the next readiness goes in `recent`.
    next_recent: usize,
}

/// Readiness reports an instance keeps for wake-up attribution: the one that woke a waiter is
/// among the last few (it came microseconds before the wake-up), unless that many other tasks
/// reported readiness on the same instance in between.
const RECENT_READY: usize = 8;

impl EpollInstance {
    pub(crate) fn new(pid: u32, epfd: i32, generation: u32) -> Self {
        Self {
            pid,
            epfd,
            generation,
            listed: false,
            ctl: CtlCounts::default(),
            waits: 0,
            delivered: 0,
            interest: Interest::default(),
            fds: FdTable::default(),
            recent: [None; RECENT_READY],
            next_recent: 0,
        }
    }

    /// Counts an `epoll_ctl` on generation `generation` of `fd` and applies it if it succeeded.
    pub(crate) fn ctl(
        &mut self,
        op: i32,
        fd: i32,
        generation: u32,
        data: u64,
        events: u32,
        ret: i32,
    ) {
        self.listed = true;
        self.ctl.count(op, ret);
        let slot = self.fds.slot(FdKey::Fd { fd, generation });
        let stats = &mut self.fds.entries[slot].1;
        stats.ctl.count(op, ret);
        if ret < 0 {
            *stats.ctl_errors.entry(-ret).or_default() += 1;
            return;
        }
        match op {
            EPOLL_CTL_ADD | EPOLL_CTL_MOD => {
                let registration = Registration::new(generation, data, events);
                self.interest.insert(fd, registration, Some(slot));
            }
            EPOLL_CTL_DEL => self.forget(fd),
            _ => {}
        }
    }

    /// Records an interest entry that existed before tracing began.
    pub(crate) fn snapshot_interest(&mut self, fd: i32, registration: Registration) {
        self.listed = true;
        let slot = self.fds.slot(FdKey::Fd {
            fd,
            generation: registration.generation,
        });
        self.interest.insert(fd, registration, Some(slot));
    }

    /// Records an interest entry copied from the parent at a fork. It gets an fd entry only if
    /// it delivers events.
    pub(crate) fn inherit_interest(&mut self, fd: i32, registration: Registration) {
        self.interest.insert(fd, registration, None);
    }

    /// The registration of `fd` if it is armed for one of the events in `mask`.
    pub(crate) fn listens(&self, fd: i32, mask: u32) -> Option<Registration> {
        let r = self.interest.by_fd.get(&fd)?;
        (r.armed && r.events & mask != 0).then_some(*r)
    }

    /// Drops the registration of `fd`, if it has one (the fd was closed, replaced or removed):
    /// readiness not delivered yet never will be.
    pub(crate) fn forget(&mut self, fd: i32) {
        if let Some(&Registration { generation, .. }) = self.interest.by_fd.get(&fd)
            && let Some(&slot) = self.fds.index.get(&FdKey::Fd { fd, generation })
        {
            self.fds.entries[slot].1.ready.dropped();
        }
        self.interest.remove(fd);
    }

    /// Generation `generation` of `fd` became ready at `ts`, reported in task `waker_tid`, as
    /// part of readiness event `origin`.
    pub(crate) fn ready(&mut self, fd: i32, generation: u32, ts: u64, waker_tid: u32, origin: u64) {
        let slot = self.fds.slot(FdKey::Fd { fd, generation });
        self.fds.entries[slot].1.ready.callback(ts);
        self.recent[self.next_recent] = Some(ReadyMark {
            ts,
            waker_tid,
            origin,
            slot,
        });
        self.next_recent = (self.next_recent + 1) % RECENT_READY;
    }

    /// The readiness that made task `waker_tid` wake a waiter at `ts` whose wait began at
    /// `enter_ts`, if it was reported; its fd is credited with the wake-up. A readiness wakes
    /// at most one waiter of an instance (they wait exclusively), so it is used up.
    pub(crate) fn wake_cause(
        &mut self,
        waker_tid: u32,
        enter_ts: u64,
        ts: u64,
    ) -> Option<ReadyMark> {
        let causes = |m: &ReadyMark| m.waker_tid == waker_tid && (enter_ts..=ts).contains(&m.ts);
        let found = self
            .recent
            .iter_mut()
            .filter(|m| m.is_some_and(|m| causes(&m)))
            .max_by_key(|m| m.map(|m| m.ts))?;
        let mark = found.take()?;
        self.fds.entries[mark.slot].1.ready.woke += 1;
        Some(mark)
    }

    /// Whether the fd of entry `slot` is registered with `EPOLLEXCLUSIVE`.
    pub(crate) fn is_exclusive(&self, slot: usize) -> bool {
        let FdKey::Fd { fd, generation } = self.fds.entries[slot].0 else {
            return false;
        };
        self.interest
            .by_fd
            .get(&fd)
            .is_some_and(|r| r.generation == generation && r.events & EPOLLEXCLUSIVE != 0)
    }

    /// Counts one `(events, data)` pair returned by a wait that returned at `ts`.
    pub(crate) fn deliver(&mut self, events: u32, data: u64, ts: u64) {
        self.delivered += 1;
        let slot = match self.interest.by_data.get_mut(&data) {
            Some(Target {
                slot: Some(slot), ..
            }) => *slot,
            Some(target) => {
                let slot = self.fds.slot(FdKey::Fd {
                    fd: target.fd,
                    generation: target.generation,
                });
                target.slot = Some(slot);
                slot
            }
            None => self.fds.slot(FdKey::Unmapped { data }),
        };
        let stats = &mut self.fds.entries[slot].1;
        stats.delivered += 1;
        stats.masks.count(events);
        stats.ready.delivered(ts);
        if let Some(Target { fd, .. }) = self.interest.by_data.get(&data)
            && let Some(r) = self.interest.by_fd.get_mut(fd)
            && r.events & EPOLLONESHOT != 0
        {
            r.armed = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(fd, delivered)` of every fd entry.
    fn delivered(e: &mut EpollInstance) -> Vec<(FdKey, u64)> {
        e.fds
            .entries
            .iter()
            .map(|(key, stats)| (*key, stats.delivered))
            .collect()
    }

    #[test]
    fn events_map_to_the_latest_registration_of_their_data() {
        let fd = |fd, generation| FdKey::Fd { fd, generation };
        let mut e = EpollInstance::new(1, 3, 0);
        e.ctl(EPOLL_CTL_ADD, 5, 0, 50, EPOLLIN, 0);
        e.ctl(EPOLL_CTL_ADD, 6, 0, 60, EPOLLIN, 0);
        e.deliver(EPOLLIN, 50, 0);
        // MOD with new data: the old data no longer maps.
        e.ctl(EPOLL_CTL_MOD, 5, 0, 55, EPOLLIN, 0);
        e.deliver(EPOLLIN, 50, 0);
        e.deliver(EPOLLIN, 55, 0);
        // A second fd with fd 6's data takes it over; removing fd 6 leaves it mapped.
        e.inherit_interest(7, Registration::new(2, 60, EPOLLIN));
        e.forget(6);
        e.deliver(EPOLLIN, 60, 0);
        e.forget(7);
        e.deliver(EPOLLIN, 60, 0);
        let unmapped = |data| FdKey::Unmapped { data };
        assert_eq!(
            delivered(&mut e),
            vec![
                (fd(5, 0), 2),
                (fd(6, 0), 0),
                (unmapped(50), 1),
                (fd(7, 2), 1),
                (unmapped(60), 1)
            ]
        );
    }

    /// `(callbacks, coalesced, undelivered, pending, latency samples)` of `fd`'s entry.
    fn readiness(e: &EpollInstance, fd: i32) -> (u64, u64, u64, bool, Vec<u64>) {
        let slot = e.fds.index[&FdKey::Fd { fd, generation: 0 }];
        let r = &e.fds.entries[slot].1.ready;
        let latency = r.latency.as_ref().map(|l| l.summary());
        let samples = latency.map_or(vec![], |l| vec![l.count, l.total, l.max]);
        (
            r.callbacks,
            r.coalesced,
            r.undelivered,
            r.pending(),
            samples,
        )
    }

    #[test]
    fn ready_to_delivered_runs_from_the_first_pending_callback() {
        let mut e = EpollInstance::new(1, 3, 0);
        e.ctl(EPOLL_CTL_ADD, 5, 0, 50, EPOLLIN, 0);
        e.ctl(EPOLL_CTL_ADD, 6, 0, 60, EPOLLIN, 0);
        // Two callbacks before pickup: one coalesced, latency from the first.
        e.ready(5, 0, 1_000, 9, 0);
        e.ready(5, 0, 1_500, 9, 0);
        e.deliver(EPOLLIN, 50, 4_000);
        // A level-triggered redelivery without a callback adds no sample.
        e.deliver(EPOLLIN, 50, 5_000);
        e.ready(5, 0, 6_000, 9, 0);
        e.deliver(EPOLLIN, 50, 6_250);
        // fd 6 becomes ready, then leaves the interest list before any wait.
        e.ready(6, 0, 7_000, 9, 0);
        e.ctl(EPOLL_CTL_DEL, 6, 0, 0, EPOLLIN, 0);
        e.ctl(EPOLL_CTL_ADD, 6, 0, 60, EPOLLIN, 0);
        e.ready(6, 0, 8_000, 9, 0);
        assert_eq!(
            readiness(&e, 5),
            (3, 1, 0, false, vec![2, 3_000 + 250, 3_000])
        );
        assert_eq!(readiness(&e, 6), (2, 0, 1, true, vec![]));
        // Wake-ups are attributed to the latest readiness the waker reported during the wait.
        assert_eq!(e.wake_cause(9, 8_001, 8_100), None);
        assert_eq!(e.wake_cause(9, 7_500, 8_100).map(|m| m.ts), Some(8_000));
        // Used up: a readiness wakes one waiter of an instance.
        assert_eq!(e.wake_cause(9, 7_500, 8_100), None);
        assert_eq!(e.wake_cause(10, 0, 8_100), None);
        assert_eq!(readiness_woke(&e, 6), 1);
    }

    fn readiness_woke(e: &EpollInstance, fd: i32) -> u64 {
        e.fds.entries[e.fds.index[&FdKey::Fd { fd, generation: 0 }]]
            .1
            .ready
            .woke
    }

    #[test]
    fn oneshot_entries_stop_listening_after_a_delivery_until_modified() {
        let mut e = EpollInstance::new(1, 3, 0);
        e.ctl(EPOLL_CTL_ADD, 5, 0, 50, EPOLLIN | EPOLLONESHOT, 0);
        e.ctl(EPOLL_CTL_ADD, 6, 0, 60, EPOLLOUT, 0);
        assert!(e.listens(5, EPOLLIN).is_some());
        assert!(e.listens(6, EPOLLIN).is_none());
        e.deliver(EPOLLIN, 50, 10);
        assert!(e.listens(5, EPOLLIN).is_none());
        e.ctl(EPOLL_CTL_MOD, 5, 0, 50, EPOLLIN | EPOLLONESHOT, 0);
        assert!(e.listens(5, EPOLLIN).is_some());
    }

    #[test]
    fn masks_count_each_bit() {
        let mut m = MaskCounts::default();
        m.count(EPOLLIN | EPOLLRDHUP | EPOLLHUP);
        m.count(EPOLLOUT);
        m.count(EPOLLERR | EPOLLIN);
        assert_eq!(
            m,
            MaskCounts {
                input: 2,
                out: 1,
                err: 1,
                hup: 1,
                rdhup: 1
            }
        );
    }
}
