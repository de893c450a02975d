//! What a session says about itself: the header stored at the start of a record file, and what
//! the analysis needs to know of a session (from its header and end).
use uprof_analysis::SessionInfo;
use uprof_record::{ProbeInfo, SessionEnd, SessionHeader, Target};
use uprof_trace::{Tracer, clock};

/// The header of a session tracing `pids` (the started `command`'s, if any) with `tracer`.
pub fn header(tracer: &Tracer, command: Option<&[String]>, pids: &[u32]) -> SessionHeader {
    SessionHeader {
        format_version: uprof_record::FORMAT_VERSION,
        uprof_version: env!("CARGO_PKG_VERSION").to_owned(),
        kernel_release: tracer.kernel_release().to_owned(),
        hostname: std::fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap_or_default()
            .trim()
            .to_owned(),
        probes: tracer
            .probes()
            .iter()
            .map(|p| ProbeInfo {
                name: p.name.clone(),
                kind: p.kind.to_owned(),
                attached: p.attached,
                note: p.note.clone(),
            })
            .collect(),
        tier: tracer.tier().name().to_owned(),
        clock: "CLOCK_MONOTONIC".to_owned(),
        boot_offset_ns: clock::boot_offset_ns(),
        start_ts: clock::monotonic_ns(),
        target: Target {
            command: command.map(<[String]>::to_vec),
            pids: pids.to_vec(),
        },
    }
}

/// What the analysis needs to know of the session. Without an end (a crash), the session ends
/// with its last record.
pub fn session_info(header: &SessionHeader, end: Option<&SessionEnd>, last_ts: u64) -> SessionInfo {
    let end_ts = end.map_or(last_ts, |e| e.end_ts);
    SessionInfo {
        duration_ns: end_ts.saturating_sub(header.start_ts),
        probes: header
            .probes
            .iter()
            .filter(|p| p.attached)
            .map(|p| p.name.clone())
            .collect(),
        tier: header.tier.clone(),
        command: header.target.command.clone(),
        pids: header.target.pids.clone(),
        lost_events: end.map_or(0, |e| e.lost_events),
    }
}
