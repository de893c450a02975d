//! `uprof report`, and the output shared with `uprof record`'s end-of-recording report.
use std::io::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result};
use uprof_analysis::stream::Reconstructor;
use uprof_analysis::{Analyzer, Report, SessionInfo};
use uprof_record::Reader;

use crate::cli::{Format, OutputArgs, ReportArgs};
use crate::say::say;

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
        say!("uprof: warning: {}: {warning}", args.file.display());
    }
    stream.finish(&mut *printer);
    let info = SessionInfo::of_recording(reader.header(), summary.end.as_ref(), last_ts);
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
        say!("uprof: warning: {}: {warning}", file.display());
    }
    let info = SessionInfo::of_recording(reader.header(), summary.end.as_ref(), last_ts);
    Ok(analyzer.finish(&info))
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
