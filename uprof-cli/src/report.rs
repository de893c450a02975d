//! `uprof report`, and the output shared with `uprof record`'s end-of-recording report.
use std::io::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result};
use uprof_analysis::stream::Reconstructor;
use uprof_analysis::{Analyzer, Report, SessionInfo};
use uprof_record::{Reader, SessionEnd, SessionHeader};

use crate::cli::{Format, OutputArgs, ReportArgs};

/// Streams the recording's records through the reconstruction into the chosen printer.
pub fn run(args: &ReportArgs) -> Result<()> {
    let mut reader = Reader::open(&args.file)?;
    let out = Box::new(std::io::stdout().lock());
    let output = &args.output_format;
    let mut printer = output.format().printer(&output.options(), out);
    let mut stream = Reconstructor::new();
    let mut last_ts = reader.header().start_ts;
    let summary = reader.for_each_record(|record| {
        last_ts = last_ts.max(record.header().ts);
        stream.push(record, &mut *printer);
    })?;
    if let Some(warning) = summary.warning() {
        eprintln!("uprof: warning: {}: {warning}", args.file.display());
    }
    stream.finish(&mut *printer);
    let info = session_info(reader.header(), summary.end.as_ref(), last_ts);
    printer.finish(&info).context("cannot write the report")
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
    if let Some(warning) = summary.warning() {
        eprintln!("uprof: warning: {}: {warning}", file.display());
    }
    let info = session_info(reader.header(), summary.end.as_ref(), last_ts);
    Ok(analyzer.finish(&info))
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

/// Prints an analysed report (`uprof record`'s report at the end of a live recording).
pub fn print(report: &Report, output: &OutputArgs) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match output.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report.to_json())?),
        Format::Table => report.render_text(&mut out, output.options().text),
    }
    .context("cannot write the report")
}
