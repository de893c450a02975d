//! `uprof report`, and the output shared with `uprof record`'s end-of-recording report.
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context as _, Result};
use uprof_analysis::stream::Reconstructor;
use uprof_analysis::{Analyzer, Coverage, Report, SessionInfo};
use uprof_output::RecordingStart;
use uprof_record::{Reader, SessionEnd, SessionHeader};

use crate::cli::{Format, OutputArgs, ReportArgs};

/// Streams the recording's records through the reconstruction into the chosen printer.
pub fn run(args: &ReportArgs) -> Result<()> {
    let mut reader = Reader::open(&args.file)?;
    let out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    let output = &args.output_format;
    let options = output.options(recording_start(reader.header()));
    let mut printer = output.format().printer(&options, out);
    let mut stream = Reconstructor::new();
    let mut last_ts = reader.header().start_ts;
    let summary = reader.for_each_record(|record| {
        last_ts = last_ts.max(record.header().ts);
        stream.push(record, &mut *printer);
    })?;
    let warning = summary.warning();
    if let Some(warning) = &warning {
        eprintln!("uprof: warning: {}: {warning}", args.file.display());
    }
    stream.finish(&mut *printer);
    let info = SessionInfo {
        incomplete: warning,
        ..session_info(reader.header(), summary.end.as_ref(), last_ts)
    };
    printer.finish(&info).context("cannot write the report")
}

/// What the outputs need to know of a recording before its records.
pub fn recording_start(header: &SessionHeader) -> RecordingStart {
    RecordingStart {
        start_ts: header.start_ts,
        realtime_offset_ns: header.boot_offset_ns,
        coverage: Coverage::of(&session_info(header, None, header.start_ts)),
    }
}

/// Reads a recording and analyses it; a damaged file's warning goes to stderr.
pub(crate) fn analyze(file: &Path) -> Result<Report> {
    let mut reader = Reader::open(file)?;
    let mut analyzer = Analyzer::new();
    let mut last_ts = reader.header().start_ts;
    let summary = reader.for_each_record(|record| {
        last_ts = last_ts.max(record.header().ts);
        analyzer.push(record);
    })?;
    let warning = summary.warning();
    if let Some(warning) = &warning {
        eprintln!("uprof: warning: {}: {warning}", file.display());
    }
    let info = SessionInfo {
        incomplete: warning,
        ..session_info(reader.header(), summary.end.as_ref(), last_ts)
    };
    Ok(analyzer.finish(&info))
}

/// What the analysis needs to know of the session. Without an end (a crash), the session ends
/// with its last record.
pub fn session_info(header: &SessionHeader, end: Option<&SessionEnd>, last_ts: u64) -> SessionInfo {
    let end_ts = end.map_or(last_ts, |e| e.end_ts);
    SessionInfo {
        duration_ns: end_ts.saturating_sub(header.start_ts),
        // The analysis learns whether wake-ups were recorded from the probe list (it looks for
        // the wake-up probe): the header's own field decides.
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

/// Prints an analysed report (`uprof record`'s report at the end of a live recording).
pub fn print(report: &Report, output: &OutputArgs) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match output.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report.to_json())?),
        Format::Table => report.render_text(&mut out, output.options(Default::default()).text),
        // The log was the output, written while recording.
        Format::Hdrlog => Ok(()),
    }
    .context("cannot write the report")
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

    /// The analysis still takes the tier by name and learns of wake-ups from the probe list:
    /// both follow the header's typed fields.
    #[test]
    fn the_analysis_sees_the_headers_tier_and_wakeups() {
        let info = session_info(&header(true), None, 30);
        assert_eq!((info.tier.as_str(), info.duration_ns), ("socket", 20));
        assert!(info.probes.iter().any(|p| p == "tp_btf:sched_waking"));
        let info = session_info(&header(false), None, 30);
        assert_eq!(info.probes, ["syscalls:sys_exit_epoll_wait"]);
    }
}
