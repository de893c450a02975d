//! The report: what the analysis found, in the shape of the JSON output
//! (documented field by field in docs/json-schema.md).
use std::collections::BTreeMap;

use serde::Serialize;
use uprof_common::WaitSyscall;

use crate::SessionInfo;
use crate::analyzer::State;
use crate::epoll::{CtlCounts, EpollInstance, FdKey, FdStats, MaskCounts};
use crate::errno;
use crate::process::Process;
use crate::stats::{CountSummary, DurationSummary};
use crate::thread::{ScanStats, Thread};

/// Identifies the JSON layout; bumped when a field changes meaning or goes away.
pub const SCHEMA: &str = "uprof.report/1";

/// The result of an analysis.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub duration_ns: u64,
    /// Records the kernel dropped: the larger of the recorder's count and the last `Lost` record.
    pub lost_events: u64,
    /// Records older than a record already processed: they were processed out of order.
    pub late_records: u64,
    /// Returned epoll events that followed no epoll wait of their thread.
    pub unattributed_events: u64,
    pub probes: Vec<String>,
    pub tier: String,
    pub command: Option<Vec<String>>,
    pub pids: Vec<u32>,
    /// Threads that waited or called `epoll_ctl`, by `(pid, tid)`.
    pub threads: Vec<ThreadReport>,
    /// Epoll instances, by `(pid, epfd, generation)`.
    pub epolls: Vec<EpollReport>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ThreadReport {
    pub pid: u32,
    pub tid: u32,
    pub comm: Option<String>,
    pub epoll_ctl: u64,
    pub waits: WaitReport,
    /// Callback-tier figures; `null` in other tiers.
    pub readiness: Option<ThreadReadiness>,
}

/// What the ready-list callback says about a thread (callback tier only).
#[derive(Clone, Debug, Serialize)]
pub struct ThreadReadiness {
    /// The tier these figures come from: `"callback"`.
    pub tier: &'static str,
    /// Ready returns of epoll waits during which a ready-list callback ran on the instance
    /// waited on.
    pub wakeups: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct WaitReport {
    pub calls: u64,
    pub by_syscall: BTreeMap<&'static str, u64>,
    pub ready: u64,
    pub timeouts: u64,
    pub interrupted: u64,
    pub errors: u64,
    pub unfinished: u64,
    pub events: u64,
    pub events_per_wakeup: CountSummary,
    pub blocked_ns: DurationSummary,
    pub busy_ns: DurationSummary,
    /// `busy total / (busy total + blocked total)`, 0 when both are 0.
    pub utilization: f64,
    pub fds_scanned: ScanReport,
}

/// Cost of the poll family (`poll`, `ppoll`, `select`, `pselect6`), which scans every fd passed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct ScanReport {
    pub calls: u64,
    /// Sum of `nfds` over the calls.
    pub total: u64,
    pub per_call: f64,
    /// Mean `nfds` of the calls that returned ready fds.
    pub per_wakeup: f64,
    /// Mean ready fds per call.
    pub ready_per_call: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct EpollReport {
    pub pid: u32,
    pub epfd: i32,
    pub generation: u32,
    pub waits: u64,
    pub delivered: u64,
    pub ctl: CtlCounts,
    /// By `(fd, generation)`; unmapped events (fd -1) first, by `data`.
    pub fds: Vec<FdReport>,
}

#[derive(Clone, Debug, Serialize)]
pub struct FdReport {
    /// -1 for events whose `data` matched no known interest entry.
    pub fd: i32,
    pub generation: u32,
    /// The unmatched `data` value of an fd -1 entry; `null` otherwise.
    pub data: Option<u64>,
    pub kind: &'static str,
    pub delivered: u64,
    pub masks: MaskCounts,
    pub ctl: FdCtlReport,
    /// Callback-tier figures; `null` in other tiers and for unmapped entries.
    pub readiness: Option<FdReadiness>,
}

/// What the ready-list callback says about an fd (callback tier only).
#[derive(Clone, Debug, Serialize)]
pub struct FdReadiness {
    /// The tier these figures come from: `"callback"`.
    pub tier: &'static str,
    /// `ep_poll_callback` calls that queued the fd (or found it queued).
    pub ready: u64,
    /// From the first callback not yet delivered to the return of the wait that delivered the
    /// fd, one sample per such delivery.
    pub ready_to_delivered_ns: DurationSummary,
    /// Callbacks that found an earlier readiness still waiting for pickup.
    pub coalesced: u64,
    /// Readiness never delivered: the fd was closed or removed first.
    pub undelivered: u64,
    /// Readiness still waiting for pickup when recording ended (0 or 1).
    pub pending: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct FdCtlReport {
    #[serde(flatten)]
    pub counts: CtlCounts,
    /// Failed calls by errno name (`EEXIST`, ...).
    pub errors_by_errno: BTreeMap<String, u64>,
}

impl Report {
    /// The report as a JSON value.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a report has string keys and finite numbers only")
    }
}

/// The tier whose figures [`ThreadReadiness`] and [`FdReadiness`] hold.
pub const CALLBACK_TIER: &str = "callback";

pub(crate) fn build(state: State, info: &SessionInfo, late_records: u64) -> Report {
    let callback = info.tier == CALLBACK_TIER;
    let mut threads: Vec<ThreadReport> = state
        .threads
        .into_values()
        .chain(state.retired)
        .filter(Thread::listed)
        .map(|t| thread_report(t, callback))
        .collect();
    threads.sort_by_key(|t| (t.pid, t.tid));

    let mut epolls: Vec<EpollReport> = state
        .epolls
        .into_iter()
        .filter(|e| e.listed)
        .map(|e| {
            let process = state.processes.get(&e.pid);
            epoll_report(e, process, callback)
        })
        .collect();
    epolls.sort_by_key(|e| (e.pid, e.epfd, e.generation));

    Report {
        schema: SCHEMA,
        duration_ns: info.duration_ns,
        lost_events: state.lost.max(info.lost_events),
        late_records,
        unattributed_events: state.unattributed_events,
        probes: info.probes.clone(),
        tier: info.tier.clone(),
        command: info.command.clone(),
        pids: info.pids.clone(),
        threads,
        epolls,
    }
}

fn thread_report(t: Thread, callback: bool) -> ThreadReport {
    let w = &t.waits;
    let by_syscall = WaitSyscall::ALL
        .iter()
        .zip(w.by_syscall)
        .filter(|&(_, n)| n > 0)
        .map(|(s, n)| (s.name(), n))
        .collect();
    let (busy, blocked) = (w.busy.total(), w.blocked.total());
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
        readiness: callback.then_some(ThreadReadiness {
            tier: CALLBACK_TIER,
            wakeups: t.wakeups,
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

fn epoll_report(e: EpollInstance, process: Option<&Process>, callback: bool) -> EpollReport {
    let mut fds: Vec<FdReport> = e
        .fds
        .into_entries()
        .map(|(key, stats)| fd_report(key, stats, process, callback))
        .collect();
    fds.sort_by_key(|f| (f.fd, f.generation, f.data));
    EpollReport {
        pid: e.pid,
        epfd: e.epfd,
        generation: e.generation,
        waits: e.waits,
        delivered: e.delivered,
        ctl: e.ctl,
        fds,
    }
}

fn fd_report(key: FdKey, stats: FdStats, process: Option<&Process>, callback: bool) -> FdReport {
    let (fd, generation, data) = match key {
        FdKey::Fd { fd, generation } => (fd, generation, None),
        FdKey::Unmapped { data } => (-1, 0, Some(data)),
    };
    let kind = match (key, process) {
        (FdKey::Fd { fd, generation }, Some(p)) => p.kind(fd, generation),
        _ => uprof_common::FdKind::Unknown,
    };
    let r = &stats.ready;
    let readiness = (callback && data.is_none()).then(|| FdReadiness {
        tier: CALLBACK_TIER,
        ready: r.callbacks,
        ready_to_delivered_ns: r.latency.as_ref().map(|l| l.summary()).unwrap_or_default(),
        coalesced: r.coalesced,
        undelivered: r.undelivered,
        pending: u64::from(r.pending()),
    });
    FdReport {
        readiness,
        fd,
        generation,
        data,
        kind: kind.name(),
        delivered: stats.delivered,
        masks: stats.masks,
        ctl: FdCtlReport {
            counts: stats.ctl,
            errors_by_errno: stats
                .ctl_errors
                .into_iter()
                .map(|(e, n)| (errno::name(e), n))
                .collect(),
        },
    }
}

/// `num / den`, 0 when `den` is 0.
fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}
