//! `ctl-churn`: `epoll_ctl` `MOD`s (or `DEL` then `ADD` of the same fd) per delivered event:
//! a loop re-arming its interest after every event, one syscall each.
use super::*;
use crate::stream::{Ctl, CtlOp, Wait};

/// Fds listed per instance, at most.
const FDS_KEPT: usize = 3;

#[derive(Default)]
pub(super) struct CtlChurn {
    /// By [`EpollId`].
    epolls: Vec<Option<Churn>>,
    /// Churn per fd entry, and whether it is out of its interest list now; by
    /// [`crate::stream::EntryId`] (dense, so a vector, not a hash).
    fds: Vec<Option<(EntryRef, u64, bool)>>,
}

#[derive(Default)]
struct Churn {
    delivered: u64,
    /// `MOD`s, and `ADD`s of an fd generation this instance had `DEL`eted.
    churn: u64,
    ctl: u64,
    /// The thread that made the most recent change.
    caller: Option<ThreadId>,
    seen: Seen,
}

impl CtlChurn {
    /// A wait that delivered events.
    #[inline]
    pub(super) fn wait(&mut self, w: &Wait<'_>) {
        if let Some(e) = w.epoll {
            slot(&mut self.epolls, e.id.0 as usize)
                .get_or_insert_default()
                .delivered += w.delivered.len() as u64;
        }
    }

    pub(super) fn ctl(&mut self, c: &Ctl) {
        if c.result.is_ok() && is_fd(c.entry) {
            let e = slot(&mut self.epolls, c.epoll.id.0 as usize).get_or_insert_default();
            e.ctl += 1;
            let fd = slot(&mut self.fds, c.entry.id.0 as usize).get_or_insert((c.entry, 0, false));
            let churned = match c.op {
                CtlOp::Mod => true,
                CtlOp::Add => std::mem::take(&mut fd.2),
                CtlOp::Del => {
                    fd.2 = true;
                    false
                }
                CtlOp::Other(_) => false,
            };
            if churned {
                fd.1 += 1;
                e.churn += 1;
                e.caller = Some(c.thread.id);
                e.seen.at(c.ts);
            }
        }
    }

    pub(super) fn finish(&mut self, judge: &Judge<'_>, out: &mut Found) {
        let limits = judge.limits;
        let fires = |e: &Churn| {
            e.churn >= limits.min_events
                && ratio(e.churn, e.delivered.max(1)) >= limits.ctl_churn_per_event
        };
        // The churned fds of each instance that fires, in one pass over the fds.
        let mut churned: Vec<Vec<&(EntryRef, u64, bool)>> = vec![Vec::new(); self.epolls.len()];
        for f in self.fds.iter().flatten().filter(|f| f.1 > 0) {
            let i = f.0.epoll.0 as usize;
            if let Some(Some(e)) = self.epolls.get(i)
                && fires(e)
            {
                churned[i].push(f);
            }
        }
        for (i, e) in self.epolls.iter().enumerate() {
            let Some(e) = e else { continue };
            if !fires(e) {
                continue;
            }
            let per_event = ratio(e.churn, e.delivered.max(1));
            let mut place = e
                .caller
                .map(|t| judge.known.place_of_thread(t))
                .unwrap_or_default();
            place = judge.known.with_epoll(place, EpollId(i as u32));
            let mut top = std::mem::take(&mut churned[i]);
            top.sort_by_key(|f| std::cmp::Reverse(f.1));
            if let [single] = top.as_slice() {
                place = judge.known.with_entry(place, single.0);
            } else if let Some(first) = top.first()
                && first.1.saturating_mul(2) > e.churn
            {
                // One fd makes most of it.
                place = judge.known.with_entry(place, first.0);
            }
            let fds: Vec<String> = top
                .iter()
                .take(FDS_KEPT)
                .filter_map(|(entry, n, _)| match entry.key {
                    EntryKey::Fd { fd, .. } => Some(format!("fd {fd}: {n}")),
                    EntryKey::Unmapped { .. } => None,
                })
                .collect();
            out.push(Finding {
                kind: Kind::CtlChurn,
                severity: Severity::Warn,
                tier: judge.tier(Needs::Syscalls),
                summary: format!(
                    "{} interest changes (epoll_ctl MOD, or DEL then ADD of the same fd) for {} \
                     delivered events: {:.1} per event (busiest {})",
                    e.churn,
                    e.delivered,
                    per_event,
                    fds.join(", ")
                ),
                at: place,
                when: e.seen.when(Vec::new()),
                evidence: vec![
                    figure("changes", e.churn as f64, "calls"),
                    figure("epoll_ctl", e.ctl as f64, "calls"),
                    figure("delivered", e.delivered as f64, "events"),
                    figure("changes_per_event", per_event, "ratio"),
                ],
                advice: "Keep the interest set: use edge-triggered registration (EPOLLET), or \
                         EPOLLONESHOT with one re-arm per event, and batch interest changes \
                         before the next wait (as libuv's watcher queue does).",
            });
        }
    }
}
