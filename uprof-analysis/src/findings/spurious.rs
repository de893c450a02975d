//! `spurious-wakeups`: a blocked waiter woken, only to find nothing and sleep again (another
//! waiter took the event, or a wake-up with nothing behind it). Wake-ups that were part of a
//! thundering herd are that finding's, not this one's.
use super::*;
use crate::stream::Wait;

#[derive(Default)]
pub(super) struct Wakes {
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

impl Wakes {
    /// The thread blocked in a wait was woken.
    pub(super) fn woken(&mut self, ts: u64) {
        self.woken += 1;
        self.pending += 1;
        if self.pending > 1 {
            self.seen.at(ts);
        }
    }

    #[inline]
    pub(super) fn wait(&mut self, w: &Wait<'_>) {
        if self.pending == 0 {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        // Every wake-up but the one that ended a finished wait.
        self.spurious += if w.outcome.finished() {
            pending - 1
        } else {
            pending
        };
    }

    /// The thread was woken as one of a herd.
    pub(super) fn in_herd(&mut self) {
        self.herd += 1;
    }
}

pub(super) fn finish(threads: &Threads, judge: &Judge<'_>, out: &mut Found) {
    let limits = judge.limits;
    for (id, state) in threads.iter() {
        let t = &state.wakes;
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
