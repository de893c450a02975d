//! What a record file says about its recording session, stored as JSON in the `HEAD` and `END `
//! chunks. Fields may be added (with `#[serde(default)]`, so older files still read); readers
//! ignore fields they do not know, so older builds read newer files of the same format version.
use serde::{Deserialize, Serialize};

/// Describes the recording: written first, so even a file cut short after it says what it is.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SessionHeader {
    /// The file's format version; [`crate::Writer::create`] sets it to [`crate::FORMAT_VERSION`].
    pub format_version: u16,
    /// Version of the uprof that recorded.
    pub uprof_version: String,
    /// `uname -r` of the recording machine.
    pub kernel_release: String,
    pub hostname: String,
    /// Every probe uprof tried to attach, attached or not.
    pub probes: Vec<ProbeInfo>,
    /// The tracing tier in use (which probe set the kernel allowed).
    pub tier: String,
    /// Clock of every record timestamp: `"CLOCK_MONOTONIC"`.
    pub clock: String,
    /// `CLOCK_REALTIME - CLOCK_MONOTONIC` at the start, in nanoseconds: adding it to a record
    /// timestamp gives wall-clock time.
    pub boot_offset_ns: i64,
    /// `CLOCK_MONOTONIC` nanoseconds when recording started.
    pub start_ts: u64,
    pub target: Target,
}

/// One probe and whether it could be attached.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ProbeInfo {
    pub name: String,
    /// `"tracepoint"`, `"fentry"`, `"kprobe"`, ...
    pub kind: String,
    pub attached: bool,
    /// Why it was not attached, or anything else worth knowing.
    pub note: Option<String>,
}

/// What was traced.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Target {
    /// The command uprof started, if it started one.
    pub command: Option<Vec<String>>,
    /// The processes traced from the start (those uprof started or attached to).
    pub pids: Vec<u32>,
}

/// How the recording ended: the last chunk of a file whose recorder finished.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SessionEnd {
    /// `CLOCK_MONOTONIC` nanoseconds when recording stopped.
    pub end_ts: u64,
    /// Records in the file; [`crate::Writer::finish`] sets it to the number it wrote.
    pub records: u64,
    /// Records the kernel could not deliver (ring buffer full).
    pub lost_events: u64,
    /// Why recording stopped, e.g. `"target exited"`, `"interrupted"`.
    pub reason: String,
}
