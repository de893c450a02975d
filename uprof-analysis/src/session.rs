//! What the analysis knows of a session beyond its records: from the record file's header and
//! end, or from the recorder.
use serde::Serialize;
use uprof_record::{ByteRange, PartialReason, ReadSummary, SessionEnd, SessionHeader};

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
    /// Why the recording was read only up to its last complete chunk; `None` when it was read
    /// whole (or never was a file).
    pub incomplete: Option<Incomplete>,
}

/// A recording read only up to its last complete chunk: it is damaged, or did not finish.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Incomplete {
    /// What happened, in one sentence (as `uprof report` warns).
    pub why: String,
    pub reason: PartialReason,
    /// Records read, all before the damage.
    pub records_read: u64,
    /// The bytes from the damage to the end of the file, which gave no records; `None` when
    /// nothing is damaged (the file just has no end).
    pub damaged_bytes: Option<ByteRange>,
}

impl SessionInfo {
    /// A record file read to its end or its first damage (`read`), whose last record is at
    /// `last_ts`.
    pub fn of_recording(header: &SessionHeader, read: &ReadSummary, last_ts: u64) -> Self {
        let completeness = read.completeness();
        let incomplete = completeness.reason.map(|reason| Incomplete {
            why: read.warning().unwrap_or_default(),
            reason,
            records_read: completeness.records_read,
            damaged_bytes: completeness.damaged_bytes,
        });
        SessionInfo {
            incomplete,
            ..Self::of_session(header, read.end.as_ref(), last_ts)
        }
    }

    /// A session: its header, and its end if it has one. Without an end (a crash), the session
    /// ends with its last record, at `last_ts`.
    pub fn of_session(header: &SessionHeader, end: Option<&SessionEnd>, last_ts: u64) -> Self {
        let end_ts = end.map_or(last_ts, |e| e.end_ts);
        SessionInfo {
            duration_ns: end_ts.saturating_sub(header.start_ts),
            // Wake-ups are known from the probe list: the header's own field decides.
            probes: header
                .probes
                .iter()
                .filter(|p| p.attached && (header.wakeups || !p.records_wakeups()))
                .map(|p| p.name.clone())
                .collect(),
            tier: header.tier.name().to_owned(),
            command: header.target.command.clone(),
            pids: header.target.pids.clone(),
            lost_events: end.map_or(0, |e| e.lost_events),
            incomplete: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use uprof_common::{ProbeKind, Tier};
    use uprof_record::{ProbeInfo, Target};

    use super::*;

    fn header(wakeups: bool) -> SessionHeader {
        let probe = |name: &str, kind| ProbeInfo {
            name: name.to_owned(),
            kind,
            attached: true,
            note: None,
        };
        SessionHeader {
            format_version: uprof_record::FORMAT_VERSION,
            uprof_version: "0".into(),
            kernel_release: "6.18".into(),
            hostname: "h".into(),
            probes: vec![
                probe("syscalls:sys_exit_epoll_wait", ProbeKind::Tracepoint),
                probe("tp_btf:sched_waking", ProbeKind::TpBtf),
            ],
            tier: Tier::Socket,
            wakeups,
            clock: "CLOCK_MONOTONIC".into(),
            boot_offset_ns: 0,
            start_ts: 10,
            target: Target {
                command: None,
                pids: vec![1],
            },
        }
    }

    /// The analysis takes the tier by name and learns of wake-ups from the probe list: both
    /// follow the header's typed fields.
    #[test]
    fn the_analysis_sees_the_headers_tier_and_wakeups() {
        let info = SessionInfo::of_session(&header(true), None, 30);
        assert_eq!((info.tier.as_str(), info.duration_ns), ("socket", 20));
        assert!(info.probes.iter().any(|p| p == "tp_btf:sched_waking"));
        let info = SessionInfo::of_session(&header(false), None, 30);
        assert_eq!(info.probes, ["syscalls:sys_exit_epoll_wait"]);
    }
}
