//! The pipeline benchmark: how many records per second uprof stores without losing any. The
//! traced process is the [`load`] generator, one wait record per call; it runs untraced for
//! comparison, then traced flat out, then traced at rising paced rates until records are lost
//! or the generator cannot keep the pace. Last, what `--interval` (interval rows printed while
//! recording) adds to uprof's CPU time at 1 M records/s.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

use super::load::{self, Done};
use super::procs::{self, Spawned, describe};
use super::stats::{median, millions};
use super::uprof::{self, Stopped};
use super::{Bench, Target};

/// The first paced rate tried, in calls per second.
const FIRST_RATE: f64 = 250_000.0;
/// Each paced step asks for this much more than the previous one.
const STEP: f64 = 1.5;
/// Paced steps at most.
const MAX_STEPS: usize = 8;
/// A step whose achieved rate falls below this share of the asked one is generator-bound.
const KEEPS_PACE: f64 = 0.9;
/// Generator threads: one per core of the test machine, since a traced call costs the
/// generator far more than the record costs uprof.
const THREADS: u64 = 2;
/// The target: records per second stored with none lost.
const TARGET_RATE: f64 = 1e6;

/// A recording kept for the report benchmark.
pub struct Recording {
    pub path: PathBuf,
    pub records: u64,
}

/// One traced run of the generator.
struct Traced {
    done: Done,
    stopped: Stopped,
    /// uprof's CPU time from the moment it traces (start-up excluded) to its exit.
    uprof_cpu: Duration,
}

impl Traced {
    /// Records stored per second of load.
    fn rate(&self) -> f64 {
        self.stopped.records as f64 / self.done.seconds
    }
}

fn untraced(load: &load::Args) -> Result<Done> {
    let mut cmd = load.command()?;
    let finished = Spawned::start(cmd.stdout(Stdio::piped()))?.finish()?;
    Done::parse(&finished.stdout)
}

/// `uprof record -o OUT <extra> -- <load>`: the generator traced from its first instruction.
fn record_command(
    bench: &Bench,
    load: &load::Args,
    out: &std::path::Path,
    extra: &[&str],
) -> Result<Command> {
    let generator = load.command()?;
    let mut cmd = Command::new(&bench.uprof);
    cmd.args(["record", "--ready-fd", &uprof::READY_FD.to_string(), "-o"])
        .arg(out)
        .args(extra)
        .arg("--")
        .arg(generator.get_program())
        .args(generator.get_args())
        .stdout(Stdio::piped());
    Ok(cmd)
}

fn traced(bench: &Bench, load: &load::Args, out: &std::path::Path) -> Result<Traced> {
    traced_with(bench, load, out, &[])
}

fn traced_with(
    bench: &Bench,
    load: &load::Args,
    out: &std::path::Path,
    extra: &[&str],
) -> Result<Traced> {
    let mut cmd = record_command(bench, load, out, extra)?;
    let ready = uprof::Ready::give_to(&mut cmd)?;
    let mut record = Spawned::start(&mut cmd)?;
    uprof::wait_attached(&mut record, ready)?;
    let start_up = procs::cpu_time(record.pid())?;
    let finished = record.finish()?;
    Ok(Traced {
        done: Done::parse(&finished.stdout)?,
        stopped: Stopped::of(out)?,
        uprof_cpu: finished.cpu.saturating_sub(start_up),
    })
}

/// The generator on `threads` threads, unpaced.
fn flat_out(bench: &Bench, threads: u64) -> load::Args {
    load::Args {
        threads,
        rate: 0,
        seconds: bench.plan.load_seconds,
    }
}

/// Records the generator running flat out on both threads: the big file the report benchmark
/// reads.
pub fn record_big(bench: &Bench) -> Result<Recording> {
    Ok(record_flat_out(bench)?.1)
}

fn record_flat_out(bench: &Bench) -> Result<(Traced, Recording)> {
    let path = bench.scratch("pipeline.uprof");
    let run = traced(bench, &flat_out(bench, THREADS), &path)?;
    let records = run.stopped.records;
    Ok((run, Recording { path, records }))
}

fn print_traced(label: &str, run: &Traced) {
    println!(
        "   {label:<24} {:>9.3} {:>11.3} {:>9} {:>12.2}",
        millions(run.done.rate()),
        millions(run.rate()),
        run.stopped.lost,
        run.uprof_cpu.as_secs_f64() * 1e6 / run.stopped.records as f64,
    );
}

/// Runs the pipeline benchmark; returns its target and the flat-out recording.
pub fn run(bench: &Bench) -> Result<(Vec<Target>, Recording)> {
    let seconds = bench.plan.load_seconds;
    let step_file = bench.scratch("pipeline-step.uprof");
    println!("== pipeline: epoll_wait(timeout 0) generator, {seconds} s per run");
    println!(
        "   traced: {}",
        describe(&record_command(
            bench,
            &flat_out(bench, THREADS),
            &step_file,
            &[]
        )?)
    );
    println!(
        "   {:<24} {:>9} {:>11} {:>9} {:>12}",
        "run", "M calls/s", "M records/s", "lost", "uprof µs/rec"
    );
    let mut untraced_one = None;
    for threads in [1, THREADS] {
        let done = untraced(&flat_out(bench, threads)).context("untraced generator")?;
        println!(
            "   {:<24} {:>9.3}",
            format!("untraced, {threads} thread(s)"),
            millions(done.rate())
        );
        untraced_one.get_or_insert(done);
    }
    let one = traced(bench, &flat_out(bench, 1), &step_file)?;
    print_traced("traced, 1 thread", &one);
    let untraced_one = untraced_one.expect("the loop ran for one thread");
    println!(
        "   (tracing adds {:.2} µs to each epoll_wait call of the traced thread)",
        1e6 / one.done.rate() - 1e6 / untraced_one.rate()
    );
    let (flat, recording) = record_flat_out(bench)?;
    print_traced(&format!("traced, {THREADS} threads"), &flat);

    // Paced steps: the best rate with nothing lost, until records are lost or the generator
    // cannot keep the pace.
    let mut sustained: f64 = [&one, &flat]
        .iter()
        .filter(|run| run.stopped.lost == 0)
        .map(|run| run.rate())
        .fold(0.0, f64::max);
    let mut asked = FIRST_RATE;
    for _ in 0..MAX_STEPS {
        let load = load::Args {
            rate: asked as u64,
            ..flat_out(bench, THREADS)
        };
        let step = traced(bench, &load, &step_file)?;
        print_traced(&format!("traced, paced {:.3} M/s", millions(asked)), &step);
        if step.stopped.lost > 0 {
            break;
        }
        sustained = sustained.max(step.rate());
        if step.done.rate() < KEEPS_PACE * asked {
            break;
        }
        asked *= STEP;
    }
    println!(
        "   sustained with 0 lost: {:.3} M records/s",
        millions(sustained)
    );
    if flat.stopped.lost == 0 {
        println!(
            "   (nothing lost even flat out: the traced generator's own speed is the ceiling)"
        );
    }
    let interval = interval_cost(bench, &step_file)?;
    std::fs::remove_file(&step_file).context("removing a step recording")?;
    println!();
    let target = Target {
        what: "pipeline: records/s with 0 lost".into(),
        goal: ">= 1 M/s",
        measured: format!("{:.3} M/s", millions(sustained)),
        met: sustained >= TARGET_RATE,
    };
    Ok((vec![target, interval], recording))
}

/// What `--interval` adds to uprof's CPU time per record at [`TARGET_RATE`]: rounds of the
/// paced generator traced with and without it, interleaved; the medians of each compared.
fn interval_cost(bench: &Bench, out: &std::path::Path) -> Result<Target> {
    const INTERVAL: &[&str] = &["--interval", "1s"];
    let load = load::Args {
        rate: TARGET_RATE as u64,
        ..flat_out(bench, THREADS)
    };
    println!(
        "   --interval at {:.1} M/s, {} interleaved rounds: {}",
        millions(TARGET_RATE),
        bench.plan.rounds,
        describe(&record_command(bench, &load, out, INTERVAL)?)
    );
    let (mut plain, mut with) = (Vec::new(), Vec::new());
    for _ in 0..bench.plan.rounds {
        for (extra, label, costs) in [
            (&[][..], "paced, no --interval", &mut plain),
            (INTERVAL, "paced, --interval 1s", &mut with),
        ] {
            let run = traced_with(bench, &load, out, extra)?;
            print_traced(label, &run);
            costs.push(run.uprof_cpu.as_secs_f64() / run.stopped.records as f64);
        }
    }
    let added = median(&with) / median(&plain) - 1.0;
    println!(
        "   --interval adds {:+.1} % to uprof's CPU per record (medians: {:.3} vs {:.3} µs/rec)",
        added * 100.0,
        median(&with) * 1e6,
        median(&plain) * 1e6
    );
    Ok(Target {
        what: "pipeline: --interval's added CPU at 1 M/s".into(),
        goal: "< 5 %",
        measured: format!("{:+.1} %", added * 100.0),
        met: added < 0.05,
    })
}
