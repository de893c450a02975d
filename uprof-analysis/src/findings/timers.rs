//! `timer-wakeups`: a loop that mostly wakes because a short timeout expired with no fd ready.
use super::*;
use crate::stream::{Outcome, Timeout, Wait};

/// Upper bounds of the timeout buckets of the evidence (ns).
const BUCKETS: [(u64, &str); 4] = [
    (1_000_000, "timeouts_le_1ms"),
    (10_000_000, "timeouts_le_10ms"),
    (100_000_000, "timeouts_le_100ms"),
    (u64::MAX, "timeouts_longer"),
];

#[derive(Default)]
pub(super) struct Expiries {
    /// Expired short timeouts.
    short: u64,
    /// Expired timeouts by [`BUCKETS`].
    buckets: [u64; BUCKETS.len()],
    seen: Seen,
}

impl Expiries {
    #[inline]
    pub(super) fn wait(&mut self, w: &Wait<'_>, limits: &Thresholds) {
        let (Timeout::After(ns), Outcome::Timeout) = (w.timeout, w.outcome) else {
            return;
        };
        if let Some(b) = BUCKETS.iter().position(|&(max, _)| ns <= max) {
            self.buckets[b] += 1;
        }
        if ns <= limits.short_timer_ns {
            self.short += 1;
            self.seen.at(w.exit_ts);
        }
    }
}

pub(super) fn finish(threads: &Threads, judge: &Judge<'_>, out: &mut Found) {
    let limits = judge.limits;
    for (id, state) in threads.iter() {
        let (t, totals) = (&state.expiries, &state.waits);
        let share = ratio(t.short, totals.waits);
        let span_s = totals.last_exit.saturating_sub(totals.first_enter) as f64 / 1e9;
        let rate = if span_s > 0.0 {
            t.short as f64 / span_s
        } else {
            0.0
        };
        if totals.waits < limits.min_events
            || share < limits.timer_share
            || rate < limits.timer_rate_per_s
        {
            continue;
        }
        let mut evidence = vec![
            figure("waits", totals.waits as f64, "waits"),
            figure("short_timeouts", t.short as f64, "waits"),
            figure("share", share, "ratio"),
            figure("per_second", rate, "1/s"),
        ];
        evidence.extend(
            BUCKETS
                .iter()
                .zip(t.buckets)
                .map(|(&(_, name), n)| figure(name, n as f64, "waits")),
        );
        out.push(Finding {
            kind: Kind::TimerWakeups,
            severity: Severity::Warn,
            tier: judge.tier(Needs::Syscalls),
            at: judge.known.place_of_thread(id),
            when: t.seen.when(Vec::new()),
            summary: format!(
                "{:.0} % of {} waits ended because a timeout of {} or less expired with \
                     nothing ready: {:.0} wake-ups a second for nothing",
                share * 100.0,
                totals.waits,
                crate::text::duration(limits.short_timer_ns),
                rate
            ),
            evidence,
            advice: "Wait until the next timer is actually due (or -1 with no timers) \
                         instead of a short fixed timeout; coalesce periodic timers.",
        });
    }
}
