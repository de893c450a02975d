//! `stale-interest` (leaks): fds that stayed registered for a long time without a single
//! delivered event and were then closed still registered: a loop that registers fds and
//! forgets them (connections it never serves, a pool that leaks registrations). One or two
//! are normal (a wake-up eventfd never signalled, closed at exit): only many in one instance
//! make a finding.
use rustc_hash::FxHashMap;

use super::*;
use crate::stream::{Ctl, CtlOp, EntryId, FdEnded, Wait};

/// Fds named in the summary (the longest idle), at most.
const FDS_LISTED: usize = 3;
/// Idle registrations kept as evidence ranges (the longest), with their fds.
const KEPT: usize = 5;

#[derive(Default)]
pub(super) struct Leaks {
    /// The registration of each fd entry in its interest list, by [`EntryId`] (dense).
    entries: Vec<Option<Registration>>,
    /// The registered entries of each open fd generation, by `(pid, fd, generation)`: the fd's
    /// end ends them.
    open: FxHashMap<(u32, i32, u32), Vec<EntryId>>,
    /// Idle registrations closed, by [`EpollId`].
    epolls: Vec<Option<Idle>>,
}

struct Registration {
    entry: EntryRef,
    since: u64,
    delivered: bool,
    /// Who registered it (none for an entry found in place when recording began).
    thread: Option<ThreadId>,
}

#[derive(Default)]
struct Idle {
    fds: u64,
    /// The registration idle longest: its entry, how long, and who made it.
    longest: Option<(EntryRef, u64, Option<ThreadId>)>,
    spans: Worst<(Range, i32), KEPT>,
    seen: Seen,
}

impl Leaks {
    fn register(&mut self, pid: u32, entry: EntryRef, since: u64, thread: Option<ThreadId>) {
        let EntryKey::Fd { fd, generation } = entry.key else {
            return;
        };
        *slot(&mut self.entries, entry.id.0 as usize) = Some(Registration {
            entry,
            since,
            delivered: false,
            thread,
        });
        let ids = self.open.entry((pid, fd, generation)).or_default();
        if !ids.contains(&entry.id) {
            ids.push(entry.id);
        }
    }

    pub(super) fn ctl(&mut self, c: &Ctl) {
        if c.result.is_err() {
            return;
        }
        match c.op {
            CtlOp::Add => self.register(c.epoll.pid, c.entry, c.ts, Some(c.thread.id)),
            // Removed before its close: whatever it was, the loop let go of it.
            CtlOp::Del => {
                if let Some(r) = self.entries.get_mut(c.entry.id.0 as usize) {
                    *r = None;
                }
            }
            CtlOp::Mod | CtlOp::Other(_) => {}
        }
    }

    /// An entry in place when recording began: registered (at least) since then.
    pub(super) fn found(&mut self, pid: u32, entry: EntryRef, ts: u64) {
        self.register(pid, entry, ts, None);
    }

    /// A wait that delivered events.
    #[inline]
    pub(super) fn wait(&mut self, w: &Wait<'_>) {
        for d in w.delivered {
            if let Some(Some(r)) = self.entries.get_mut(d.entry.id.0 as usize) {
                r.delivered = true;
            }
        }
    }

    /// An fd generation ended (closed, or replaced by `dup2`): its registrations with it.
    pub(super) fn ended(&mut self, e: &FdEnded, limits: &Thresholds) {
        let Some(ids) = self.open.remove(&(e.pid, e.fd, e.generation)) else {
            return;
        };
        for id in ids {
            let Some(r) = self.entries.get_mut(id.0 as usize).and_then(Option::take) else {
                continue;
            };
            let idle = e.ts.saturating_sub(r.since);
            if r.delivered || idle < limits.leak_idle_ns {
                continue;
            }
            let i = slot(&mut self.epolls, r.entry.epoll.0 as usize).get_or_insert_default();
            i.fds += 1;
            if i.longest.is_none_or(|(_, l, _)| idle > l) {
                i.longest = Some((r.entry, idle, r.thread));
            }
            i.spans.offer(
                idle,
                (
                    Range {
                        start_ns: r.since,
                        end_ns: e.ts,
                    },
                    e.fd,
                ),
            );
            i.seen.at(r.since);
            i.seen.at(e.ts);
        }
    }

    pub(super) fn finish(&mut self, judge: &Judge<'_>, out: &mut Found) {
        let limits = judge.limits;
        for (i, idle) in self.epolls.iter_mut().enumerate() {
            let Some(idle) = idle else { continue };
            let Some((entry, longest, thread)) = idle.longest else {
                continue;
            };
            if idle.fds < limits.leak_fds {
                continue;
            }
            let mut place = thread
                .map(|t| judge.known.place_of_thread(t))
                .unwrap_or_default();
            place = judge
                .known
                .with_entry(judge.known.with_epoll(place, EpollId(i as u32)), entry);
            let longest_first = std::mem::take(&mut idle.spans).into_sorted();
            let fds: Vec<String> = longest_first
                .iter()
                .take(FDS_LISTED)
                .map(|(_, (_, fd))| fd.to_string())
                .collect();
            let mut ranges: Vec<Range> = longest_first.iter().map(|(_, (r, _))| *r).collect();
            ranges.sort_by_key(|r| r.start_ns);
            out.push(Finding {
                kind: Kind::StaleInterest,
                severity: Severity::Warn,
                tier: judge.tier(Needs::Syscalls),
                summary: format!(
                    "{} fds (longest idle: fds {}{}) stayed registered for at least {} \
                     without a single event and were closed still registered (the longest \
                     after {}): registrations the loop forgot",
                    idle.fds,
                    fds.join(", "),
                    if idle.fds > fds.len() as u64 {
                        ", ..."
                    } else {
                        ""
                    },
                    crate::text::duration(limits.leak_idle_ns),
                    crate::text::duration(longest)
                ),
                at: place,
                when: idle.seen.when(ranges),
                evidence: vec![
                    figure("idle_fds", idle.fds as f64, "fds"),
                    figure("longest_idle", longest as f64, "ns"),
                ],
                advice: "Serve or drop every fd you register: remove it (EPOLL_CTL_DEL) and \
                         close it when its work ends or is abandoned, and time out idle \
                         connections; fds waiting for nothing still cost memory and a slot \
                         in the interest list.",
            });
        }
    }
}
