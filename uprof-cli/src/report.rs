//! `uprof report`, and the output shared with `uprof record`'s end-of-recording report.
use std::fs::File;
use std::io::{BufWriter, IsTerminal as _, Write};
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use clap::ValueEnum;
use uprof_analysis::findings::Thresholds;
use uprof_analysis::stream::{Consumer, Reconstructor};
use uprof_analysis::{Report, SessionInfo, Summary};
use uprof_output::Source;
use uprof_record::{Reader, SessionHeader};

use crate::cli::{Format, OutputArgs, ReportArgs};
use crate::say::say;

/// Streams the recording's records through the reconstruction into the chosen printer.
pub fn run(args: &ReportArgs) -> Result<()> {
    let output = &args.output_format;
    let format = output.format();
    let (printer, info) = stream(&args.file, |header| {
        let out = destination(args.output.as_deref(), unfit_for_terminal(output.format))?;
        let options = uprof_output::Options {
            findings: args.findings.thresholds(),
            ..output.options(Source::of(header))
        };
        Ok(format.printer(&options, out))
    })?;
    printer.finish(&info).context("cannot write the report")
}

/// Reads the recording `file`, gives its records' events to the consumer `start` makes from
/// its header, and returns that consumer with what the recording says of itself. The file is
/// checked before `start` runs (a bad input leaves no empty output); a damaged file's warning
/// goes to stderr.
pub(crate) fn stream<C: Consumer + ?Sized>(
    file: &Path,
    start: impl FnOnce(&SessionHeader) -> Result<Box<C>>,
) -> Result<(Box<C>, SessionInfo)> {
    let mut reader = Reader::open(file)?;
    let mut consumer = start(reader.header())?;
    let mut stream = Reconstructor::new();
    let mut last_ts = reader.header().start_ts;
    let summary = reader.for_each_record(|record| {
        last_ts = last_ts.max(record.header().ts);
        stream.push(record, &mut *consumer);
    })?;
    if let Some(warning) = summary.warning() {
        say!("uprof: warning: {}: {warning}", file.display());
    }
    stream.finish(&mut *consumer);
    Ok((
        consumer,
        SessionInfo::of_recording(reader.header(), &summary, last_ts),
    ))
}

/// Where an output goes: `-o FILE` (created now, before any work), else stdout, which is
/// refused when it is a terminal and the output is `unfit` for one (the reason, e.g.
/// "--format perfetto is binary").
pub(crate) fn destination(path: Option<&Path>, unfit: Option<String>) -> Result<Box<dyn Write>> {
    let out: Box<dyn Write> = match (path, unfit) {
        (Some(path), _) => Box::new(
            File::create(path).with_context(|| format!("cannot write {}", path.display()))?,
        ),
        (None, Some(why)) if std::io::stdout().is_terminal() => {
            bail!("{why}: write it to a file with -o FILE (or redirect stdout)")
        }
        (None, _) => Box::new(std::io::stdout().lock()),
    };
    Ok(Box::new(BufWriter::with_capacity(1 << 16, out)))
}

/// Why a terminal cannot take `format`, if it cannot.
fn unfit_for_terminal(format: Format) -> Option<String> {
    let what = match uprof_output::Format::from(format) {
        f if f.is_binary() => "binary",
        f if f.is_page() => "a web page",
        _ => return None,
    };
    Some(format!("--format {} is {what}", format_name(format)))
}

/// A format's name on the command line.
pub(crate) fn format_name(format: impl ValueEnum + std::fmt::Debug) -> String {
    format
        .to_possible_value()
        .map_or_else(|| format!("{format:?}"), |v| v.get_name().to_owned())
}

/// Reads a recording and analyses it; a damaged file's warning goes to stderr.
pub(crate) fn analyze(file: &Path, findings: Thresholds) -> Result<Report> {
    let (summary, info) = stream(file, |_| Ok(Box::new(Summary::with_thresholds(findings))))?;
    Ok(summary.finish(&info))
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
        Format::Hdrlog | Format::Perfetto | Format::Html => Ok(()),
    }
    .context("cannot write the report")
}
