//! `maxevents-saturated`: waits that return exactly `maxevents` events, leaving the rest of the
//! ready list for the next tick. A `maxevents` of 1 says nothing (every ready return fills it)
//! and is not judged.
use super::*;
use crate::stream::{Outcome, Wait};

#[derive(Default)]
pub(super) struct Fill {
    ready: u64,
    full: u64,
    maxevents: u32,
    /// The instance of the last full return (kept here: waits that deliver nothing captured
    /// do not tell [`Known`] their instance).
    epoll: Option<EpollRef>,
    seen: Seen,
}

impl Fill {
    #[inline]
    pub(super) fn wait(&mut self, w: &Wait<'_>) {
        let (Some(epoll), Outcome::Ready { count }) = (w.epoll, w.outcome) else {
            return;
        };
        if w.nfds < 2 {
            return;
        }
        let t = self;
        t.ready += 1;
        if count >= u64::from(w.nfds) {
            t.full += 1;
            t.maxevents = w.nfds;
            t.epoll = Some(epoll);
            t.seen.at(w.exit_ts);
        }
    }
}

pub(super) fn finish(threads: &Threads, judge: &Judge<'_>, out: &mut Found) {
    let limits = judge.limits;
    for (id, state) in threads.iter() {
        let t = &state.fill;
        let share = ratio(t.full, t.ready);
        if t.ready < limits.min_events || share < limits.maxevents_share {
            continue;
        }
        let mut place = judge.known.place_of_thread(id);
        if let Some(e) = t.epoll {
            place = at_epoll(place, e);
        }
        out.push(Finding {
            kind: Kind::MaxeventsSaturated,
            severity: Severity::Warn,
            tier: judge.tier(Needs::Syscalls),
            summary: format!(
                "{:.0} % of {} wake-ups returned exactly maxevents ({}): ready events are \
                     left for the next tick",
                share * 100.0,
                t.ready,
                t.maxevents
            ),
            at: place,
            when: t.seen.when(Vec::new()),
            evidence: vec![
                figure("wakeups", t.ready as f64, "waits"),
                figure("full", t.full as f64, "waits"),
                figure("share", share, "ratio"),
                figure("maxevents", f64::from(t.maxevents), "events"),
            ],
            advice: "Raise maxevents (the events array of epoll_wait) so one wake-up \
                         collects what is ready; 256 to 1024 is common for busy servers.",
        });
    }
}
