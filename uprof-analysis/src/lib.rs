//! Reconstructs event-loop behaviour from uprof records: per thread (how its waits end, how
//! long it blocks, how long each tick's work takes), per epoll instance and per fd (what the
//! interest list holds, what was delivered, how `epoll_ctl` went).
//!
//! Feed every record to an [`Analyzer`], then [`Analyzer::finish`] it into a [`Report`], which
//! serialises to JSON ([`Report::to_json`], schema in `docs/json-schema.md`) and renders as text
//! ([`Report::render_text`]).
//!
//! Identities: an epoll instance is `(pid, epfd, generation)` and an fd is `(pid, fd,
//! generation)`; the generation of an fd number changes when it is closed, replaced by
//! `dup2`/`dup3`, or returned by `epoll_create`, so a reused number is a separate entry.
mod analyzer;
mod compare;
mod epoll;
mod errno;
mod process;
mod reorder;
mod report;
mod stats;
pub mod synth;
mod text;
mod thread;
mod wakeup;

pub use analyzer::Analyzer;
pub use compare::{
    COMPARE_SCHEMA, Comparison, LoopFigures, LoopThread, Percentiles, Rate, Recording,
};
pub use epoll::{CtlCounts, MaskCounts};
pub use reorder::REORDER_WINDOW_NS;
pub use report::{
    CALLBACK_TIER, EpollReport, FdCtlReport, FdReadiness, FdReport, HerdReport, Report, SCHEMA,
    SOCKET_TIER, ScanReport, ThreadReport, WaitReport, WakeCauses, WakeupReport,
};
pub use stats::{Bucket, CountSummary, DurationSummary};
pub use text::terminal_safe;

/// What the recorder knows about the session, beyond the records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionInfo {
    pub duration_ns: u64,
    /// Names of the probes that were attached.
    pub probes: Vec<String>,
    /// Which set of probes was used (as the recorder names it).
    pub tier: String,
    /// The command uprof started, if it started one.
    pub command: Option<Vec<String>>,
    /// The processes traced.
    pub pids: Vec<u32>,
    /// Records the kernel dropped, as counted by the recorder.
    pub lost_events: u64,
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
