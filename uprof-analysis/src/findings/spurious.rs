//! `spurious-wakeups`: a blocked waiter woken, only to find nothing and sleep again (another
//! waiter took the event, or a wake-up with nothing behind it). Wake-ups that were part of a
//! thundering herd are that finding's, not this one's.
use super::*;

#[derive(Default)]
pub(super) struct Spurious {
    threads: PerThread<Wakes>,
}

#[derive(Default)]
struct Wakes {
    /// Wake-ups in all.
    woken: u64,
    /// Wake-ups that did not end the wait.
    spurious: u64,
    /// Wake-ups that were part of a herd.
    herd: u64,
    /// Of the current wait.
    pending: u64,
    seen: Seen,
}

impl Rule for Spurious {
    fn kind(&self) -> Kind {
        Kind::SpuriousWakeups
    }

    fn needs(&self) -> Needs {
        Needs::Wakeups
    }

    fn reads(&self) -> Reads {
        WAIT | WAKE | HERD
    }

    fn event(&mut self, event: &Event<'_>, _: &Thresholds) {
        match event {
            Event::Wake(w) => {
                let t = self.threads.get(w.thread.id);
                t.woken += 1;
                t.pending += 1;
                if t.pending > 1 {
                    t.seen.at(w.ts);
                }
            }
            Event::Wait(w) => {
                let t = self.threads.get(w.thread.id);
                let pending = std::mem::take(&mut t.pending);
                // Every wake-up but the one that ended a finished wait.
                t.spurious += if w.outcome.finished() {
                    pending.saturating_sub(1)
                } else {
                    pending
                };
            }
            Event::Herd(h) => {
                for w in &h.woken {
                    self.threads.get(w.id).herd += 1;
                }
            }
            _ => {}
        }
    }

    fn finish(&mut self, judge: &Judge<'_>, out: &mut Found) {
        let limits = judge.limits;
        for (id, t) in self.threads.iter() {
            let spurious = t.spurious.saturating_sub(t.herd);
            let share = ratio(spurious, t.woken);
            if t.woken < limits.min_events || share < limits.spurious_share {
                continue;
            }
            out.push(Finding {
                kind: Kind::SpuriousWakeups,
                severity: Severity::Warn,
                tier: judge.tier(Needs::Wakeups),
                at: judge.known.place_of_thread(id),
                when: t.seen.when(Vec::new()),
                summary: format!(
                    "{spurious} of {} wake-ups ({:.0} %) did not end the wait: the thread woke \
                     and slept again",
                    t.woken,
                    share * 100.0
                ),
                evidence: vec![
                    figure("wakeups", t.woken as f64, "wake-ups"),
                    figure("spurious", spurious as f64, "wake-ups"),
                    figure("share", share, "ratio"),
                ],
                advice: "Find who shares the wait queue: several threads waiting on one epoll \
                         instance or fd (give each its own, or use EPOLLEXCLUSIVE), or a waker \
                         that signals without work.",
            });
        }
    }
}
