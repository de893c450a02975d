//! The state of every per-thread rule, in one record per thread: the engine looks a thread up
//! once per event and each rule updates its own part of the record with a direct call (a
//! table per rule would cost a lookup per rule per wait, which measured as most of the
//! findings' cost).
use super::*;
use crate::stream::{Outcome, Wait};

#[derive(Default)]
pub(super) struct ThreadState {
    /// The thread was seen (its slot is not just a gap below a higher id).
    live: bool,
    pub(super) waits: Waits,
    pub(super) spin: busy_poll::Spin,
    pub(super) expiries: timers::Expiries,
    pub(super) fill: maxevents::Fill,
    pub(super) scans: linear_scan::Scans,
    pub(super) ticks: long_tick::Ticks,
    pub(super) load: saturated::Load,
    pub(super) wakes: spurious::Wakes,
}

/// What several rules read of every wait: counted once. imbalanced-workers and the rate of
/// timer-wakeups need nothing else, so they do no work of their own per wait.
#[derive(Default)]
pub(super) struct Waits {
    pub(super) waits: u64,
    /// Events (epoll) or ready fds (poll family) returned.
    pub(super) delivered: u64,
    /// Entry and return of the first wait, return of the last.
    pub(super) first_enter: u64,
    pub(super) first_exit: u64,
    pub(super) last_exit: u64,
}

impl Waits {
    /// The first and last return, for the `when` of a finding about the whole thread.
    pub(super) fn seen(&self) -> Seen {
        Seen {
            first: (self.waits > 0).then_some(self.first_exit),
            last: self.last_exit,
        }
    }
}

impl ThreadState {
    #[inline]
    pub(super) fn wait(&mut self, w: &Wait<'_>, limits: &Thresholds, width: u64) {
        let totals = &mut self.waits;
        if totals.waits == 0 {
            totals.first_enter = w.enter_ts;
            totals.first_exit = w.exit_ts;
        }
        totals.waits += 1;
        totals.last_exit = w.exit_ts;
        if let Outcome::Ready { count } = w.outcome {
            totals.delivered = totals.delivered.saturating_add(count);
        }
        self.spin.wait(w);
        self.expiries.wait(w, limits);
        self.fill.wait(w);
        self.scans.wait(w);
        self.ticks.wait(w, limits);
        self.load.wait(w, width, limits);
        self.wakes.wait(w);
    }
}

/// [`ThreadState`]s by [`ThreadId`] (dense, so a vector: a slot per id up to the highest
/// seen, only the ids of threads seen here `live`); a thread's first state also tells
/// [`Known`] its process.
#[derive(Default)]
pub(super) struct Threads(Vec<ThreadState>);

impl Threads {
    #[inline]
    pub(super) fn get(&mut self, t: &ThreadRef, known: &mut Known) -> &mut ThreadState {
        let index = t.id.0 as usize;
        if index >= self.0.len() {
            self.grow(index);
        }
        let Some(state) = self.0.get_mut(index) else {
            unreachable!("grown to hold it")
        };
        if !state.live {
            state.live = true;
            known.thread(*t);
        }
        state
    }

    /// Out of line: the per-event path stays short.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, index: usize) {
        self.0.resize_with(index + 1, ThreadState::default);
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (ThreadId, &ThreadState)> {
        self.0
            .iter()
            .enumerate()
            .filter(|(_, t)| t.live)
            .map(|(i, t)| (ThreadId(i as u32), t))
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = (ThreadId, &mut ThreadState)> {
        self.0
            .iter_mut()
            .enumerate()
            .filter(|(_, t)| t.live)
            .map(|(i, t)| (ThreadId(i as u32), t))
    }
}
