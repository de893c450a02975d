//! `uprof compare`: several recordings side by side (the figures come from
//! `uprof_analysis::Comparison`).
use std::io::Write;
use std::path::Path;

use anyhow::{Context as _, Result, ensure};
use uprof_analysis::{Comparison, Recording, Report};
use uprof_output::Source;
use uprof_output::html::{self, Collector};
use uprof_record::Reader;

use crate::cli::{CompareArgs, CompareFormat};
use crate::report::{analyze, destination, format_name, stream};

pub fn run(args: &CompareArgs) -> Result<()> {
    let files = &args.files;
    for (option, given) in [
        ("--name", args.name.len()),
        ("--requests", args.requests.len()),
    ] {
        ensure!(
            given == 0 || given == files.len(),
            "{option} has {given} values for {} files: give one per file, in order",
            files.len()
        );
    }
    let names: Vec<String> = match args.name.as_slice() {
        [] => files.iter().map(|f| stem(f)).collect(),
        names => names.to_vec(),
    };
    // The files are checked before -o is created (a bad input leaves no empty output), and -o
    // before any work. The reader's errors name the file.
    for file in files {
        Reader::open(file)?;
    }
    let unfit = (args.format == CompareFormat::Html)
        .then(|| format!("--format {} is a web page", format_name(args.format)));
    let mut out = destination(args.output.as_deref(), unfit)?;
    match args.format {
        CompareFormat::Json | CompareFormat::Table => {
            let reports = files
                .iter()
                .map(|file| analyze(file, args.findings.thresholds()))
                .collect::<Result<Vec<_>>>()?;
            let reports: Vec<&Report> = reports.iter().collect();
            let comparison = Comparison::new(&recordings(&reports, &names, args));
            if args.format == CompareFormat::Json {
                let json = serde_json::to_string_pretty(&comparison.to_json())?;
                writeln!(out, "{json}")
            } else {
                comparison.render_text(&mut out)
            }
        }
        CompareFormat::Html => {
            // Each file's one stream gives both its report and its plots.
            let collected = files
                .iter()
                .map(|file| {
                    let (collector, info) = stream(file, |header| {
                        Ok(Box::new(Collector::new(
                            &Source::of(header),
                            None,
                            args.findings.thresholds(),
                        )))
                    })?;
                    Ok(collector.finish(&info))
                })
                .collect::<Result<Vec<_>>>()?;
            let reports: Vec<&Report> = collected.iter().map(|c| c.report()).collect();
            let comparison = Comparison::new(&recordings(&reports, &names, args));
            let pages: Vec<(&str, &html::Collected)> =
                names.iter().map(String::as_str).zip(&collected).collect();
            html::write_comparison(&pages, &comparison, &mut out)
        }
    }
    .and_then(|()| out.flush())
    .context("cannot write the comparison")
}

/// The recordings to compare: each report with its name and request count, in order.
fn recordings<'a>(
    reports: &[&'a Report],
    names: &'a [String],
    args: &CompareArgs,
) -> Vec<Recording<'a>> {
    reports
        .iter()
        .zip(names)
        .enumerate()
        .map(|(i, (report, name))| Recording {
            name,
            report,
            requests: args.requests.get(i).copied().flatten(),
        })
        .collect()
}

/// A recording's default column name: its file name without the extension.
fn stem(file: &Path) -> String {
    file.file_stem()
        .unwrap_or(file.as_os_str())
        .to_string_lossy()
        .into_owned()
}
