//! `thundering-herd`: one readiness that woke two or more blocked waiters, of which one gets
//! the event. A registration with `EPOLLEXCLUSIVE` wakes one waiter: no herd, no finding.
use rustc_hash::FxHashMap;

use super::*;

/// Waiting threads listed per fd, at most.
const THREADS_KEPT: usize = 16;
/// Herd times kept per fd.
const TIMES_KEPT: usize = 5;

#[derive(Default)]
pub(super) struct Herds {
    /// By the fd entry whose readiness woke the first waiter.
    fds: FxHashMap<crate::stream::EntryId, FdHerds>,
}

struct FdHerds {
    entry: EntryRef,
    herds: u64,
    woken: u64,
    threads: Vec<ThreadId>,
    seen: Seen,
    times: Vec<u64>,
}

impl Herds {
    pub(super) fn herd(&mut self, h: &crate::stream::Herd) {
        let Some(&entry) = h.entries.first() else {
            return;
        };
        let f = self.fds.entry(entry.id).or_insert_with(|| FdHerds {
            entry,
            herds: 0,
            woken: 0,
            threads: Vec::new(),
            seen: Seen::default(),
            times: Vec::new(),
        });
        f.herds += 1;
        f.woken += h.woken.len() as u64;
        f.seen.at(h.ts);
        if f.times.len() < TIMES_KEPT {
            f.times.push(h.ts);
        }
        for t in &h.woken {
            if f.threads.len() < THREADS_KEPT && !f.threads.contains(&t.id) {
                f.threads.push(t.id);
            }
        }
    }

    pub(super) fn finish(&mut self, judge: &Judge<'_>, out: &mut Found) {
        let mut fds: Vec<&FdHerds> = self
            .fds
            .values()
            .filter(|f| f.herds >= judge.limits.herd_events)
            .collect();
        fds.sort_by_key(|f| std::cmp::Reverse(f.herds));
        for f in fds {
            let mut place = judge.known.with_entry(Place::default(), f.entry);
            place.threads = f
                .threads
                .iter()
                .filter_map(|&t| judge.known.thread_at(t))
                .collect();
            let mean = ratio(f.woken, f.herds);
            out.push(Finding {
                kind: Kind::ThunderingHerd,
                severity: Severity::Warn,
                tier: judge.tier(Needs::Wakeups),
                summary: format!(
                    "{} readiness events of fd {} each woke several waiters ({:.1} on average, \
                     {} threads in all); all but one went back to sleep",
                    f.herds,
                    place.fd.map_or_else(|| "?".to_owned(), |fd| fd.to_string()),
                    mean,
                    place.threads.len()
                ),
                at: place,
                when: f.seen.when(
                    f.times
                        .iter()
                        .map(|&t| Range {
                            start_ns: t,
                            end_ns: t,
                        })
                        .collect(),
                ),
                evidence: vec![
                    figure("herds", f.herds as f64, "events"),
                    figure("waiters_woken", f.woken as f64, "wake-ups"),
                    figure("waiters_per_herd", mean, "wake-ups"),
                ],
                advice: "Register the shared fd with EPOLLEXCLUSIVE (one waiter is woken), or \
                         give each worker its own listening socket with SO_REUSEPORT.",
            });
        }
    }
}
