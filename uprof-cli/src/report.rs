//! `uprof report`, and the output shared with `uprof record`'s end-of-recording report.
use std::io::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result};
use uprof_analysis::{Analyzer, Report, View};
use uprof_capture::session_info;
use uprof_record::Reader;

use crate::{
    cli::{Format, OutputArgs, ReportArgs, ViewArg},
    say::say,
};

pub fn run(args: &ReportArgs) -> Result<()> {
    print(&analyze(&args.file)?, &args.output_format)
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
    let info = session_info(reader.header(), summary.end.as_ref(), last_ts);
    Ok(analyzer.finish(&info))
}

pub fn print(report: &Report, output: &OutputArgs) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match output.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report.to_json())?),
        Format::Table => {
            let view = match output.view {
                ViewArg::Threads => View::Threads,
                ViewArg::Fds => View::Fds,
                ViewArg::All => View::All,
            };
            report.render_text(&mut out, view)
        }
    }
    .context("cannot write the report")
}
