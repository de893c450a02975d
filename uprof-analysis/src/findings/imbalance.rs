//! `imbalanced-workers`: threads of the same name (a pool of similar loops: nginx workers,
//! tokio workers) whose deliveries are very unequal, e.g. workers sharing a listening socket
//! without `SO_REUSEPORT`, where the first awake worker takes most connections.
//!
//! A pool is threads of one name that are all main threads (pre-forked worker processes) or
//! all not (a thread pool): a thread a process starts keeps its name unless renamed, so a main
//! thread and same-named threads of its own are usually different loops (node's main loop and
//! its platform's nearly idle delayed-task loop), not workers sharing the load.
use std::collections::BTreeMap;

use super::threads::Waits;
use super::*;

/// Reads only the wait totals every thread keeps ([`Waits`]): no work of its own per wait.
pub(super) fn finish(threads: &Threads, judge: &Judge<'_>, out: &mut Found) {
    let limits = judge.limits;
    let mut pools: BTreeMap<(&str, bool), Vec<(ThreadId, &Waits)>> = BTreeMap::new();
    for (id, state) in threads.iter() {
        let work = &state.waits;
        let Some(Some(info)) = judge.known.threads.get(id.0 as usize) else {
            continue;
        };
        if let Some(comm) = &info.comm {
            let main = info.pid == Some(info.tid);
            pools
                .entry((comm.as_str(), main))
                .or_default()
                .push((id, work));
        }
    }
    for ((comm, _), mut pool) in pools {
        let total: u64 = pool.iter().map(|(_, w)| w.delivered).sum();
        if pool.len() < 2 || total < limits.min_events {
            continue;
        }
        pool.sort_by_key(|(_, w)| std::cmp::Reverse(w.delivered));
        let (busiest, quietest) = (pool[0], pool[pool.len() - 1]);
        let spread = busiest.1.delivered as f64 / quietest.1.delivered.max(1) as f64;
        if spread < limits.imbalance_ratio {
            continue;
        }
        let mut seen = Seen::default();
        for (_, w) in &pool {
            let s = w.seen();
            if let Some(first) = s.first {
                seen.at(first);
            }
            seen.at(s.last);
        }
        let mut place = judge.known.place_of_thread(busiest.0);
        place.threads = pool
            .iter()
            .filter_map(|(t, _)| judge.known.thread_at(*t))
            .collect();
        let share = ratio(busiest.1.delivered, total);
        out.push(Finding {
            kind: Kind::ImbalancedWorkers,
            severity: Severity::Warn,
            tier: judge.tier(Needs::Syscalls),
            summary: format!(
                "{} threads named {comm} share the work unequally: the busiest (tid {}) got \
                     {:.0} % of the {total} events, {spread:.0} times the quietest's",
                pool.len(),
                place.tid.unwrap_or(0),
                share * 100.0
            ),
            at: place,
            when: seen.when(Vec::new()),
            evidence: vec![
                figure("workers", pool.len() as f64, "threads"),
                figure("events", total as f64, "events"),
                figure("busiest", busiest.1.delivered as f64, "events"),
                figure("quietest", quietest.1.delivered as f64, "events"),
                figure("busiest_share", share, "ratio"),
            ],
            advice: "Give each worker its own listening socket with SO_REUSEPORT (the \
                         kernel spreads connections), or accept in one place and hand \
                         connections out round-robin.",
        });
    }
}
