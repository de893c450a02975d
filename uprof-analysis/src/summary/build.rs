//! The report of a [`Summary`]: its totals as JSON-shaped figures.
use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use uprof_common::{FdKind, WaitSyscall};

use super::Summary;
use super::epolls::{CtlCounts, EntryTotals, EpollTotals, MaskCounts, ReadyStats};
use super::threads::{ScanStats, ThreadTotals};
use crate::SessionInfo;
use crate::errno;
use crate::report::*;
use crate::stream::EntryKey;

/// What the session's tier and probes let the report say.
#[derive(Clone, Copy)]
struct Coverage<'a> {
    tier: &'a str,
    /// Readiness of every fd (callback) or of sockets (socket); none in the syscall tier.
    readiness: bool,
    wakeups: bool,
}

pub(crate) fn report(summary: Summary, info: &SessionInfo) -> Report {
    let covered = crate::Coverage::of(info);
    let coverage = Coverage {
        tier: &info.tier,
        readiness: covered.readiness,
        wakeups: covered.wakeups,
    };
    let judged = summary.findings.finish(info);
    let herds = coverage.wakeups.then_some(HerdReport {
        events: summary.herds,
        waiters_woken: summary.herd_waiters,
    });
    // Every process the records show, and those the recorder started or attached to.
    let mut pids: Vec<u32> = info.pids.clone();
    pids.extend(summary.threads.iter().flatten().filter_map(|t| t.pid));
    pids.sort_unstable();
    pids.dedup();
    let mut threads: Vec<ThreadReport> = summary
        .threads
        .into_iter()
        .flatten()
        .filter(ThreadTotals::listed)
        .map(|t| thread_report(t, coverage))
        .collect();
    threads.sort_by_key(|t| (t.pid, t.tid));

    // Each used instance with its entries.
    let idle_epolls = summary
        .epolls
        .iter()
        .flatten()
        .filter(|e| !e.used())
        .count() as u64;
    let mut by_instance: Vec<Option<(EpollTotals, Vec<EntryTotals>)>> = summary
        .epolls
        .into_iter()
        .map(|e| e.filter(EpollTotals::used).map(|e| (e, Vec::new())))
        .collect();
    for entry in summary.entries.into_iter().flatten() {
        if let Some(Some((_, entries))) = by_instance.get_mut(entry.epoll.0 as usize) {
            entries.push(entry);
        }
    }
    let kinds = &summary.kinds;
    let mut epolls: Vec<EpollReport> = by_instance
        .into_iter()
        .flatten()
        .map(|(e, entries)| epoll_report(e, entries, kinds, coverage))
        .collect();
    epolls.sort_by_key(|e| (e.pid, e.epfd, e.generation));

    Report {
        schema: SCHEMA,
        duration_ns: info.duration_ns,
        lost_events: summary.lost.max(info.lost_events),
        late_records: summary.end.late_records,
        unattributed_events: summary.end.unattributed_events,
        probes: info.probes.clone(),
        tier: info.tier.clone(),
        command: info.command.clone(),
        pids,
        complete: info.incomplete.is_none(),
        incomplete: info.incomplete.clone(),
        threads,
        epolls,
        idle_epolls,
        herds,
        findings: judged.findings,
        findings_omitted: judged.omitted,
        findings_skipped: judged.skipped,
    }
}

fn thread_report(t: ThreadTotals, coverage: Coverage) -> ThreadReport {
    let w = &t.waits;
    let by_syscall = WaitSyscall::ALL
        .iter()
        .zip(w.by_syscall)
        .filter(|&(_, n)| n > 0)
        .map(|(s, n)| (s.name(), n))
        .collect();
    let (busy, blocked) = (w.busy.total(), w.blocked.total());
    let k = &t.wake;
    ThreadReport {
        pid: t.pid.unwrap_or(0),
        tid: t.tid,
        comm: t.comm,
        epoll_ctl: t.ctl_calls,
        waits: WaitReport {
            calls: w.calls,
            by_syscall,
            ready: w.ready,
            timeouts: w.timeouts,
            polls: w.polls,
            interrupted: w.interrupted,
            errors: w.errors,
            unfinished: w.unfinished,
            events: w.events,
            events_per_wakeup: w.per_wakeup.summary(),
            blocked_ns: w.blocked.summary(),
            busy_ns: w.busy.summary(),
            utilization: ratio(busy, busy.saturating_add(blocked)),
            fds_scanned: scan_report(&w.scan),
        },
        wakeups: coverage.wakeups.then(|| WakeupReport {
            tier: coverage.tier.to_owned(),
            slept: k.slept,
            without_sleeping: k.without_sleeping,
            by_cause: WakeCauses {
                readiness: k.readiness,
                timeout: k.timeout,
                signal: k.signal,
                other: k.other,
            },
            attributed: k.attributed,
            spurious: k.spurious,
            herd: k.herd,
            wake_to_run_ns: k.wake_to_run.summary(),
        }),
    }
}

fn scan_report(s: &ScanStats) -> ScanReport {
    ScanReport {
        calls: s.calls,
        total: s.scanned,
        per_call: ratio(s.scanned, s.calls),
        per_wakeup: ratio(s.scanned_on_wakeup, s.wakeups),
        ready_per_call: ratio(s.ready_fds, s.calls),
    }
}

fn epoll_report(
    e: EpollTotals,
    entries: Vec<EntryTotals>,
    kinds: &FxHashMap<(u32, i32, u32), FdKind>,
    coverage: Coverage,
) -> EpollReport {
    let pid = e.at.pid;
    let kind_of = |entry: &EntryTotals| match entry.key {
        EntryKey::Fd { fd, generation } => kinds.get(&(pid, fd, generation)).copied(),
        EntryKey::Unmapped { .. } => None,
    };
    let mut groups: BTreeMap<(&'static str, bool), (FdKind, Group)> = BTreeMap::new();
    for entry in &entries {
        if let Some(kind) =
            kind_of(entry).or(matches!(entry.key, EntryKey::Fd { .. }).then_some(FdKind::Unknown))
        {
            groups
                .entry((kind.name(), entry.closed))
                .or_insert_with(|| (kind, Group::default()))
                .1
                .add(entry);
        }
    }
    let mut by_kind: Vec<FdGroupReport> = groups
        .into_iter()
        .map(|((_, closed), (kind, g))| g.report(kind, closed, coverage))
        .collect();
    by_kind.sort_by(|a, b| b.delivered.cmp(&a.delivered).then(b.fds.cmp(&a.fds)));
    let mut fds: Vec<FdReport> = entries
        .into_iter()
        .map(|entry| {
            let kind = kind_of(&entry).unwrap_or(FdKind::Unknown);
            fd_report(entry, kind, coverage)
        })
        .collect();
    fds.sort_by_key(|f| (f.fd, f.generation, f.data));
    EpollReport {
        pid,
        epfd: e.at.epfd,
        generation: e.at.generation,
        waits: e.waits,
        delivered: e.delivered,
        ctl: e.ctl,
        fds,
        by_kind,
    }
}

/// Fd entries added up.
#[derive(Default)]
struct Group {
    fds: u64,
    delivered: u64,
    masks: MaskCounts,
    ctl: CtlCounts,
    ready: ReadyStats,
    /// Fds with a readiness still waiting for pickup at the end.
    pending: u64,
}

impl Group {
    fn add(&mut self, entry: &EntryTotals) {
        self.fds += 1;
        self.delivered += entry.delivered;
        self.masks.add(&entry.masks);
        self.ctl.add(&entry.ctl);
        self.ready.add(&entry.ready);
        self.pending += u64::from(entry.ready.pending);
    }

    fn report(self, kind: FdKind, closed: bool, coverage: Coverage) -> FdGroupReport {
        let covered = kind.is_socket() || self.ready.reports > 0;
        FdGroupReport {
            kind: kind.name(),
            closed,
            fds: self.fds,
            delivered: self.delivered,
            masks: self.masks,
            ctl: self.ctl,
            readiness: readiness(&self.ready, covered, coverage).map(|r| FdReadiness {
                pending: self.pending,
                ..r
            }),
        }
    }
}

fn fd_report(entry: EntryTotals, kind: FdKind, coverage: Coverage) -> FdReport {
    let (fd, generation, data) = match entry.key {
        EntryKey::Fd { fd, generation } => (fd, generation, None),
        EntryKey::Unmapped { data } => (-1, 0, Some(data)),
    };
    let socket = kind.is_socket() || entry.ready.reports > 0;
    FdReport {
        readiness: data
            .is_none()
            .then(|| readiness(&entry.ready, socket, coverage))
            .flatten(),
        fd,
        generation,
        data,
        kind: kind.name(),
        closed: entry.closed,
        delivered: entry.delivered,
        masks: entry.masks,
        ctl: FdCtlReport {
            counts: entry.ctl,
            errors_by_errno: entry
                .ctl_errors
                .into_iter()
                .map(|(e, n)| (errno::name(e), n))
                .collect(),
        },
    }
}

/// The readiness figures of `r` where the tier has them: every fd in the callback tier; in the
/// socket tier, sockets only (`socket`: the fds are sockets, or readiness was seen for them).
fn readiness(r: &ReadyStats, socket: bool, coverage: Coverage) -> Option<FdReadiness> {
    let socket_tier = coverage.tier == SOCKET_TIER;
    (coverage.readiness && (socket || !socket_tier)).then(|| FdReadiness {
        tier: coverage.tier.to_owned(),
        approximate: socket_tier,
        ready: r.reports,
        ready_to_delivered_ns: r.latency.as_ref().map(|l| l.summary()).unwrap_or_default(),
        coalesced: r.coalesced,
        undelivered: r.undelivered,
        pending: u64::from(r.pending),
        woke: r.woke,
    })
}

/// `num / den`, 0 when `den` is 0.
fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}
