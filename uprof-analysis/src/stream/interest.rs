//! What reconstruction keeps of one epoll instance: its interest list as far as it was observed
//! (to map returned `data` back to fds), the fd entries it has handed out ids for, the readiness
//! of each entry not delivered yet, and the latest readiness reports (to attribute wake-ups).
use rustc_hash::FxHashMap;
use uprof_common::{EPOLLEXCLUSIVE, EPOLLONESHOT};

use super::event::{EntryId, EntryKey, EntryRef, EpollId, EpollRef, OriginId};

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

/// The interest list: fd -> registration, and data -> the fd that registered it last (when
/// several fds are registered with the same `data`, returned events map to that one).
#[derive(Clone, Default)]
struct Interest {
    by_fd: FxHashMap<i32, Registration>,
    by_data: FxHashMap<u64, Target>,
}

/// The fd that registered a `data` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Target {
    fd: i32,
    generation: u32,
    oneshot: bool,
    /// The fd's slot in [`Entries`], once it has one: a returned event then costs one lookup.
    slot: Option<u32>,
}

impl Interest {
    fn insert(&mut self, fd: i32, registration: Registration) {
        self.remove(fd);
        self.by_fd.insert(fd, registration);
        let target = Target {
            fd,
            generation: registration.generation,
            oneshot: registration.events & EPOLLONESHOT != 0,
            slot: None,
        };
        self.by_data.insert(registration.data, target);
    }

    fn remove(&mut self, fd: i32) -> Option<Registration> {
        let r = self.by_fd.remove(&fd)?;
        if self
            .by_data
            .get(&r.data)
            .is_some_and(|t| (t.fd, t.generation) == (fd, r.generation))
        {
            self.by_data.remove(&r.data);
        }
        Some(r)
    }
}

/// A readiness report kept to attribute wake-ups to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ReadyMark {
    pub(crate) ts: u64,
    /// The task the readiness was reported in: the waker of whatever it wakes.
    pub(crate) waker_tid: u32,
    pub(crate) origin: OriginId,
    pub(crate) entry: EntryRef,
}

/// Readiness reports an instance keeps for wake-up attribution: the one that woke a waiter is
/// among the last few (it came microseconds before the wake-up), unless that many other tasks
/// reported readiness on the same instance in between.
const RECENT_READY: usize = 8;

/// Hands out entry ids: one counter for every instance, so ids are dense across instances.
#[derive(Default)]
pub(crate) struct EntryIds {
    next: u32,
}

/// An entry's reconstruction state.
#[derive(Clone, Copy)]
struct EntryState {
    id: EntryId,
    key: EntryKey,
    /// Time of the first readiness not delivered yet.
    pending_since: Option<u64>,
}

/// The entries of fd generations still open, and of unmapped data values, in slots that are
/// reused once a generation ends, so an instance's memory follows its open fds.
#[derive(Default)]
struct Entries {
    slots: Vec<EntryState>,
    index: FxHashMap<EntryKey, u32>,
    free: Vec<u32>,
}

impl Entries {
    /// The slot of `key`, created if new.
    fn slot(&mut self, key: EntryKey, ids: &mut EntryIds) -> u32 {
        if let Some(&slot) = self.index.get(&key) {
            return slot;
        }
        let state = EntryState {
            id: EntryId(ids.next),
            key,
            pending_since: None,
        };
        ids.next += 1;
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = state;
                slot
            }
            None => {
                self.slots.push(state);
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(key, slot);
        slot
    }

    fn retire(&mut self, key: EntryKey) {
        if let Some(slot) = self.index.remove(&key) {
            self.free.push(slot);
        }
    }
}

/// One epoll instance `(pid, epfd, generation)`.
pub(crate) struct Instance {
    pub(crate) at: EpollRef,
    interest: Interest,
    entries: Entries,
    recent: [Option<ReadyMark>; RECENT_READY],
    /// Where the next readiness goes in `recent`.
    next_recent: usize,
}

/// What a returned `(events, data)` pair was, once mapped.
pub(crate) struct Mapped {
    pub(crate) entry: EntryRef,
    pub(crate) ready_ts: Option<u64>,
}

impl Instance {
    pub(crate) fn new(id: EpollId, pid: u32, epfd: i32, generation: u32) -> Self {
        Self {
            at: EpollRef {
                id,
                pid,
                epfd,
                generation,
            },
            interest: Interest::default(),
            entries: Entries::default(),
            recent: [None; RECENT_READY],
            next_recent: 0,
        }
    }

    /// The entry of `key`, created if new.
    pub(crate) fn entry(&mut self, key: EntryKey, ids: &mut EntryIds) -> EntryRef {
        let slot = self.entries.slot(key, ids);
        self.entry_at(slot)
    }

    fn entry_at(&self, slot: u32) -> EntryRef {
        let state = &self.entries.slots[slot as usize];
        EntryRef {
            id: state.id,
            epoll: self.at.id,
            key: state.key,
        }
    }

    /// A successful `ADD` or `MOD`, or an entry snapshotted from /proc or inherited at fork.
    pub(crate) fn register(&mut self, fd: i32, registration: Registration) {
        self.interest.insert(fd, registration);
    }

    /// The registration of `fd` if it is armed for one of the events in `mask`.
    pub(crate) fn listens(&self, fd: i32, mask: u32) -> Option<Registration> {
        let r = self.interest.by_fd.get(&fd)?;
        (r.armed && r.events & mask != 0).then_some(*r)
    }

    /// Registered fds, in no particular order.
    pub(crate) fn registrations(&self) -> impl Iterator<Item = (i32, Registration)> + '_ {
        self.interest.by_fd.iter().map(|(&fd, &r)| (fd, r))
    }

    pub(crate) fn has_interest(&self) -> bool {
        !self.interest.by_fd.is_empty()
    }

    /// `fd` leaves the interest list (removed, closed or replaced): readiness not delivered yet
    /// never will be. Returns that readiness's entry and first report time.
    pub(crate) fn forget(&mut self, fd: i32) -> Option<(EntryRef, u64)> {
        let r = self.interest.remove(fd)?;
        let key = EntryKey::Fd {
            fd,
            generation: r.generation,
        };
        let slot = *self.entries.index.get(&key)?;
        let since = self.entries.slots[slot as usize].pending_since.take()?;
        Some((self.entry_at(slot), since))
    }

    /// Generation `generation` of `fd` ended: its entry will never be referred to again.
    pub(crate) fn retire(&mut self, fd: i32, generation: u32) {
        self.entries.retire(EntryKey::Fd { fd, generation });
    }

    /// Generation `generation` of `fd` became ready at `ts`, reported in task `waker_tid`, as
    /// part of readiness event `origin`. Returns the entry and whether an earlier readiness
    /// was still pending (coalesced).
    pub(crate) fn ready(
        &mut self,
        fd: i32,
        generation: u32,
        ts: u64,
        waker_tid: u32,
        origin: OriginId,
        ids: &mut EntryIds,
    ) -> (EntryRef, bool) {
        let slot = self.entries.slot(EntryKey::Fd { fd, generation }, ids);
        let state = &mut self.entries.slots[slot as usize];
        let coalesced = state.pending_since.is_some();
        state.pending_since.get_or_insert(ts);
        let entry = self.entry_at(slot);
        self.recent[self.next_recent] = Some(ReadyMark {
            ts,
            waker_tid,
            origin,
            entry,
        });
        self.next_recent = (self.next_recent + 1) % RECENT_READY;
        (entry, coalesced)
    }

    /// The readiness that made task `waker_tid` wake a waiter at `ts` whose wait began at
    /// `enter_ts`, if it was reported. A readiness wakes at most one waiter of an instance
    /// (they wait exclusively), so it is used up.
    pub(crate) fn wake_cause(
        &mut self,
        waker_tid: u32,
        enter_ts: u64,
        ts: u64,
    ) -> Option<ReadyMark> {
        let causes = |m: &ReadyMark| m.waker_tid == waker_tid && (enter_ts..=ts).contains(&m.ts);
        self.recent
            .iter_mut()
            .filter(|m| m.is_some_and(|m| causes(&m)))
            .max_by_key(|m| m.map(|m| m.ts))?
            .take()
    }

    /// Whether `entry` is the current registration of its fd, with `EPOLLEXCLUSIVE`.
    pub(crate) fn is_exclusive(&self, entry: EntryKey) -> bool {
        let EntryKey::Fd { fd, generation } = entry else {
            return false;
        };
        self.interest
            .by_fd
            .get(&fd)
            .is_some_and(|r| r.generation == generation && r.events & EPOLLEXCLUSIVE != 0)
    }

    /// Maps one returned `(events, data)` pair of a wait: to the fd that registered `data`
    /// (or to an unmapped entry), taking up the entry's pending readiness.
    pub(crate) fn deliver(&mut self, data: u64, ids: &mut EntryIds) -> Mapped {
        let (slot, oneshot) = match self.interest.by_data.get_mut(&data) {
            Some(Target {
                slot: Some(slot),
                oneshot,
                ..
            }) => (*slot, *oneshot),
            Some(target) => {
                let key = EntryKey::Fd {
                    fd: target.fd,
                    generation: target.generation,
                };
                let slot = self.entries.slot(key, ids);
                target.slot = Some(slot);
                (slot, target.oneshot)
            }
            None => (self.entries.slot(EntryKey::Unmapped { data }, ids), false),
        };
        // A delivery without a pending readiness (a level-triggered fd still ready, requeued by
        // the kernel itself) has no ready time.
        let ready_ts = self.entries.slots[slot as usize].pending_since.take();
        let entry = self.entry_at(slot);
        if oneshot
            && let EntryKey::Fd { fd, .. } = entry.key
            && let Some(r) = self.interest.by_fd.get_mut(&fd)
        {
            r.armed = false;
        }
        Mapped { entry, ready_ts }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uprof_common::{EPOLLIN, EPOLLOUT};

    fn instance() -> (Instance, EntryIds) {
        (Instance::new(EpollId(0), 1, 3, 0), EntryIds::default())
    }

    fn add(e: &mut Instance, fd: i32, data: u64, events: u32) {
        e.register(fd, Registration::new(0, data, events));
    }

    #[test]
    fn events_map_to_the_latest_registration_of_their_data() {
        let (mut e, mut ids) = instance();
        add(&mut e, 5, 50, EPOLLIN);
        add(&mut e, 6, 60, EPOLLIN);
        let key = |e: &mut Instance, ids: &mut EntryIds, data| e.deliver(data, ids).entry.key;
        let fd = |fd, generation| EntryKey::Fd { fd, generation };
        assert_eq!(key(&mut e, &mut ids, 50), fd(5, 0));
        // MOD with new data: the old data no longer maps.
        add(&mut e, 5, 55, EPOLLIN);
        assert_eq!(key(&mut e, &mut ids, 50), EntryKey::Unmapped { data: 50 });
        assert_eq!(key(&mut e, &mut ids, 55), fd(5, 0));
        // A second fd with fd 6's data takes it over; removing fd 6 leaves it mapped.
        e.register(7, Registration::new(2, 60, EPOLLIN));
        e.forget(6);
        assert_eq!(key(&mut e, &mut ids, 60), fd(7, 2));
        e.forget(7);
        assert_eq!(key(&mut e, &mut ids, 60), EntryKey::Unmapped { data: 60 });
    }

    #[test]
    fn readiness_is_pending_from_its_first_report_until_delivered_or_dropped() {
        let (mut e, mut ids) = instance();
        add(&mut e, 5, 50, EPOLLIN);
        add(&mut e, 6, 60, EPOLLIN);
        let o = OriginId(0);
        assert!(!e.ready(5, 0, 1_000, 9, o, &mut ids).1);
        assert!(e.ready(5, 0, 1_500, 9, o, &mut ids).1, "coalesced");
        assert_eq!(e.deliver(50, &mut ids).ready_ts, Some(1_000));
        // A level-triggered redelivery without a readiness has no ready time.
        assert_eq!(e.deliver(50, &mut ids).ready_ts, None);
        e.ready(6, 0, 7_000, 9, o, &mut ids);
        let (entry, since) = e.forget(6).expect("fd 6's readiness is dropped");
        assert_eq!(
            (entry.key, since),
            (
                EntryKey::Fd {
                    fd: 6,
                    generation: 0
                },
                7_000
            )
        );
        add(&mut e, 6, 60, EPOLLIN);
        e.ready(6, 0, 8_000, 9, o, &mut ids);
        // Wake-ups are attributed to the latest readiness the waker reported during the wait.
        assert_eq!(e.wake_cause(9, 8_001, 8_100), None);
        assert_eq!(e.wake_cause(9, 7_500, 8_100).map(|m| m.ts), Some(8_000));
        // Used up: a readiness wakes one waiter of an instance.
        assert_eq!(e.wake_cause(9, 7_500, 8_100), None);
        assert_eq!(e.wake_cause(10, 0, 8_100), None);
    }

    #[test]
    fn oneshot_entries_stop_listening_after_a_delivery_until_modified() {
        let (mut e, mut ids) = instance();
        add(&mut e, 5, 50, EPOLLIN | EPOLLONESHOT);
        add(&mut e, 6, 60, EPOLLOUT);
        assert!(e.listens(5, EPOLLIN).is_some());
        assert!(e.listens(6, EPOLLIN).is_none());
        e.deliver(50, &mut ids);
        assert!(e.listens(5, EPOLLIN).is_none());
        add(&mut e, 5, 50, EPOLLIN | EPOLLONESHOT);
        assert!(e.listens(5, EPOLLIN).is_some());
    }
}
