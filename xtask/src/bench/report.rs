//! The report benchmarks: how fast `uprof report` reads a big recording and turns it into each
//! output, and with how much memory.
//!
//! `run` measures the JSON report and the Perfetto export on the pipeline benchmark's
//! recording (flat-out zero-timeout waits: the export's worst case, four packets per record);
//! `run_exports` measures both, and the HTML page, on synthetic recordings of a busy server
//! (`synthetic`) of two sizes, to show each export's rate beside the JSON report's and that
//! its memory does not grow with the recording.
//! Both also time the JSON report with every finding silenced (`--silence` of every kind: the
//! findings engine runs no rule), the baseline of what findings add to the report's time.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::Result;
use uprof_analysis::findings::Kind;

use super::pipeline::Recording;
use super::procs::{Spawned, describe};
use super::stats::{median, mib, millions};
use super::synthetic;
use super::{Bench, Target};

/// Records per second the JSON report reads.
const REPORT_RATE: f64 = 5e6;
/// Records per second an export reads, and its memory ceiling.
const EXPORT_RATE: f64 = 3e6;
const EXPORT_RSS: u64 = 64 << 20;
/// What findings may add to the report's CPU time.
const FINDINGS_COST: f64 = 0.10;

/// Runs the report benchmark on `recording` and returns its target.
pub fn run(bench: &Bench, recording: &Recording) -> Result<Vec<Target>> {
    let json = measure(bench, recording, Output::Json)?;
    let baseline = measure(bench, recording, Output::JsonWithoutFindings)?;
    measure(bench, recording, Output::Perfetto)?;
    Ok(vec![
        Target {
            what: "report: records/s read".into(),
            goal: ">= 5 M/s",
            measured: format!("{:.2} M/s", millions(json.rate)),
            met: json.rate >= REPORT_RATE,
        },
        findings_cost("pipeline recording", &json, &baseline),
    ])
}

/// What findings add to the JSON report's CPU time.
fn findings_cost(on: &str, with: &Measured, without: &Measured) -> Target {
    let added = with.cpu / without.cpu - 1.0;
    println!(
        "   findings: report CPU {:.3} s with them, {:.3} s without: {:+.1} %\n",
        with.cpu,
        without.cpu,
        added * 100.0
    );
    Target {
        what: format!("findings: added report time ({on})"),
        goal: "< 10 %",
        measured: format!("{:+.1} %", added * 100.0),
        met: added < FINDINGS_COST,
    }
}

/// Runs the export benchmark on synthetic recordings of an eighth of the planned size and of
/// the full size; returns its targets (rate and memory on the full one).
pub fn run_exports(bench: &Bench) -> Result<Vec<Target>> {
    let mut measured = Vec::new();
    let mut pages = Vec::new();
    for (name, bytes) in [
        ("server-small.uprof", bench.plan.export_bytes / 8),
        ("server.uprof", bench.plan.export_bytes),
    ] {
        let path = bench.scratch(name);
        let start = Instant::now();
        let records = synthetic::write(&path, bytes)?;
        println!(
            "== synthetic recording of a busy server: {} records, {:.0} MiB, written in {:.1} s",
            records,
            mib(std::fs::metadata(&path)?.len()),
            start.elapsed().as_secs_f64()
        );
        let recording = Recording { path, records };
        let json = measure(bench, &recording, Output::Json)?;
        let baseline = measure(bench, &recording, Output::JsonWithoutFindings)?;
        let perfetto = measure(bench, &recording, Output::Perfetto)?;
        let html = measure(bench, &recording, Output::Html)?;
        println!(
            "   html: {:.2}x the JSON report's rate ({:.2}x per CPU second)\n",
            html.rate / json.rate,
            html.cpu_rate / json.cpu_rate
        );
        pages.push(html);
        measured.push((perfetto, json, baseline));
        std::fs::remove_file(&recording.path)?;
    }
    let ((small, _, _), (big, json, baseline)) = (&measured[0], &measured[1]);
    println!(
        "   perfetto peak RSS: {:.1} MiB on the small recording, {:.1} MiB on the one 8x larger\n",
        mib(small.peak_rss),
        mib(big.peak_rss)
    );
    let (small_page, page) = (&pages[0], &pages[1]);
    println!(
        "   html peak RSS: {:.1} MiB on the small recording, {:.1} MiB on the one 8x larger\n",
        mib(small_page.peak_rss),
        mib(page.peak_rss)
    );
    Ok(vec![
        // The page holds the report: the JSON report of the same recording is its baseline.
        Target {
            what: "html export: per CPU s, vs JSON report".into(),
            goal: ">= 0.9x",
            measured: format!(
                "{:.2} vs {:.2} M/s",
                millions(page.cpu_rate),
                millions(json.cpu_rate)
            ),
            met: page.cpu_rate >= 0.9 * json.cpu_rate,
        },
        Target {
            what: "html export: peak RSS, vs JSON report".into(),
            goal: "<= JSON's",
            measured: format!("{:.1} vs {:.1} MiB", mib(page.peak_rss), mib(json.peak_rss)),
            met: page.peak_rss <= json.peak_rss,
        },
        findings_cost("busy server", json, baseline),
        Target {
            what: "perfetto export: records/s".into(),
            goal: ">= 3 M/s",
            measured: format!("{:.2} M/s", millions(big.rate)),
            met: big.rate >= EXPORT_RATE,
        },
        Target {
            what: format!(
                "perfetto export: peak RSS ({:.0} MiB file)",
                mib(bench.plan.export_bytes)
            ),
            goal: "< 64 MiB",
            measured: format!("{:.1} MiB", mib(big.peak_rss)),
            met: big.peak_rss < EXPORT_RSS,
        },
    ])
}

#[derive(Clone, Copy)]
enum Output {
    /// `--format json > /dev/null`.
    Json,
    /// The same with every finding silenced.
    JsonWithoutFindings,
    /// `--format perfetto -o FILE` (in the scratch directory).
    Perfetto,
    /// `--format html -o FILE` (in the scratch directory).
    Html,
}

struct Measured {
    rate: f64,
    /// Median CPU seconds (user + system).
    cpu: f64,
    /// Records per CPU second.
    cpu_rate: f64,
    peak_rss: u64,
}

/// The median time of `uprof report` on `recording` over the planned runs, and its peak RSS.
fn measure(bench: &Bench, recording: &Recording, output: Output) -> Result<Measured> {
    let trace = bench.scratch(match output {
        Output::Html => "export.html",
        _ => "export.pftrace",
    });
    let mut cmd = Command::new(&bench.uprof);
    cmd.arg("report").arg(&recording.path).stdout(Stdio::null());
    match output {
        Output::Json => cmd.args(["--format", "json"]),
        Output::JsonWithoutFindings => {
            let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
            cmd.args(["--format", "json", "--silence", &kinds.join(",")])
        }
        Output::Perfetto => cmd.args(["--format", "perfetto", "-o"]).arg(&trace),
        Output::Html => cmd.args(["--format", "html", "-o"]).arg(&trace),
    };
    let size = std::fs::metadata(&recording.path)?.len();
    println!(
        "== report: {}{}, {} records ({:.0} MiB), median of {} runs",
        describe(&cmd),
        if matches!(output, Output::Json | Output::JsonWithoutFindings) {
            " > /dev/null"
        } else {
            ""
        },
        recording.records,
        mib(size),
        bench.plan.report_runs
    );
    let mut seconds = Vec::new();
    let mut cpu = Vec::new();
    let mut peak_rss = 0;
    for _ in 0..bench.plan.report_runs {
        let start = Instant::now();
        let finished = Spawned::start(&mut cmd)?.finish()?;
        seconds.push(start.elapsed().as_secs_f64());
        cpu.push(finished.cpu.as_secs_f64());
        peak_rss = peak_rss.max(finished.max_rss);
    }
    let seconds = median(&seconds);
    let cpu = median(&cpu);
    let rate = recording.records as f64 / seconds;
    println!(
        "   {seconds:.3} s: {:.2} M records/s, {:.0} MiB/s; CPU {cpu:.3} s ({:.2} M records per \
         CPU second); peak RSS {:.1} MiB{}\n",
        millions(rate),
        mib(size) / seconds,
        millions(recording.records as f64 / cpu),
        mib(peak_rss),
        trace_size(&trace)
    );
    if trace.exists() {
        std::fs::remove_file(&trace)?;
    }
    Ok(Measured {
        rate,
        cpu,
        cpu_rate: recording.records as f64 / cpu,
        peak_rss,
    })
}

/// ", trace N MiB" (", page N KiB") for an export that wrote one.
fn trace_size(trace: &Path) -> String {
    let page = trace.extension().is_some_and(|e| e == "html");
    std::fs::metadata(trace).map_or_else(
        |_| String::new(),
        |m| match page {
            true => format!(", page {:.0} KiB", m.len() as f64 / 1024.0),
            false => format!(", trace {:.0} MiB", mib(m.len())),
        },
    )
}
