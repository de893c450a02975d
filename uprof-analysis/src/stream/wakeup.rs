//! Readiness events ("origins") and the waiters they woke: the key to thundering herds.
//!
//! A wake-up is attributed to a readiness exactly: the kernel wakes a waiter of an epoll
//! instance from inside the callback that queued the ready fd, in the same task, so the cause
//! of a wake-up by task T of a waiter on instance E is the latest readiness of E reported in T
//! at or before the wake-up (and after the wait began); see [`super::interest::Instance`].
use std::collections::hash_map::Entry;

use rustc_hash::{FxHashMap, FxHashSet};

use super::event::{EntryRef, EpollId, Herd, OriginId, ThreadRef};

/// How long an origin is kept open for wake-ups: they follow their readiness within
/// microseconds, so a second is generous even on an emulated machine.
pub const HERD_WINDOW_NS: u64 = 1_000_000_000;

/// How much stream time may pass between a herd's first wake-up and its [`Herd`] event:
/// origins are settled at most once per [`HERD_WINDOW_NS`], each once it is that old.
pub const HERD_LATENESS_NS: u64 = 2 * HERD_WINDOW_NS;

/// Longest gap between two callbacks of one wake-up of a file's wait queue: the kernel makes
/// them back to back, under the queue's lock, so microseconds apart even on an emulated machine.
const WALK_GAP_NS: u64 = 1_000_000;

/// Readiness events, each of which may reach several epoll instances: one `sk_data_ready`
/// (socket tier), or the callbacks one wake-up of a file's wait queue makes, one per instance
/// watching the file (callback tier: consecutive callbacks of one task for one file, each on
/// an instance not reached yet and within [`WALK_GAP_NS`] of the previous one; the walk also
/// ends where the kernel stops it, at an `EPOLLEXCLUSIVE` entry that woke a waiter). An origin
/// that woke two or more waiters is a thundering herd.
#[derive(Default)]
pub(crate) struct Origins {
    next: u64,
    /// Per waker task: its current callback walk.
    walks: FxHashMap<u32, Walk>,
    /// Origins that woke someone, until they settle.
    woken: FxHashMap<OriginId, Woken>,
    /// When [`Origins::settle`] next looks at `woken`.
    next_settle: u64,
}

/// Whom an origin woke: the first waiter is kept without allocating (most origins wake one).
enum Woken {
    One {
        ts: u64,
        thread: ThreadRef,
        entry: EntryRef,
    },
    Several(Herd),
}

impl Woken {
    fn ts(&self) -> u64 {
        match self {
            Woken::One { ts, .. } => *ts,
            Woken::Several(h) => h.ts,
        }
    }
}

/// The callbacks one task is making for one file's wake-up.
struct Walk {
    file: u32,
    origin: OriginId,
    /// Instances reached so far.
    reached: FxHashSet<EpollId>,
    /// Time of the latest callback.
    last_ts: u64,
}

impl Origins {
    /// A new origin (a `sk_data_ready`).
    pub(crate) fn fresh(&mut self) -> OriginId {
        self.next += 1;
        OriginId(self.next)
    }

    /// The origin of a callback at `ts` in task `waker_tid` for the file tagged `file` on
    /// instance `epoll`.
    pub(crate) fn of_callback(
        &mut self,
        waker_tid: u32,
        file: u32,
        epoll: EpollId,
        ts: u64,
    ) -> OriginId {
        if let Some(walk) = self.walks.get_mut(&waker_tid)
            && walk.file == file
            && ts.saturating_sub(walk.last_ts) <= WALK_GAP_NS
            && walk.reached.insert(epoll)
        {
            walk.last_ts = ts;
            return walk.origin;
        }
        let origin = self.fresh();
        let walk = Walk {
            file,
            origin,
            reached: FxHashSet::from_iter([epoll]),
            last_ts: ts,
        };
        self.walks.insert(waker_tid, walk);
        origin
    }

    /// The kernel stopped `waker_tid`'s walk (an exclusive entry woke its waiter): its next
    /// callback starts a new origin.
    pub(crate) fn end_walk(&mut self, waker_tid: u32) {
        self.walks.remove(&waker_tid);
    }

    /// `origin` woke `thread` at `ts` through `entry`'s readiness.
    pub(crate) fn woke(&mut self, origin: OriginId, thread: ThreadRef, entry: EntryRef, ts: u64) {
        match self.woken.entry(origin) {
            Entry::Vacant(vacant) => {
                vacant.insert(Woken::One { ts, thread, entry });
            }
            Entry::Occupied(mut occupied) => match occupied.get_mut() {
                &mut Woken::One {
                    ts: first_ts,
                    thread: first,
                    entry: first_entry,
                } => {
                    occupied.insert(Woken::Several(Herd {
                        ts: first_ts,
                        origin,
                        woken: vec![first, thread],
                        entries: vec![first_entry, entry],
                    }));
                }
                Woken::Several(herd) => {
                    herd.woken.push(thread);
                    herd.entries.push(entry);
                }
            },
        }
    }

    /// Closes the origins older than the window before `now` (all with `now` = `u64::MAX`) and
    /// passes on the herds among them, oldest first.
    pub(crate) fn settle(&mut self, now: u64, mut herd: impl FnMut(&Herd)) {
        if now < self.next_settle {
            return;
        }
        self.next_settle = now.saturating_add(HERD_WINDOW_NS);
        let mut settled: Vec<Herd> = self
            .woken
            .extract_if(|_, w| w.ts().saturating_add(HERD_WINDOW_NS) <= now)
            .filter_map(|(_, w)| match w {
                Woken::Several(h) => Some(h),
                Woken::One { .. } => None,
            })
            .collect();
        settled.sort_by_key(|h| (h.ts, h.origin));
        for h in &settled {
            herd(h);
        }
    }
}
