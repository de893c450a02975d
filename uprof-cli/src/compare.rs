//! `uprof compare`: several recordings side by side (the figures come from
//! `uprof_analysis::Comparison`).
use std::io::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result, ensure};
use uprof_analysis::{Comparison, Recording};

use crate::cli::{CompareArgs, CompareFormat};
use crate::report::analyze;

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
    // The reader's errors name the file.
    let reports = files
        .iter()
        .map(|file| analyze(file, args.findings.thresholds()))
        .collect::<Result<Vec<_>>>()?;
    let names: Vec<String> = match args.name.as_slice() {
        [] => files.iter().map(|f| stem(f)).collect(),
        names => names.to_vec(),
    };
    let recordings: Vec<Recording> = reports
        .iter()
        .zip(&names)
        .enumerate()
        .map(|(i, (report, name))| Recording {
            name,
            report,
            requests: args.requests.get(i).copied().flatten(),
        })
        .collect();
    let comparison = Comparison::new(&recordings);
    let mut out = std::io::stdout().lock();
    match args.format {
        CompareFormat::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&comparison.to_json())?
        ),
        CompareFormat::Table => comparison.render_text(&mut out),
    }
    .context("cannot write the comparison")
}

/// A recording's default column name: its file name without the extension.
fn stem(file: &Path) -> String {
    file.file_stem()
        .unwrap_or(file.as_os_str())
        .to_string_lossy()
        .into_owned()
}
