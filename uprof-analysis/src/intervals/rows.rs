//! Interval figures as `uprof report --interval` prints them: per interval, one row per active
//! thread, most active first, with herds counted once they are known.
use std::collections::VecDeque;

use serde::Serialize;

use super::{Metric, ThreadWindow, Timeline, Window, Windows};
use crate::stream::{Consumer, Event, HERD_LATENESS_NS, ThreadId, ThreadRef};
use crate::{Coverage, DurationSummary};

/// One interval (or a run of idle ones), in the shape of the JSON output's `intervals`
/// (docs/json-schema.md).
#[derive(Clone, Debug, Serialize)]
pub struct IntervalReport {
    /// From the recording's start, ns.
    pub start_ns: u64,
    pub duration_ns: u64,
    /// The active threads, most active first: by busy time, then calls, then `(pid, tid)`.
    /// Empty for a run of idle intervals.
    pub threads: Vec<IntervalThread>,
    /// `CLOCK_MONOTONIC` ns of the start.
    #[serde(skip)]
    pub start_ts: u64,
}

/// What one thread did in one interval.
#[derive(Clone, Debug, Serialize)]
pub struct IntervalThread {
    pub pid: u32,
    pub tid: u32,
    pub comm: Option<String>,
    pub calls: u64,
    pub events: u64,
    pub blocked_ns: DurationSummary,
    pub busy_ns: DurationSummary,
    /// `busy total / (busy total + blocked total)`, 0 when both are 0.
    pub utilization: f64,
    /// Of the fds its waits delivered; `null` in the syscall tier.
    pub ready_to_delivered_ns: Option<DurationSummary>,
    /// Times woken while blocked; `null` without wake-up probes.
    pub wakeups: Option<u64>,
    /// Of those, by a readiness that woke other waiters too; `null` without wake-up probes.
    pub herds: Option<u64>,
    #[serde(skip)]
    id: ThreadId,
}

impl IntervalThread {
    /// The figures of `t`, named `comm`, as far as `coverage` has them.
    pub fn new(t: &ThreadWindow, comm: Option<&str>, coverage: Coverage) -> Self {
        let blocked = t.summary(Metric::Blocked);
        let busy = t.summary(Metric::Busy);
        let all = busy.total.saturating_add(blocked.total);
        Self {
            pid: t.thread.pid,
            tid: t.thread.tid,
            comm: comm.map(str::to_owned),
            calls: t.calls,
            events: t.events,
            blocked_ns: blocked,
            busy_ns: busy,
            utilization: if all == 0 {
                0.0
            } else {
                busy.total as f64 / all as f64
            },
            ready_to_delivered_ns: coverage
                .readiness
                .then(|| t.summary(Metric::ReadyToDelivered)),
            wakeups: coverage.wakeups.then_some(t.wakeups),
            herds: coverage.wakeups.then_some(t.herds),
            id: t.thread.id,
        }
    }

    /// A thread known in the interval only by a herd that woke it (its wake-up came later).
    fn herd_only(thread: ThreadRef, comm: Option<&str>, coverage: Coverage) -> Self {
        Self {
            pid: thread.pid,
            tid: thread.tid,
            comm: comm.map(str::to_owned),
            calls: 0,
            events: 0,
            blocked_ns: DurationSummary::default(),
            busy_ns: DurationSummary::default(),
            utilization: 0.0,
            ready_to_delivered_ns: coverage.readiness.then(DurationSummary::default),
            wakeups: coverage.wakeups.then_some(0),
            herds: coverage.wakeups.then_some(0),
            id: thread.id,
        }
    }
}

/// An interval waiting for the herds that may have started in it.
struct Pending {
    report: IntervalReport,
    end_ts: u64,
    /// Whether a herd may have started in it (some wake-up was attributed to a readiness).
    herds_possible: bool,
}

/// A consumer of the stream giving [`IntervalReport`]s in order as they become final: at once
/// for an interval in which no herd can have started, else once the stream is
/// [`HERD_LATENESS_NS`] past its end. Take them with [`IntervalRows::next_ready`].
pub struct IntervalRows {
    windows: Windows,
    coverage: Coverage,
    pending: VecDeque<Pending>,
    /// How far the stream has got.
    now: u64,
}

impl IntervalRows {
    pub fn new(timeline: Timeline, coverage: Coverage) -> Self {
        Self {
            windows: Windows::new(timeline),
            coverage,
            pending: VecDeque::new(),
            now: 0,
        }
    }

    /// The oldest interval whose figures are final, if any.
    pub fn next_ready(&mut self) -> Option<IntervalReport> {
        let first = self.pending.front()?;
        let settled =
            !first.herds_possible || first.end_ts.saturating_add(HERD_LATENESS_NS) <= self.now;
        if !settled {
            return None;
        }
        let mut done = self.pending.pop_front()?.report;
        sort_by_activity(&mut done.threads);
        Some(done)
    }

    fn close(pending: &mut VecDeque<Pending>, coverage: Coverage, timeline: Timeline, w: &Window) {
        let threads = w
            .threads
            .iter()
            .map(|t| IntervalThread::new(t, w.comm(t.thread.id), coverage))
            .collect();
        pending.push_back(Pending {
            report: IntervalReport {
                start_ns: w.start_ts.saturating_sub(timeline.start_ts),
                duration_ns: w.end_ts.saturating_sub(w.start_ts),
                threads,
                start_ts: w.start_ts,
            },
            end_ts: w.end_ts,
            herds_possible: w.attributed_wakeups,
        });
    }

    /// Counts each waiter of a herd in the interval it started in.
    fn herd(&mut self, ts: u64, woken: &[ThreadRef]) {
        for &thread in woken {
            if self.windows.herd(ts, thread) {
                continue;
            }
            // A handed-over interval: the pending one holding `ts`, else (later than
            // HERD_LATENESS_NS allows) the oldest pending one, else the open one.
            let at = self
                .pending
                .iter()
                .position(|p| p.report.start_ts <= ts && ts < p.end_ts)
                .or((!self.pending.is_empty()).then_some(0));
            let Some(at) = at else {
                self.windows.herd(u64::MAX, thread);
                continue;
            };
            let threads = &mut self.pending[at].report.threads;
            let row = match threads.iter().position(|t| t.id == thread.id) {
                Some(i) => &mut threads[i],
                None => {
                    let comm = self.windows.comm(thread.id);
                    threads.push(IntervalThread::herd_only(thread, comm, self.coverage));
                    threads.last_mut().expect("just pushed")
                }
            };
            row.herds = Some(row.herds.unwrap_or(0) + 1);
        }
    }
}

impl Consumer for IntervalRows {
    fn event(&mut self, event: &Event<'_>) {
        if let Event::Herd(h) = event {
            self.herd(h.ts, &h.woken);
            return;
        }
        let (pending, coverage) = (&mut self.pending, self.coverage);
        let timeline = self.windows.timeline();
        self.windows
            .event(event, &mut |w| Self::close(pending, coverage, timeline, w));
        self.now = if matches!(event, Event::End(_)) {
            u64::MAX
        } else {
            self.now.max(event.ts())
        };
    }

    fn advance(&mut self, ts: u64) {
        let (pending, coverage) = (&mut self.pending, self.coverage);
        let timeline = self.windows.timeline();
        self.windows
            .advance(ts, &mut |w| Self::close(pending, coverage, timeline, w));
        self.now = self.now.max(ts);
    }
}

/// Busiest first: by busy time, then calls, then `(pid, tid)`.
pub fn sort_by_activity(threads: &mut [IntervalThread]) {
    threads.sort_by(|a, b| {
        (b.busy_ns.total, b.calls)
            .cmp(&(a.busy_ns.total, a.calls))
            .then((a.pid, a.tid).cmp(&(b.pid, b.tid)))
    });
}
