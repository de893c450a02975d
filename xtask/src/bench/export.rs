//! The export benchmark: how fast `uprof report FILE --format hdrlog -o OUT` turns a big
//! recording into its export, and that its peak RSS does not grow with the recording: the
//! same export of the recording's first half (a copy cut there, read up to its last complete
//! chunk) must peak as high. (A smaller part is not past the reader's and the
//! reconstruction's warm-up: the first eighth of the pipeline recording peaks 8 MiB lower,
//! with `--format json` as with the hdrlog.)

use std::fs::File;
use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result};

use super::pipeline::Recording;
use super::procs::{Spawned, describe};
use super::stats::{median, mib, millions};
use super::{Bench, Target};

/// The target: records exported per second.
const TARGET_RATE: f64 = 3e6;
/// The target: peak RSS, in bytes, whatever the recording's size.
const TARGET_RSS: u64 = 64 << 20;
/// How much higher the whole recording's peak RSS may be than its half's and still count as
/// independent of the size: allocator noise.
const RSS_SLACK: u64 = 2 << 20;

/// `uprof report IN --format FORMAT -o OUT`.
fn export_command(bench: &Bench, input: &Path, format: &str, out: &Path) -> Command {
    let mut cmd = Command::new(&bench.uprof);
    cmd.arg("report")
        .arg(input)
        .args(["--format", format, "-o"])
        .arg(out)
        .stdout(Stdio::null());
    cmd
}

/// Median wall time and peak RSS of `runs` runs of `cmd`.
fn measure(cmd: &mut Command, runs: usize) -> Result<(f64, u64)> {
    let mut seconds = Vec::new();
    let mut peak_rss = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let finished = Spawned::start(cmd)?.finish()?;
        seconds.push(start.elapsed().as_secs_f64());
        peak_rss = peak_rss.max(finished.max_rss);
    }
    Ok((median(&seconds), peak_rss))
}

/// Runs the export benchmark on `recording` and returns its targets.
pub fn run(bench: &Bench, recording: &Recording) -> Result<Vec<Target>> {
    let out = bench.scratch("export.hlog");
    let size = std::fs::metadata(&recording.path)?.len();
    let half = bench.scratch("export-half.uprof");
    std::io::copy(
        &mut File::open(&recording.path)?.take(size / 2),
        &mut File::create(&half)?,
    )
    .context("copying the recording's first half")?;

    let mut whole = export_command(bench, &recording.path, "hdrlog", &out);
    println!(
        "== export: {}, {} records ({:.0} MiB), median of {} runs",
        describe(&whole),
        recording.records,
        mib(size),
        bench.plan.report_runs
    );
    let (seconds, peak) = measure(&mut whole, bench.plan.report_runs)?;
    let exported = std::fs::metadata(&out)?.len();
    let rate = recording.records as f64 / seconds;
    let (_, half_peak) = measure(&mut export_command(bench, &half, "hdrlog", &out), 1)?;
    std::fs::remove_file(&half).context("removing the cut recording")?;
    std::fs::remove_file(&out).context("removing the export")?;
    println!(
        "   hdrlog: {seconds:.3} s: {:.2} M records/s, {:.0} MiB/s, {:.1} KiB written; peak RSS \
         {:.1} MiB (first half of the recording: {:.1} MiB)\n",
        millions(rate),
        mib(size) / seconds,
        exported as f64 / 1024.0,
        mib(peak),
        mib(half_peak)
    );
    Ok(vec![
        Target {
            what: "export hdrlog: records/s".into(),
            goal: ">= 3 M/s",
            measured: format!("{:.2} M/s", millions(rate)),
            met: rate >= TARGET_RATE,
        },
        Target {
            what: "export hdrlog: peak RSS, whole vs half".into(),
            goal: "same, < 64 MiB",
            measured: format!("{:.1} vs {:.1} MiB", mib(peak), mib(half_peak)),
            met: peak < TARGET_RSS && peak <= half_peak + RSS_SLACK,
        },
    ])
}
