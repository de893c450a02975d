//! `timer-wakeups`: a loop that mostly wakes because a short timeout expired with no fd ready.
use super::*;
use crate::stream::{Outcome, Timeout};

/// Upper bounds of the timeout buckets of the evidence (ns).
const BUCKETS: [(u64, &str); 4] = [
    (1_000_000, "timeouts_le_1ms"),
    (10_000_000, "timeouts_le_10ms"),
    (100_000_000, "timeouts_le_100ms"),
    (u64::MAX, "timeouts_longer"),
];

#[derive(Default)]
pub(super) struct Timers {
    threads: PerThread<Expiries>,
}

#[derive(Default)]
struct Expiries {
    waits: u64,
    /// Expired short timeouts.
    short: u64,
    /// Expired timeouts by [`BUCKETS`].
    buckets: [u64; BUCKETS.len()],
    seen: Seen,
    first_wait: Option<u64>,
    last_wait: u64,
}

impl Rule for Timers {
    fn kind(&self) -> Kind {
        Kind::TimerWakeups
    }

    fn needs(&self) -> Needs {
        Needs::Syscalls
    }

    fn reads(&self) -> Reads {
        WAIT
    }

    fn event(&mut self, event: &Event<'_>, limits: &Thresholds) {
        let Event::Wait(w) = event else { return };
        let t = self.threads.get(w.thread.id);
        t.waits += 1;
        t.first_wait.get_or_insert(w.enter_ts);
        t.last_wait = w.exit_ts;
        let (Timeout::After(ns), Outcome::Timeout) = (w.timeout, w.outcome) else {
            return;
        };
        if let Some(b) = BUCKETS.iter().position(|&(max, _)| ns <= max) {
            t.buckets[b] += 1;
        }
        if ns <= limits.short_timer_ns {
            t.short += 1;
            t.seen.at(w.exit_ts);
        }
    }

    fn finish(&mut self, judge: &Judge<'_>, out: &mut Found) {
        let limits = judge.limits;
        for (id, t) in self.threads.iter() {
            let share = ratio(t.short, t.waits);
            let span_s = t.last_wait.saturating_sub(t.first_wait.unwrap_or(0)) as f64 / 1e9;
            let rate = if span_s > 0.0 {
                t.short as f64 / span_s
            } else {
                0.0
            };
            if t.waits < limits.min_events
                || share < limits.timer_share
                || rate < limits.timer_rate_per_s
            {
                continue;
            }
            let mut evidence = vec![
                figure("waits", t.waits as f64, "waits"),
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
                    t.waits,
                    crate::text::duration(limits.short_timer_ns),
                    rate
                ),
                evidence,
                advice: "Wait until the next timer is actually due (or -1 with no timers) \
                         instead of a short fixed timeout; coalesce periodic timers.",
            });
        }
    }
}
