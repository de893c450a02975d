//! `saturated-loop`: a thread busy (between waits) nearly all the time for several intervals
//! in a row: the loop no longer keeps up with its work.
use super::*;
use crate::stream::Wait;

/// Runs of saturated intervals kept per thread (the longest).
const RUNS_KEPT: usize = 5;

#[derive(Default)]
pub(super) struct Load {
    /// The interval being added up, and its busy and blocked time.
    current: Option<u64>,
    /// The current interval's time span, `start..end` ns: a span within it is added without a
    /// division (most are). `(0, 0)` when there is none: only an empty span fits in it.
    span: (u64, u64),
    busy: u64,
    blocked: u64,
    /// The saturated run going on: its first and last interval.
    run: Option<(u64, u64)>,
    runs: Worst<(u64, u64), RUNS_KEPT>,
    long_runs: u64,
    saturated: u64,
    /// Busy share of the saturated intervals, added up.
    share_sum: f64,
    seen: Seen,
}

impl Load {
    fn add(&mut self, mut start: u64, end: u64, busy: bool, width: u64, limits: &Thresholds) {
        if start >= end {
            return;
        }
        if start >= self.span.0 && end <= self.span.1 {
            if busy {
                self.busy = self.busy.saturating_add(end - start);
            } else {
                self.blocked = self.blocked.saturating_add(end - start);
            }
            return;
        }
        let (first, last) = (start / width, (end - 1) / width);
        if last > first + 1 {
            // The whole intervals in between at once: a span of any length costs the same.
            let middle = (first + 1).saturating_mul(width);
            self.piece(start, middle, busy, width, limits);
            self.close(width, limits);
            self.whole(first + 1, last - first - 1, busy, limits);
            start = last.saturating_mul(width);
        }
        while start < end {
            let piece = end.min((start / width + 1).saturating_mul(width));
            self.piece(start, piece, busy, width, limits);
            start = piece;
        }
    }

    /// Adds `start..end`, within one interval.
    fn piece(&mut self, start: u64, end: u64, busy: bool, width: u64, limits: &Thresholds) {
        let index = start / width;
        if self.current != Some(index) {
            self.close(width, limits);
            self.current = Some(index);
            let first = index.saturating_mul(width);
            self.span = (first, first.saturating_add(width));
        }
        if busy {
            self.busy = self.busy.saturating_add(end - start);
        } else {
            self.blocked = self.blocked.saturating_add(end - start);
        }
    }

    /// `count` whole intervals from `first`, all busy or all blocked.
    fn whole(&mut self, first: u64, count: u64, busy: bool, limits: &Thresholds) {
        if !busy {
            self.end_run(limits);
            return;
        }
        let last = first + count - 1;
        self.saturated = self.saturated.saturating_add(count);
        self.share_sum += count as f64;
        self.run = match self.run {
            Some((start, end)) if end.checked_add(1) == Some(first) => Some((start, last)),
            _ => {
                self.end_run(limits);
                Some((first, last))
            }
        };
    }

    /// The current interval is over.
    fn close(&mut self, width: u64, limits: &Thresholds) {
        let Some(index) = self.current.take() else {
            return;
        };
        self.span = (0, 0);
        let (busy, blocked) = (
            std::mem::take(&mut self.busy),
            std::mem::take(&mut self.blocked),
        );
        // An interval the thread was seen in for less than half is not judged.
        let seen = busy.saturating_add(blocked);
        let share = ratio(busy, seen);
        if seen.saturating_mul(2) >= width && share >= limits.saturated_utilization {
            self.saturated += 1;
            self.run = match self.run {
                Some((first, last)) if last.checked_add(1) == Some(index) => Some((first, index)),
                _ => {
                    self.end_run(limits);
                    Some((index, index))
                }
            };
            self.share_sum += share;
        } else {
            self.end_run(limits);
        }
    }

    fn end_run(&mut self, limits: &Thresholds) {
        if let Some((first, last)) = self.run.take()
            && last - first + 1 >= limits.saturated_intervals
        {
            self.long_runs += 1;
            self.runs.offer(last - first + 1, (first, last));
        }
    }
}

impl Load {
    /// Adds the tick before `w` (busy) and `w` itself (blocked) to intervals `width` ns wide.
    #[inline]
    pub(super) fn wait(&mut self, w: &Wait<'_>, width: u64, limits: &Thresholds) {
        let t = self;
        // The tick and the wait after it both within the current interval (most are): added
        // with one check.
        if let Some(busy) = w.busy_before_ns
            && w.outcome.finished()
            && w.enter_ts.saturating_sub(busy) >= t.span.0
            && w.exit_ts <= t.span.1
        {
            t.busy = t.busy.saturating_add(busy.min(w.enter_ts));
            t.blocked = t
                .blocked
                .saturating_add(w.exit_ts.saturating_sub(w.enter_ts));
            return;
        }
        if let Some(busy) = w.busy_before_ns {
            t.add(
                w.enter_ts.saturating_sub(busy),
                w.enter_ts,
                true,
                width,
                limits,
            );
        }
        if w.outcome.finished() {
            t.add(w.enter_ts, w.exit_ts, false, width, limits);
        }
    }
}

pub(super) fn finish(threads: &mut Threads, width: u64, judge: &Judge<'_>, out: &mut Found) {
    let limits = judge.limits;
    for (id, state) in threads.iter_mut() {
        let t = &mut state.load;
        t.close(width, limits);
        t.end_run(limits);
        let runs = std::mem::take(&mut t.runs).into_sorted();
        let Some(&(longest, _)) = runs.first() else {
            continue;
        };
        let mut ranges: Vec<Range> = runs
            .iter()
            .map(|&(_, (first, last))| Range {
                start_ns: first.saturating_mul(width),
                end_ns: (last + 1).saturating_mul(width),
            })
            .collect();
        ranges.sort_by_key(|r| r.start_ns);
        for r in &ranges {
            t.seen.at(r.start_ns);
            t.seen.at(r.end_ns);
        }
        let mean = t.share_sum / t.saturated.max(1) as f64;
        out.push(Finding {
            kind: Kind::SaturatedLoop,
            severity: Severity::Warn,
            tier: judge.tier(Needs::Syscalls),
            at: judge.known.place_of_thread(id),
            when: t.seen.when(ranges),
            summary: format!(
                "busy at least {:.0} % of the time for {longest} intervals of {} in a row \
                     ({}): the loop cannot keep up",
                limits.saturated_utilization * 100.0,
                crate::text::duration(width),
                super::plural(t.long_runs, "such run")
            ),
            evidence: vec![
                figure("longest_run", longest as f64, "intervals"),
                figure("runs", t.long_runs as f64, "runs"),
                figure("saturated_intervals", t.saturated as f64, "intervals"),
                figure("utilization", mean.min(1.0), "ratio"),
                figure("interval", width as f64, "ns"),
            ],
            advice: "Spread the work over more loops (threads or processes), or make each \
                         tick cheaper; a saturated loop adds queueing delay to every event.",
        });
    }
}
