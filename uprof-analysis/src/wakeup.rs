//! Wake-ups of blocked waiters (socket and callback tiers): why each wait that slept ended,
//! which readiness woke it, whether one readiness woke several waiters (thundering herd), and
//! how long the woken thread waited for a CPU.
//!
//! A wake-up is attributed to a readiness exactly: the kernel wakes a waiter of an epoll
//! instance from inside the callback that queued the ready fd, in the same task, so the cause
//! of a wake-up by task T of a waiter on instance E is the latest readiness of E reported in T
//! at or before the wake-up (and after the wait began).
use rustc_hash::FxHashMap;
use uprof_common::{WAIT_WOKEN, Wait};

use crate::stats::DurationStats;
use crate::thread::Outcome;

/// One readiness of an fd on an epoll instance, kept to attribute wake-ups to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ReadyMark {
    pub(crate) ts: u64,
    /// The task the readiness was reported in: the waker of whatever it wakes.
    pub(crate) waker_tid: u32,
    /// The readiness event it belongs to (see [`Origins`]).
    pub(crate) origin: u64,
    /// The fd's entry in its instance's table.
    pub(crate) slot: usize,
}

/// How long an origin is kept open for wake-ups: they follow their readiness within
/// microseconds, so a second is generous even on an emulated machine.
const ORIGIN_WINDOW_NS: u64 = 1_000_000_000;

/// Longest gap between two callbacks of one wake-up of a file's wait queue: the kernel makes
/// them back to back, under the queue's lock, so microseconds apart even on an emulated machine.
const WALK_GAP_NS: u64 = 1_000_000;

/// Readiness events ("origins"), each of which may reach several epoll instances: one
/// `sk_data_ready` (socket tier), or the callbacks one wake-up of a file's wait queue makes, one
/// per instance watching the file (callback tier: consecutive callbacks of one task for one
/// file, each on an instance not reached yet and within [`WALK_GAP_NS`] of the previous one;
/// the walk also ends where the kernel stops it, at an `EPOLLEXCLUSIVE` entry that woke a
/// waiter). An origin that woke two or more waiters is a thundering herd.
#[derive(Default)]
pub(crate) struct Origins {
    next: u64,
    /// Per waker task: its current callback walk.
    walks: FxHashMap<u32, Walk>,
    /// Origins that woke someone: time and the threads woken.
    woken: FxHashMap<u64, (u64, Vec<u32>)>,
    /// When [`Origins::settle`] next looks at `woken`.
    next_settle: u64,
    /// Origins that woke two or more waiters, and those waiters.
    pub(crate) herds: u64,
    pub(crate) herd_waiters: u64,
}

/// The callbacks one task is making for one file's wake-up.
struct Walk {
    file: u32,
    origin: u64,
    /// Instances reached so far.
    reached: Vec<usize>,
    /// Time of the latest callback.
    last_ts: u64,
}

impl Origins {
    /// A new origin (a `sk_data_ready`).
    pub(crate) fn fresh(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// The origin of a callback at `ts` in task `waker_tid` for the file tagged `file` on
    /// instance `epoll`.
    pub(crate) fn of_callback(&mut self, waker_tid: u32, file: u32, epoll: usize, ts: u64) -> u64 {
        if let Some(walk) = self.walks.get_mut(&waker_tid)
            && walk.file == file
            && !walk.reached.contains(&epoll)
            && ts.saturating_sub(walk.last_ts) <= WALK_GAP_NS
        {
            walk.reached.push(epoll);
            walk.last_ts = ts;
            return walk.origin;
        }
        let origin = self.fresh();
        let walk = Walk {
            file,
            origin,
            reached: vec![epoll],
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

    /// `origin` woke thread `tid` at `ts`.
    pub(crate) fn woke(&mut self, origin: u64, tid: u32, ts: u64) {
        self.woken
            .entry(origin)
            .or_insert((ts, Vec::new()))
            .1
            .push(tid);
    }

    /// Closes the origins older than the window before `now` (all with `now` = `u64::MAX`);
    /// returns the threads woken by the herds among them.
    pub(crate) fn settle(&mut self, now: u64) -> Vec<u32> {
        if now < self.next_settle {
            return Vec::new();
        }
        self.next_settle = now.saturating_add(ORIGIN_WINDOW_NS);
        let mut herd_threads = Vec::new();
        let (mut herds, mut waiters) = (0, 0);
        self.woken.retain(|_, (ts, tids)| {
            if ts.saturating_add(ORIGIN_WINDOW_NS) > now {
                return true;
            }
            if tids.len() >= 2 {
                herds += 1;
                waiters += tids.len() as u64;
                herd_threads.append(tids);
            }
            false
        });
        self.herds += herds;
        self.herd_waiters += waiters;
        herd_threads
    }
}

/// Why a wait that slept ended, and how its thread got going again.
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

    /// The current wait ended as `outcome`.
    pub(crate) fn wait_ended(&mut self, w: &Wait, outcome: Outcome) {
        let wakings = std::mem::take(&mut self.wakings);
        if outcome == Outcome::Unfinished {
            self.spurious += wakings;
            return;
        }
        if wakings == 0 {
            self.without_sleeping += 1;
            return;
        }
        self.slept += 1;
        self.spurious += wakings - 1;
        match outcome {
            Outcome::Ready => {
                self.readiness += 1;
                self.attributed += u64::from(self.last_attributed);
            }
            Outcome::Timeout => self.timeout += 1,
            Outcome::Interrupted => self.signal += 1,
            Outcome::Error | Outcome::Unfinished => self.other += 1,
        }
        if w.flags & WAIT_WOKEN != 0 {
            self.wake_to_run.record(u64::from(w.run_delay_ns));
        }
    }
}
