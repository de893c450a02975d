//! The report: what the analysis found, in the shape of the JSON output
//! (documented field by field in docs/json-schema.md).
use std::collections::BTreeMap;

use serde::Serialize;

use crate::findings::{Finding, Omitted, Skipped};
use crate::session::Incomplete;
use crate::stats::{CountSummary, DurationSummary};
use crate::summary::{CtlCounts, MaskCounts};

/// Identifies the JSON layout; bumped when a field changes meaning or goes away.
pub const SCHEMA: &str = "uprof.report/4";

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
    /// Every process traced: those started or attached to, and the descendants followed.
    pub pids: Vec<u32>,
    /// The recording was read whole.
    pub complete: bool,
    /// Why not, when it was not: `{why, reason, records_read, damaged_bytes}`.
    pub incomplete: Option<Incomplete>,
    /// Threads that waited or called `epoll_ctl`, by `(pid, tid)`.
    pub threads: Vec<ThreadReport>,
    /// Epoll instances that were waited on, asked (`epoll_ctl`) or delivered events, by
    /// `(pid, epfd, generation)`.
    pub epolls: Vec<EpollReport>,
    /// Epoll instances seen but never used while recording (created, snapshotted from /proc
    /// or inherited at a fork): not listed.
    pub idle_epolls: u64,
    /// Readiness events that woke several waiters; `null` without wake-up probes.
    pub herds: Option<HerdReport>,
    /// What is wrong with the loops, most severe first (docs/findings.md).
    pub findings: Vec<Finding>,
    /// Findings left out of `findings` past 16 of a kind, counted by kind.
    pub findings_omitted: Vec<Omitted>,
    /// Rules this recording could not judge (their tier lacks what they need), and why.
    pub findings_skipped: Vec<Skipped>,
}

/// Thundering herds: one readiness event (a socket's `sk_data_ready`, or the ready-list
/// callbacks of one wake-up of a file) that woke two or more blocked waiters.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct HerdReport {
    pub events: u64,
    /// Waiters woken by those events.
    pub waiters_woken: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ThreadReport {
    pub pid: u32,
    pub tid: u32,
    pub comm: Option<String>,
    pub epoll_ctl: u64,
    pub waits: WaitReport,
    /// Wake-ups while blocked (socket and callback tiers); `null` without wake-up probes.
    pub wakeups: Option<WakeupReport>,
}

/// How the thread's waits that blocked were woken (`sched_waking`, `sched_switch`).
#[derive(Clone, Debug, Serialize)]
pub struct WakeupReport {
    /// The tier the figures come from.
    pub tier: String,
    /// Finished waits during which the thread slept and was woken.
    pub slept: u64,
    /// Finished waits that never slept (something was ready at entry, or a zero timeout).
    pub without_sleeping: u64,
    /// How the waits that slept ended.
    pub by_cause: WakeCauses,
    /// Readiness wake-ups whose fd is known (its readiness was observed by the tier).
    pub attributed: u64,
    /// Wake-ups that did not end the wait (the thread slept again, e.g. another waiter took
    /// the event first), or came after the recording's last record of the thread.
    pub spurious: u64,
    /// Wake-ups by a readiness event that woke other waiters too (thundering herd).
    pub herd: u64,
    /// From the wake-up that ended a wait to the thread running again.
    pub wake_to_run_ns: DurationSummary,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct WakeCauses {
    pub readiness: u64,
    pub timeout: u64,
    pub signal: u64,
    pub other: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct WaitReport {
    pub calls: u64,
    pub by_syscall: BTreeMap<&'static str, u64>,
    /// Calls that returned events (epoll) or ready fds (poll family).
    pub ready: u64,
    /// Calls with a non-zero timeout that expired.
    pub timeouts: u64,
    /// Calls with a zero timeout that found nothing ready: polls, not waits.
    pub polls: u64,
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
    /// The same fds added up by kind and by whether they were closed during the recording
    /// (unmapped entries left out), most delivered first: a server's thousands of short-lived
    /// connections in one line.
    pub by_kind: Vec<FdGroupReport>,
}

/// Fds of one kind, all closed during the recording or all still open at its end.
#[derive(Clone, Debug, Serialize)]
pub struct FdGroupReport {
    pub kind: &'static str,
    pub closed: bool,
    /// Fd generations in the group.
    pub fds: u64,
    pub delivered: u64,
    pub masks: MaskCounts,
    pub ctl: CtlCounts,
    /// Readiness of the group's fds added up (their ready→delivered samples merged, `pending`
    /// counting fds); `null` as for each fd.
    pub readiness: Option<FdReadiness>,
}

#[derive(Clone, Debug, Serialize)]
pub struct FdReport {
    /// -1 for events whose `data` matched no known interest entry.
    pub fd: i32,
    pub generation: u32,
    /// The unmatched `data` value of an fd -1 entry; `null` otherwise.
    pub data: Option<u64>,
    pub kind: &'static str,
    /// The fd was closed (or replaced by `dup2`/`dup3`) during the recording; false for fds
    /// still open at its end and for unmapped entries.
    pub closed: bool,
    pub delivered: u64,
    pub masks: MaskCounts,
    pub ctl: FdCtlReport,
    /// Callback-tier figures; `null` in other tiers and for unmapped entries.
    pub readiness: Option<FdReadiness>,
}

/// When the fd became ready and how long delivery took (callback tier; socket tier for
/// sockets).
#[derive(Clone, Debug, Serialize)]
pub struct FdReadiness {
    /// The tier these figures come from: `"callback"` or `"socket"`.
    pub tier: String,
    /// True in the socket tier: readiness there is a socket receiving data or a connection
    /// (`sk_data_ready`), credited to every registration listening for input (with
    /// `EPOLLEXCLUSIVE` the kernel queues it on some of them only); writability is not seen.
    pub approximate: bool,
    /// Readiness reports: `ep_poll_callback` calls that queued the fd (or found it queued), or
    /// `sk_data_ready` calls of the socket.
    pub ready: u64,
    /// From the first readiness not yet delivered to the return of the wait that delivered the
    /// fd, one sample per such delivery.
    pub ready_to_delivered_ns: DurationSummary,
    /// Readiness reports that found an earlier one still waiting for pickup.
    pub coalesced: u64,
    /// Readiness never delivered: the fd was closed or removed first.
    pub undelivered: u64,
    /// Readiness still waiting for pickup when recording ended (0 or 1).
    pub pending: u64,
    /// Blocked waiters this fd's readiness woke (with wake-up probes).
    pub woke: u64,
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

/// The tiers with readiness figures.
pub const CALLBACK_TIER: &str = "callback";
pub const SOCKET_TIER: &str = "socket";
