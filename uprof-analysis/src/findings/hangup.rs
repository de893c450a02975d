//! `stale-interest` (hang-ups): an fd delivering `EPOLLHUP`/`EPOLLERR` again and again: its peer
//! is gone but it stays registered (level-triggered, it is ready on every wait).
use rustc_hash::FxHashMap;

use super::*;
use crate::stream::{EntryId, Wait};

#[derive(Default)]
pub(super) struct Hangup {
    fds: FxHashMap<EntryId, (EntryRef, u64, Seen, Option<ThreadId>)>,
}

impl Hangup {
    #[inline]
    pub(super) fn wait(&mut self, w: &Wait<'_>) {
        for d in w.delivered {
            if d.mask & (uprof_common::EPOLLHUP | uprof_common::EPOLLERR) != 0 && is_fd(d.entry) {
                let f = self
                    .fds
                    .entry(d.entry.id)
                    .or_insert((d.entry, 0, Seen::default(), None));
                f.1 += 1;
                f.2.at(w.exit_ts);
                f.3 = Some(w.thread.id);
            }
        }
    }

    pub(super) fn finish(&mut self, judge: &Judge<'_>, out: &mut Found) {
        let mut fds: Vec<_> = self
            .fds
            .values()
            .filter(|f| f.1 >= judge.limits.hangup_deliveries)
            .collect();
        fds.sort_by_key(|f| std::cmp::Reverse(f.1));
        for &&(entry, count, seen, thread) in &fds {
            let place = thread
                .map(|t| judge.known.place_of_thread(t))
                .unwrap_or_default();
            out.push(Finding {
                kind: Kind::StaleInterest,
                severity: Severity::Warn,
                tier: judge.tier(Needs::Syscalls),
                at: judge.known.with_entry(place, entry),
                when: seen.when(Vec::new()),
                summary: format!(
                    "an fd was delivered EPOLLHUP/EPOLLERR {count} times: it stays registered \
                     after its peer is gone"
                ),
                evidence: vec![figure("hangups", count as f64, "deliveries")],
                advice: "On EPOLLHUP or EPOLLERR, remove the fd (EPOLL_CTL_DEL) and close it.",
            });
        }
    }
}
