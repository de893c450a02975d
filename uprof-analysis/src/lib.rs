//! Reconstructs event-loop behaviour from uprof records.
//!
//! At the centre is the [`stream`]: a [`stream::Reconstructor`] turns records into a
//! time-ordered stream of typed events (waits with the fds they delivered, readiness, wake-ups,
//! herds, interest-list changes, thread life), and every output is a [`stream::Consumer`] of
//! it. The [`Summary`] consumer adds the events up per thread (how its waits end, how long it
//! blocks, how long each tick's work takes), per epoll instance and per fd (what was delivered,
//! how `epoll_ctl` went) into a [`Report`], which serialises to JSON ([`Report::to_json`],
//! schema in `docs/json-schema.md`) and renders as text ([`Report::render_text`]).
//! [`Analyzer`] is the two together. The [`intervals`] consumers cut the stream into intervals
//! of time (per thread: waits, events, blocked and busy time, ready→delivered latency).
//!
//! Identities: an epoll instance is `(pid, epfd, generation)` and an fd is `(pid, fd,
//! generation)`; the generation of an fd number changes when it is closed, replaced by
//! `dup2`/`dup3`, or returned by `epoll_create`, so a reused number is a separate entry.
mod compare;
mod errno;
pub mod findings;
pub mod intervals;
mod report;
mod session;
mod stats;
pub mod stream;
mod summary;
pub mod synth;
mod text;

pub use compare::{
    COMPARE_SCHEMA, Comparison, LoopFigures, LoopThread, Percentiles, Rate, Recording,
};
pub use errno::name as errno_name;
pub use report::{
    CALLBACK_TIER, EpollReport, FdCtlReport, FdGroupReport, FdReadiness, FdReport, HerdReport,
    Report, SCHEMA, SOCKET_TIER, ScanReport, ThreadReport, WaitReport, WakeCauses, WakeupReport,
};
pub use session::{Incomplete, SessionInfo};
pub use stats::{Bucket, CountSummary, DurationSummary};
pub use stream::REORDER_WINDOW_NS;
pub use summary::{CtlCounts, MaskCounts, Summary};
pub use text::{TextOptions, duration as human_duration, terminal_safe};

use uprof_common::Record;

/// Records in, [`Report`] out: a [`stream::Reconstructor`] feeding a [`Summary`].
///
/// ```
/// use uprof_analysis::{Analyzer, SessionInfo};
/// let analyzer = Analyzer::new();
/// // analyzer.push(&record) for every record, then:
/// let report = analyzer.finish(&SessionInfo::default());
/// assert!(report.threads.is_empty());
/// ```
#[derive(Default)]
pub struct Analyzer {
    stream: stream::Reconstructor,
    summary: Summary,
}

impl Analyzer {
    pub fn new() -> Self {
        Self::default()
    }

    /// An analyzer whose findings are judged by `limits`.
    pub fn with_thresholds(limits: findings::Thresholds) -> Self {
        Self {
            stream: stream::Reconstructor::new(),
            summary: Summary::with_thresholds(limits),
        }
    }

    /// Adds one record (see [`stream::Reconstructor::push`] for the order records may come in).
    pub fn push(&mut self, rec: &Record) {
        self.stream.push(rec, &mut self.summary);
    }

    /// Processes the records still held back and builds the report.
    pub fn finish(mut self, info: &SessionInfo) -> Report {
        self.stream.finish(&mut self.summary);
        self.summary.finish(info)
    }
}

/// What a session's tier and probes let the analysis say.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Readiness was observed (callback tier: every fd; socket tier: sockets), so
    /// ready→delivered latencies exist.
    pub readiness: bool,
    /// Wake-ups of blocked waiters were followed (wake-up counts, herds).
    pub wakeups: bool,
}

impl Coverage {
    /// The probe whose presence means wake-ups were recorded.
    const WAKE_PROBE: &str = "tp_btf:sched_waking";

    pub fn of(info: &SessionInfo) -> Self {
        Self {
            readiness: info.tier == CALLBACK_TIER || info.tier == SOCKET_TIER,
            wakeups: info.probes.iter().any(|p| p == Self::WAKE_PROBE),
        }
    }
}

/// Which tables [`Report::render_text`] prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum View {
    /// The per-thread table.
    Threads,
    /// The per-epoll, per-fd tables.
    Fds,
    /// Both.
    #[default]
    All,
}
