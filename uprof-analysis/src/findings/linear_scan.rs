//! `linear-scan`: `poll`/`select` loops that pass many fds per call for few ready ones: the
//! kernel scans every fd on every call, O(N) per wake-up.
use super::*;
use crate::stream::{Outcome, Wait};

/// Fds per call below which a scan is cheap whatever the ratio.
pub(super) const MIN_FDS: u64 = 64;

#[derive(Default)]
pub(super) struct Scans {
    calls: u64,
    scanned: u64,
    ready: u64,
    largest: u32,
    seen: Seen,
}

impl Scans {
    #[inline]
    pub(super) fn wait(&mut self, w: &Wait<'_>) {
        if w.syscall.is_epoll() {
            return;
        }
        let t = self;
        t.calls += 1;
        t.scanned = t.scanned.saturating_add(u64::from(w.nfds));
        t.largest = t.largest.max(w.nfds);
        if let Outcome::Ready { count } = w.outcome {
            t.ready = t.ready.saturating_add(count);
        }
        t.seen.at(w.exit_ts);
    }
}

pub(super) fn finish(threads: &Threads, judge: &Judge<'_>, out: &mut Found) {
    let limits = judge.limits;
    for (id, state) in threads.iter() {
        let t = &state.scans;
        let per_call = ratio(t.scanned, t.calls);
        let per_ready = ratio(t.scanned, t.ready.max(1));
        if t.calls < limits.min_events
            || per_call < MIN_FDS as f64
            || per_ready < limits.scan_per_ready
        {
            continue;
        }
        out.push(Finding {
            kind: Kind::LinearScan,
            severity: Severity::Warn,
            tier: judge.tier(Needs::Syscalls),
            at: judge.known.place_of_thread(id),
            when: t.seen.when(Vec::new()),
            summary: format!(
                "{} poll/select calls passed {per_call:.0} fds each (up to {}) for {:.2} \
                     ready fds per call: {per_ready:.0} fds scanned per ready fd",
                t.calls,
                t.largest,
                ratio(t.ready, t.calls)
            ),
            evidence: vec![
                figure("calls", t.calls as f64, "calls"),
                figure("fds_per_call", per_call, "fds"),
                figure("ready_per_call", ratio(t.ready, t.calls), "fds"),
                figure("scanned_per_ready", per_ready, "ratio"),
            ],
            advice: "Use epoll: its cost follows the ready fds, not the registered ones.",
        });
    }
}
