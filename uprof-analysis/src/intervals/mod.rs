//! The stream cut into intervals of time: per thread and per interval, what its waits add up
//! to (bcc-style `-i` output, HDR interval logs, live views).
//!
//! [`Windows`] follows the stream and hands each interval's figures over as it closes: a
//! [`Window`] with one [`ThreadWindow`] per thread active in it. Intervals are aligned on the
//! recording's start ([`Timeline`]). Every figure of a wait goes to the interval in which the
//! wait returned (its exit time): the call, its events, its blocked time, the tick before it,
//! the ready→delivered latency of what it delivered. A wake-up goes to the interval it happened
//! in. So each sample is in exactly one interval, and the intervals add up to the
//! [`Report`](crate::Report)'s totals. An event the stream passes on after its interval closed
//! (an interrupted wait is known only at its thread's next record) counts in the interval open
//! when it arrives.
//!
//! A thread is active in an interval when a wait of its returned or it was woken there; only
//! active threads have a [`ThreadWindow`]. A run of intervals with no active thread is handed
//! over as one empty [`Window`].
//!
//! [`IntervalRows`] turns windows into the figures `uprof report --interval` prints.
//! [`Windows::with_fds`] also adds up, per fd entry, what the waits delivered (a live view's
//! busiest fds).
//!
//! Memory: the open interval's samples (exact up to a thousand per thread and metric, then an
//! HDR histogram) and each thread's name; closed intervals are not kept.
mod rows;

pub use rows::{IntervalReport, IntervalRows, IntervalThread, sort_by_activity};

use hdrhistogram::Histogram;
use rustc_hash::FxHashMap;

use crate::stats::{DurationStats, duration_histogram};
use crate::stream::{
    EntryId, EntryRef, EpollRef, Event, Outcome, ThreadChange, ThreadId, ThreadRef, Wait,
};

/// Intervals of `width_ns` from the recording's start, `CLOCK_MONOTONIC` ns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeline {
    pub start_ts: u64,
    pub width_ns: u64,
}

impl Timeline {
    /// Panics if `width_ns` is 0.
    pub fn new(start_ts: u64, width_ns: u64) -> Self {
        assert!(width_ns > 0, "intervals must have a length");
        Self { start_ts, width_ns }
    }

    /// The interval `ts` falls in (an event before the start falls in the first).
    pub fn index(&self, ts: u64) -> u64 {
        ts.saturating_sub(self.start_ts) / self.width_ns
    }

    /// Where interval `index` starts.
    pub fn start_of(&self, index: u64) -> u64 {
        self.start_ts
            .saturating_add(index.saturating_mul(self.width_ns))
    }
}

/// A per-thread duration figure of an interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Time inside each finished wait.
    Blocked,
    /// Each tick: from a wait's return to the thread's next wait.
    Busy,
    /// From an fd's readiness to the return of the wait that delivered it, per delivery
    /// (callback and socket tiers).
    ReadyToDelivered,
}

impl Metric {
    pub const ALL: [Metric; 3] = [Metric::Blocked, Metric::Busy, Metric::ReadyToDelivered];

    /// The metric's name in exports (`blocked`, `busy`, `ready_to_delivered`).
    pub fn name(self) -> &'static str {
        match self {
            Metric::Blocked => "blocked",
            Metric::Busy => "busy",
            Metric::ReadyToDelivered => "ready_to_delivered",
        }
    }
}

/// What one thread did in one interval.
pub struct ThreadWindow {
    pub thread: ThreadRef,
    /// Wait calls that returned (or were cut short by the thread's exit or the recording's end).
    pub calls: u64,
    /// Events (epoll) or ready fds (poll family) returned.
    pub events: u64,
    /// Times the thread was woken while blocked (with wake-up probes).
    pub wakeups: u64,
    /// Of those, wake-ups by a readiness that woke other waiters too (thundering herds): known
    /// late, so only [`IntervalRows`] counts them.
    pub herds: u64,
    blocked: DurationStats,
    busy: DurationStats,
    ready_to_delivered: DurationStats,
}

impl ThreadWindow {
    fn new(thread: ThreadRef) -> Self {
        Self {
            thread,
            calls: 0,
            events: 0,
            wakeups: 0,
            herds: 0,
            blocked: DurationStats::new(),
            busy: DurationStats::new(),
            ready_to_delivered: DurationStats::new(),
        }
    }

    fn stats(&self, metric: Metric) -> &DurationStats {
        match metric {
            Metric::Blocked => &self.blocked,
            Metric::Busy => &self.busy,
            Metric::ReadyToDelivered => &self.ready_to_delivered,
        }
    }

    /// Samples of `metric`.
    pub fn count(&self, metric: Metric) -> u64 {
        self.stats(metric).count()
    }

    /// The distribution of `metric`.
    pub fn summary(&self, metric: Metric) -> crate::DurationSummary {
        self.stats(metric).summary()
    }

    /// The sum of `metric`'s samples, ns (cheaper than its [`ThreadWindow::summary`]).
    pub fn total(&self, metric: Metric) -> u64 {
        self.stats(metric).total()
    }

    /// Adds the samples of `metric` to `hist`, a histogram made by [`empty_histogram`].
    pub fn add_to(&self, metric: Metric, hist: &mut Histogram<u64>) {
        self.stats(metric).add_to(hist);
    }

    fn wait(&mut self, w: &Wait) {
        self.calls += 1;
        if let Outcome::Ready { count } = w.outcome {
            self.events = self.events.saturating_add(count);
        }
        if let Some(blocked) = w.blocked_ns() {
            self.blocked.record(blocked);
        }
        if let Some(busy) = w.busy_before_ns {
            self.busy.record(busy);
        }
        for ready_ts in w.delivered.iter().filter_map(|d| d.ready_ts) {
            self.ready_to_delivered
                .record(w.exit_ts.saturating_sub(ready_ts));
        }
    }
}

/// One metric's samples of many intervals added up (a thread's whole recording, say): the
/// same figures as one interval as long would give.
#[derive(Default)]
pub struct Distribution(DurationStats);

impl Distribution {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `metric`'s samples of `t`.
    pub fn add(&mut self, t: &ThreadWindow, metric: Metric) {
        self.0.merge(t.stats(metric));
    }

    pub fn count(&self) -> u64 {
        self.0.count()
    }

    pub fn summary(&self) -> crate::DurationSummary {
        self.0.summary()
    }

    /// The values at quantiles `qs` (0 to 1), ranked as [`Distribution::summary`]'s
    /// percentiles are (so the value at 0.99 is its p99); 0 when empty.
    pub fn quantiles(&self, qs: &[f64]) -> Vec<u64> {
        self.0.quantiles(qs)
    }
}

/// What the waits delivered to one fd entry in one interval ([`Windows::with_fds`]).
pub struct FdWindow {
    pub entry: EntryRef,
    /// The instance the entry belongs to.
    pub epoll: EpollRef,
    /// Events returned for it.
    pub deliveries: u64,
    ready_to_delivered: DurationStats,
}

impl FdWindow {
    fn new(entry: EntryRef, epoll: EpollRef) -> Self {
        Self {
            entry,
            epoll,
            deliveries: 0,
            ready_to_delivered: DurationStats::new(),
        }
    }

    /// From its readiness to the return of the wait that delivered it, per delivery whose
    /// readiness was observed (callback and socket tiers).
    pub fn ready_to_delivered(&self) -> crate::DurationSummary {
        self.ready_to_delivered.summary()
    }
}

/// An empty histogram at the precision of the analysis, bounded to the durations it tracks
/// (about 9.8 hours; longer ones count as that long), for [`ThreadWindow::add_to`].
pub fn empty_histogram() -> Histogram<u64> {
    duration_histogram()
}

/// A closed interval, or a run of intervals in which no thread was active.
pub struct Window<'a> {
    /// The first interval's index.
    pub index: u64,
    /// `CLOCK_MONOTONIC` ns. The last interval ends with the stream.
    pub start_ts: u64,
    pub end_ts: u64,
    /// Whether some wake-up in it was attributed to a readiness: only then can a thundering
    /// herd have started in it.
    pub attributed_wakeups: bool,
    /// The active threads, in no particular order; empty for a run of idle intervals.
    pub threads: &'a [ThreadWindow],
    /// The fd entries waits delivered to, in no particular order (only with
    /// [`Windows::with_fds`]).
    pub fds: &'a [FdWindow],
    names: &'a [Option<String>],
}

impl Window<'_> {
    /// The thread's name, when known.
    pub fn comm(&self, thread: ThreadId) -> Option<&str> {
        self.names.get(thread.0 as usize)?.as_deref()
    }
}

/// Cuts the stream into the intervals of a [`Timeline`].
pub struct Windows {
    timeline: Timeline,
    /// Index of the open interval.
    open: u64,
    /// Where the open interval ends.
    open_end: u64,
    /// The first of the idle intervals before the open one not handed over yet.
    idle_since: Option<u64>,
    /// Slot in `threads` of each thread active in the open interval, by [`ThreadId`].
    slots: Vec<Option<u32>>,
    threads: Vec<ThreadWindow>,
    attributed_wakeups: bool,
    /// Names, by [`ThreadId`].
    names: Vec<Option<String>>,
    /// Per fd entry figures of the open interval, when asked for: slot in `fds` by entry.
    fd_slots: Option<FxHashMap<EntryId, u32>>,
    fds: Vec<FdWindow>,
    ended: bool,
}

impl Windows {
    pub fn new(timeline: Timeline) -> Self {
        Self {
            timeline,
            open: 0,
            open_end: timeline.start_of(1),
            idle_since: None,
            slots: Vec::new(),
            threads: Vec::new(),
            attributed_wakeups: false,
            names: Vec::new(),
            fd_slots: None,
            fds: Vec::new(),
            ended: false,
        }
    }

    /// Also adds up, per fd entry, what the waits delivered ([`Window::fds`]).
    pub fn with_fds(timeline: Timeline) -> Self {
        Self {
            fd_slots: Some(FxHashMap::default()),
            ..Self::new(timeline)
        }
    }

    pub fn timeline(&self) -> Timeline {
        self.timeline
    }

    /// Takes in one event of the stream; `closed` gets each interval this closes. Herds are
    /// left to the caller (see [`Windows::herd`]): they come late.
    pub fn event(&mut self, event: &Event<'_>, closed: &mut impl FnMut(&Window)) {
        if self.ended || matches!(event, Event::Herd(_)) {
            return;
        }
        self.reach(event.ts(), closed);
        match event {
            Event::Wait(w) => {
                self.thread(w.thread).wait(w);
                if let (Some(slots), Some(epoll)) = (&mut self.fd_slots, w.epoll) {
                    deliveries(slots, &mut self.fds, epoll, w);
                }
            }
            Event::Wake(w) => {
                self.thread(w.thread).wakeups += 1;
                self.attributed_wakeups |= w.cause.is_some();
            }
            Event::Thread(t) => match t.what {
                ThreadChange::Forked { child, comm, .. } => {
                    let name = self.name(child);
                    name.get_or_insert_with(|| comm.to_owned());
                }
                ThreadChange::Named { thread, comm, .. }
                | ThreadChange::Exited { thread, comm } => {
                    *self.name(thread.id) = Some(comm.to_owned());
                }
            },
            Event::End(end) => {
                self.end(end.ts, closed);
                self.ended = true;
            }
            _ => {}
        }
    }

    /// The stream has reached `ts` without an event: closes the intervals that ended before,
    /// idle ones included (a live view shows time passing).
    pub fn advance(&mut self, ts: u64, closed: &mut impl FnMut(&Window)) {
        if !self.ended {
            self.reach(ts, closed);
            self.hand_over_idle(self.timeline.start_of(self.open), closed);
        }
    }

    /// Counts a herd wake-up of `thread` in the open interval, if `ts` falls in it or later;
    /// returns whether it did (otherwise the interval was handed over already).
    pub fn herd(&mut self, ts: u64, thread: ThreadRef) -> bool {
        if self.ended || ts < self.timeline.start_of(self.open) {
            return false;
        }
        self.thread(thread).herds += 1;
        true
    }

    /// The thread's name, when known.
    pub fn comm(&self, thread: ThreadId) -> Option<&str> {
        self.names.get(thread.0 as usize)?.as_deref()
    }

    fn name(&mut self, id: ThreadId) -> &mut Option<String> {
        let i = id.0 as usize;
        if self.names.len() <= i {
            self.names.resize(i + 1, None);
        }
        &mut self.names[i]
    }

    /// The open interval's figures of `thread`, started as needed.
    fn thread(&mut self, thread: ThreadRef) -> &mut ThreadWindow {
        let i = thread.id.0 as usize;
        if self.slots.len() <= i {
            self.slots.resize(i + 1, None);
        }
        let slot = match self.slots[i] {
            Some(slot) => slot as usize,
            None => {
                self.slots[i] = Some(self.threads.len() as u32);
                self.threads.push(ThreadWindow::new(thread));
                self.threads.len() - 1
            }
        };
        &mut self.threads[slot]
    }

    /// Closes every interval that ends at or before `ts`. Idle ones are held, to be handed
    /// over as one run.
    fn reach(&mut self, ts: u64, closed: &mut impl FnMut(&Window)) {
        if ts < self.open_end {
            return;
        }
        let next = self.timeline.index(ts);
        if self.threads.is_empty() {
            self.idle_since.get_or_insert(self.open);
        } else {
            self.hand_over_idle(self.timeline.start_of(self.open), closed);
            self.hand_over_open(self.open_end, closed);
            if next > self.open + 1 {
                self.idle_since = Some(self.open + 1);
            }
        }
        self.open = next;
        self.open_end = self.timeline.start_of(next + 1);
    }

    /// The end of the stream at `end_ts`: hands over what is left.
    fn end(&mut self, end_ts: u64, closed: &mut impl FnMut(&Window)) {
        let open_start = self.timeline.start_of(self.open);
        let end_ts = end_ts.clamp(open_start, self.open_end);
        if self.threads.is_empty() {
            self.idle_since.get_or_insert(self.open);
            self.hand_over_idle(end_ts, closed);
        } else {
            self.hand_over_idle(open_start, closed);
            self.hand_over_open(end_ts, closed);
        }
    }

    /// Hands over the held run of idle intervals, ending at `end_ts`.
    fn hand_over_idle(&mut self, end_ts: u64, closed: &mut impl FnMut(&Window)) {
        let Some(first) = self.idle_since.take() else {
            return;
        };
        let start_ts = self.timeline.start_of(first);
        if end_ts > start_ts {
            closed(&Window {
                index: first,
                start_ts,
                end_ts,
                attributed_wakeups: false,
                threads: &[],
                fds: &[],
                names: &self.names,
            });
        }
    }

    /// Hands over the open interval, which has active threads, ending at `end_ts`.
    fn hand_over_open(&mut self, end_ts: u64, closed: &mut impl FnMut(&Window)) {
        closed(&Window {
            index: self.open,
            start_ts: self.timeline.start_of(self.open),
            end_ts,
            attributed_wakeups: self.attributed_wakeups,
            threads: &self.threads,
            fds: &self.fds,
            names: &self.names,
        });
        for t in self.threads.drain(..) {
            self.slots[t.thread.id.0 as usize] = None;
        }
        self.fds.clear();
        if let Some(slots) = &mut self.fd_slots {
            slots.clear();
        }
        self.attributed_wakeups = false;
    }
}

/// Adds what wait `w` on `epoll` delivered to the figures of its fd entries.
fn deliveries(
    slots: &mut FxHashMap<EntryId, u32>,
    fds: &mut Vec<FdWindow>,
    epoll: EpollRef,
    w: &Wait,
) {
    for d in w.delivered {
        let slot = *slots.entry(d.entry.id).or_insert_with(|| {
            fds.push(FdWindow::new(d.entry, epoll));
            (fds.len() - 1) as u32
        });
        let fd = &mut fds[slot as usize];
        fd.deliveries += 1;
        if let Some(ready_ts) = d.ready_ts {
            fd.ready_to_delivered
                .record(w.exit_ts.saturating_sub(ready_ts));
        }
    }
}
