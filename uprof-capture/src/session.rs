//! What a session says about itself: the header stored at the start of a record file.
use uprof_record::{ProbeInfo, SessionHeader, Target};
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
                kind: p.kind,
                attached: p.attached,
                note: p.note.clone(),
            })
            .collect(),
        tier: tracer.tier(),
        wakeups: tracer.wakeups(),
        clock: "CLOCK_MONOTONIC".to_owned(),
        boot_offset_ns: clock::boot_offset_ns(),
        start_ts: clock::monotonic_ns(),
        target: Target {
            command: command.map(<[String]>::to_vec),
            pids: pids.to_vec(),
        },
    }
}
