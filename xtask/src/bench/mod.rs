//! `cargo xtask bench`: measures uprof against its speed targets and prints the figures.
//!
//! Each benchmark is one module: `overhead` (CPU added to a traced redis-server, next to
//! strace and perf trace), `bystander` (CPU uprof costs a process it does not trace),
//! `callback` (the callback tier against the syscall tier, inside a stock kernel under qemu),
//! `loops` (instructions per request of tickloop's echo server against mio's and tokio's, in the
//! same VM; both run there through `icount_vm`),
//! `pipeline` (records per second uprof stores without loss, and what `--interval` adds),
//! `report` (records per second `uprof report` reads, on the pipeline's recording), `export`
//! (records per second each export format writes, and its memory: hdrlog on the pipeline's
//! recording, Perfetto and HTML on synthetic recordings of a busy server from `synthetic`), `rss`
//! (uprof's memory during a long recording) and `agent` (`uprof agent`'s CPU and memory at a
//! known wait rate, and its /metrics scrape time). They share
//! `procs` (spawning and measuring processes), `uprof` (driving the binary), `redis`, `load`
//! (an epoll_wait generator) and the interleaved rounds of `overhead`. Figures are ratios or
//! rates measured within one run, since the machine they run on is small and shared.

pub mod agent;
mod bystander;
mod callback;
mod export;
mod icount_vm;
mod load;
mod loops;
mod overhead;
mod pipeline;
pub(crate) mod procs;
mod programs;
pub(crate) mod redis;
mod report;
mod rss;
mod stats;
mod synthetic;
pub(crate) mod uprof;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Command-line arguments of `cargo xtask bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Which benchmark to run (default: all).
    #[command(subcommand)]
    which: Option<Which>,
    /// Short runs, everything in about three minutes: noisier figures.
    #[arg(long, global = true)]
    quick: bool,
    /// The uprof binary to measure (default: build it with `cargo build --release -p uprof-cli`).
    #[arg(long, global = true, value_name = "PATH")]
    uprof: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
enum Which {
    /// CPU time per request a tracer adds to redis-server: uprof, strace, perf trace.
    Overhead,
    /// CPU time per request of an untraced redis-server while uprof traces another process.
    #[command(alias = "untraced")]
    Bystander,
    /// The callback tier's cost against the syscall tier's, traced and untraced, inside a
    /// stock kernel booted under qemu (not part of `all`).
    Callback(callback::Args),
    /// Instructions per echoed request and per wakeup of tickloop's echo server on each
    /// backend, mio's and tokio's, under the same load inside a stock kernel booted under qemu
    /// with -icount (not part of `all`; needs no uprof).
    Loops(icount_vm::Args),
    /// Wait records per second uprof records without losing any.
    Pipeline,
    /// Records per second `uprof report --format json` reads and `--format perfetto` exports,
    /// on a fresh pipeline recording.
    Report,
    /// Records per second and peak RSS of the exports: `--format hdrlog` on a fresh pipeline
    /// recording (whole and first half), `--format perfetto` and `--format html` on synthetic
    /// recordings of a busy server (1 GiB; 256 MiB with --quick), beside the JSON report.
    Export,
    /// Peak RSS of `uprof record` during a long recording of a busy redis-server.
    Rss,
    /// CPU and RSS of `uprof agent` at 10k and 50k waits/s (beside `uprof record -o`), and the
    /// time of a /metrics scrape with 1,000 label sets.
    Agent,
    /// All of the above but `callback` and `loops`, in that order.
    All,
    /// The epoll_wait generator the pipeline benchmark traces.
    #[command(hide = true)]
    EpollLoad(load::Args),
    /// Write a synthetic recording of a busy server, as the export benchmark does.
    #[command(hide = true)]
    Synthetic(synthetic::Args),
}

/// How long each benchmark runs.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Rounds of the interleaved overhead variants.
    pub rounds: usize,
    /// Target length of one redis-benchmark run, in seconds.
    pub redis_seconds: f64,
    /// Length of one epoll_wait generator run, in seconds.
    pub load_seconds: f64,
    /// Runs of `uprof report`.
    pub report_runs: usize,
    /// Length of the RSS recording, in seconds.
    pub rss_seconds: u64,
    /// Size of the synthetic recording of the export benchmark.
    pub export_bytes: u64,
}

impl Plan {
    pub fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                rounds: 3,
                redis_seconds: 3.0,
                load_seconds: 3.0,
                report_runs: 3,
                rss_seconds: 30,
                export_bytes: 256 << 20,
            }
        } else {
            Plan {
                rounds: 5,
                redis_seconds: 8.0,
                load_seconds: 10.0,
                report_runs: 5,
                rss_seconds: 600,
                export_bytes: 1 << 30,
            }
        }
    }
}

/// What every benchmark needs: the binary, the plan, a scratch directory.
pub struct Bench {
    pub uprof: PathBuf,
    pub plan: Plan,
    scratch: tempfile::TempDir,
}

impl Bench {
    /// Checks for root, builds uprof unless `uprof` names a binary, and makes the scratch
    /// directory.
    pub fn prepare(uprof: Option<PathBuf>, plan: Plan) -> Result<Bench> {
        // SAFETY: geteuid has no memory effects.
        if unsafe { libc::geteuid() } != 0 {
            bail!("uprof needs root to load its eBPF programs: run the benchmarks as root");
        }
        let uprof = match uprof {
            Some(path) => path,
            None => uprof::build()?,
        };
        let scratch = tempfile::Builder::new()
            .prefix("uprof-bench-")
            .tempdir()
            .context("cannot create a scratch directory")?;
        Ok(Bench {
            uprof,
            plan,
            scratch,
        })
    }

    /// A path in the scratch directory (removed at the end).
    pub fn scratch(&self, name: &str) -> PathBuf {
        self.scratch.path().join(name)
    }

    /// The scratch directory itself.
    pub fn scratch_dir(&self) -> &Path {
        self.scratch.path()
    }
}

/// One speed target and whether this run met it.
pub struct Target {
    pub what: String,
    pub goal: &'static str,
    pub measured: String,
    pub met: bool,
}

/// Runs `cargo xtask bench`.
pub fn main(args: Args) -> Result<()> {
    let which = args.which.unwrap_or(Which::All);
    match which {
        Which::EpollLoad(load) => return load::main(load),
        Which::Synthetic(args) => return synthetic::main(args),
        Which::Loops(loops) => {
            println!("machine: {}\n", machine());
            return print_targets(&loops::run(&loops, args.quick)?);
        }
        _ => {}
    }
    let bench = Bench::prepare(
        args.uprof,
        match &which {
            Which::Callback(callback) if callback.vm.guest => callback::guest_plan(args.quick),
            _ => Plan::new(args.quick),
        },
    )?;
    println!("machine: {}", machine());
    println!("uprof: {}\n", bench.uprof.display());

    let targets = match which {
        Which::Overhead => overhead::run(&bench)?,
        Which::Bystander => bystander::run(&bench)?,
        Which::Callback(callback) => callback::run(&bench, &callback, args.quick)?,
        Which::Pipeline => pipeline::run(&bench)?.0,
        Which::Report => report::run(&bench, &pipeline::record_big(&bench)?)?,
        Which::Export => {
            let mut targets = export::run(&bench, &pipeline::record_big(&bench)?)?;
            targets.extend(report::run_exports(&bench)?);
            targets
        }
        Which::Rss => rss::run(&bench)?,
        Which::Agent => agent::run(&bench)?,
        Which::All => {
            let mut targets = overhead::run(&bench)?;
            targets.extend(bystander::run(&bench)?);
            let (pipeline, recording) = pipeline::run(&bench)?;
            targets.extend(pipeline);
            targets.extend(report::run(&bench, &recording)?);
            targets.extend(export::run(&bench, &recording)?);
            targets.extend(report::run_exports(&bench)?);
            targets.extend(rss::run(&bench)?);
            targets.extend(agent::run(&bench)?);
            targets
        }
        Which::EpollLoad(_) | Which::Synthetic(_) | Which::Loops(_) => {
            unreachable!("handled above")
        }
    };
    print_targets(&targets)
}

/// Prints each target with its verdict, if there are any.
fn print_targets(targets: &[Target]) -> Result<()> {
    if targets.is_empty() {
        return Ok(());
    }
    println!("targets:");
    for t in targets {
        let verdict = if t.met { "met" } else { "MISSED" };
        println!(
            "  {:<40} {:>26}  goal {:<14} {verdict}",
            t.what, t.measured, t.goal
        );
    }
    Ok(())
}

/// Kernel, CPU model, CPU count and memory of this machine.
fn machine() -> String {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let field = |text: &str, key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_else(|| "?".into())
    };
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "Linux {}, {cpus} x {}, {} RAM",
        read("/proc/sys/kernel/osrelease").trim(),
        field(&cpuinfo, "model name"),
        field(&read("/proc/meminfo"), "MemTotal"),
    )
}
