//! `uprof report`, and the output shared with `uprof record`'s end-of-recording report.
use std::fs::File;
use std::io::{BufWriter, IsTerminal as _, Write};
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use clap::ValueEnum as _;
use uprof_analysis::findings::Thresholds;
use uprof_analysis::stream::Reconstructor;
use uprof_analysis::{Analyzer, Report, SessionInfo};
use uprof_output::Source;
use uprof_record::Reader;

use crate::cli::{Format, OutputArgs, ReportArgs};
use crate::say::say;

/// Streams the recording's records through the reconstruction into the chosen printer.
pub fn run(args: &ReportArgs) -> Result<()> {
    // The recording is checked before -o is created: a bad input leaves no empty output.
    let mut reader = Reader::open(&args.file)?;
    let output = &args.output_format;
    let out = destination(args)?;
    let options = uprof_output::Options {
        findings: args.findings.thresholds(),
        ..output.options(Source::of(reader.header()))
    };
    let mut printer = output.format().printer(&options, out);
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
    let info = SessionInfo::of_recording(reader.header(), &summary, last_ts);
    printer.finish(&info).context("cannot write the report")
}

/// Where the report goes: `-o FILE` (created now, before any work), else stdout, which a binary
/// format refuses when it is a terminal.
fn destination(args: &ReportArgs) -> Result<Box<dyn Write>> {
    let format = args.output_format.format;
    let out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            File::create(path).with_context(|| format!("cannot write {}", path.display()))?,
        ),
        None if uprof_output::Format::from(format).is_binary()
            && std::io::stdout().is_terminal() =>
        {
            bail!(
                "--format {} is binary: write it to a file with -o FILE (or redirect stdout)",
                format_name(format)
            )
        }
        None => Box::new(std::io::stdout().lock()),
    };
    Ok(Box::new(BufWriter::with_capacity(1 << 16, out)))
}

/// A format's name on the command line.
fn format_name(format: Format) -> String {
    format
        .to_possible_value()
        .map_or_else(|| format!("{format:?}"), |v| v.get_name().to_owned())
}

/// Reads a recording and analyses it; a damaged file's warning goes to stderr.
pub(crate) fn analyze(file: &Path, findings: Thresholds) -> Result<Report> {
    let mut reader = Reader::open(file)?;
    let mut analyzer = Analyzer::with_thresholds(findings);
    let mut last_ts = reader.header().start_ts;
    let summary = reader.for_each_record(|record| {
        last_ts = last_ts.max(record.header().ts);
        analyzer.push(record);
    })?;
    if let Some(warning) = summary.warning() {
        say!("uprof: warning: {}: {warning}", file.display());
    }
    let info = SessionInfo::of_recording(reader.header(), &summary, last_ts);
    Ok(analyzer.finish(&info))
}

/// `uprof record` without `-o` prints the summary of what it recorded at the end (table or
/// JSON, with `--interval` rows as it goes) or streams the hdrlog: not the formats made from
/// the recording's whole event stream.
pub fn check_live(output: &OutputArgs) -> Result<()> {
    match output.format {
        Format::Table | Format::Json | Format::Hdrlog => Ok(()),
        format => bail!(
            "uprof record prints a table or JSON: for --format {0}, record to a file with -o FILE, \
             then run `uprof report FILE --format {0} -o OUT`",
            format_name(format)
        ),
    }
}

/// Prints an analysed report (`uprof record`'s report at the end of a live recording).
pub fn print(report: &Report, output: &OutputArgs) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match output.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report.to_json())?),
        Format::Table => report.render_text(&mut out, output.options(Source::default()).text),
        // Streamed while recording: no report at the end.
        Format::Hdrlog | Format::Perfetto => Ok(()),
    }
    .context("cannot write the report")
}
