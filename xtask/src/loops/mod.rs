//! `cargo xtask loops`: records several event loops serving the same load with `uprof record`
//! and compares them with `uprof compare` (results in docs/loop-comparison.md).
//!
//! Two comparisons: every loop (tickloop's four backends, mio, tokio, node, redis) under one
//! closed-loop load, and a scaling run of poll, select and epoll with few and with many idle
//! connections, which shows the fds the poll family scans per wakeup. Each loop is recorded
//! with `uprof record -p PID` while the load runs; request counts come from the load
//! generator (redis-benchmark's `-n` for redis) and give the per-request rows.

pub(crate) mod subjects;

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::bench::procs::describe;
use subjects::{Load, Recorded, Setup, Subject};

/// Command-line arguments of `cargo xtask loops`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Short runs, everything in about a minute after the build: noisier figures.
    #[arg(long)]
    quick: bool,
    /// Keep the recordings in DIR (default: a temporary directory, removed at the end).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// Idle connections of the scaling run's two sizes.
const IDLE: [usize; 2] = [10, 1000];
/// The backends of the scaling run.
const SCALING: [&str; 3] = ["poll", "select", "epoll"];

/// Runs `cargo xtask loops`.
pub fn main(args: Args) -> Result<()> {
    // SAFETY: geteuid has no memory effects.
    if unsafe { libc::geteuid() } != 0 {
        bail!("uprof needs root to load its eBPF programs: run `cargo xtask loops` as root");
    }
    let bin = build()?;
    let scratch = tempfile::Builder::new()
        .prefix("uprof-loops-")
        .tempdir()
        .context("cannot create a scratch directory")?;
    let out = match &args.out {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            dir.clone()
        }
        None => scratch.path().to_owned(),
    };
    let setup = Setup { bin, out };
    let seconds = if args.quick { 2.0 } else { 5.0 };
    let load = Load {
        connections: 16,
        idle: 0,
        seconds,
        redis_requests: if args.quick { 100_000 } else { 300_000 },
    };

    println!(
        "loops: {} closed-loop connections for {seconds} s each (tickloop-loadgen, 64-byte \
         echo); redis: redis-benchmark -n {} -c {} ping_mbulk over a unix socket",
        load.connections, load.redis_requests, load.connections
    );
    let mut runs = Vec::new();
    for subject in Subject::ALL {
        runs.push(setup.record(subject, &subject.name(), load)?);
    }
    compare(&setup, &runs)?;

    let scaling_load = |idle| Load {
        connections: 4,
        idle,
        seconds: seconds / 2.0,
        ..load
    };
    println!(
        "\nscaling: 4 active connections plus {} or {} idle ones, {} s each",
        IDLE[0],
        IDLE[1],
        seconds / 2.0
    );
    let mut runs = Vec::new();
    for backend in SCALING {
        for idle in IDLE {
            let name = format!("{backend}-idle{idle}");
            runs.push(setup.record(Subject::Tickloop(backend), &name, scaling_load(idle))?);
        }
    }
    compare(&setup, &runs)
}

/// Builds uprof and the tickloop-apps binaries (release); returns the directory that holds them.
fn build() -> Result<PathBuf> {
    crate::release::build("loops", &["uprof-cli", "tickloop-apps"])
}

/// Runs `uprof compare` over the recordings (named after their files), with their request
/// counts, and shows its table.
fn compare(setup: &Setup, runs: &[Recorded]) -> Result<()> {
    let requests: Vec<String> = runs.iter().map(|r| r.requests.to_string()).collect();
    let mut cmd = Command::new(setup.bin.join("uprof"));
    cmd.current_dir(&setup.out)
        .arg("compare")
        .args(
            runs.iter()
                .map(|r| r.file.file_name().expect("a recording is a file")),
        )
        .args(["--requests", &requests.join(",")]);
    println!("\n$ {}", describe(&cmd));
    let status = cmd.status().context("cannot run uprof compare")?;
    if !status.success() {
        bail!("`{}` failed ({status})", describe(&cmd));
    }
    Ok(())
}
