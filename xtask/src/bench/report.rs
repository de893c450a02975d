//! The report benchmark: how fast `uprof report --format json` reads a big recording.

use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::Result;

use super::pipeline::Recording;
use super::procs::{Spawned, describe};
use super::stats::{median, mib, millions};
use super::{Bench, Target};

/// The target: records read per second.
const TARGET_RATE: f64 = 5e6;

/// Runs the report benchmark on `recording` and returns its target.
pub fn run(bench: &Bench, recording: &Recording) -> Result<Vec<Target>> {
    let mut cmd = Command::new(&bench.uprof);
    cmd.arg("report")
        .arg(&recording.path)
        .args(["--format", "json"])
        .stdout(Stdio::null());
    let size = std::fs::metadata(&recording.path)?.len();
    println!(
        "== report: {} > /dev/null, {} records ({:.0} MiB), median of {} runs",
        describe(&cmd),
        recording.records,
        mib(size),
        bench.plan.report_runs
    );
    let mut seconds = Vec::new();
    let mut peak_rss = 0;
    for _ in 0..bench.plan.report_runs {
        let start = Instant::now();
        let finished = Spawned::start(&mut cmd)?.finish()?;
        seconds.push(start.elapsed().as_secs_f64());
        peak_rss = peak_rss.max(finished.max_rss);
    }
    let seconds = median(&seconds);
    let rate = recording.records as f64 / seconds;
    println!(
        "   {seconds:.3} s: {:.2} M records/s, {:.0} MiB/s; peak RSS {:.1} MiB\n",
        millions(rate),
        mib(size) / seconds,
        mib(peak_rss)
    );
    Ok(vec![Target {
        what: "report: records/s read".into(),
        goal: ">= 5 M/s",
        measured: format!("{:.2} M/s", millions(rate)),
        met: rate >= TARGET_RATE,
    }])
}
