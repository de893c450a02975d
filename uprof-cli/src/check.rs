//! `uprof check`: a recording's findings, and an exit status a CI can assert on.
use std::io::Write as _;
use std::process::ExitCode;

use anyhow::{Context as _, Result};

use crate::cli::CheckArgs;
use crate::report::analyze;

/// How a check ended (an error that stops it is an `Err` instead).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No finding reached `--fail-on`.
    Pass,
    /// At least one did.
    Fail,
}

impl Verdict {
    /// The exit status; documented in the command's help.
    pub fn exit_code(self) -> ExitCode {
        match self {
            Verdict::Pass => ExitCode::SUCCESS,
            Verdict::Fail => ExitCode::from(3),
        }
    }
}

pub fn run(args: &CheckArgs) -> Result<Verdict> {
    let report = analyze(&args.file, args.findings.thresholds())?;
    let mut out = std::io::stdout().lock();
    report
        .render_findings(&mut out, args.all)
        .and_then(|()| out.flush())
        .context("cannot write the findings")?;
    let level = args.fail_on.severity();
    Ok(if report.findings.iter().any(|f| f.severity >= level) {
        Verdict::Fail
    } else {
        Verdict::Pass
    })
}
