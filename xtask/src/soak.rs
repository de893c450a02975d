//! `cargo xtask soak`: the long run of `uprof record` on a busy redis-server (an hour by
//! default), too long for CI. It is the ignored integration test
//! `real_server::redis_soak_keeps_memory_flat_loses_nothing_and_counts_equal_perf_stat`, run
//! with its duration: uprof's RSS stays flat, nothing is lost at the default ring buffer, and
//! its wait counts equal `perf stat`'s at the end. docs/benchmarks.md has the latest result.
//!
//! `--agent` soaks `uprof agent` instead ([`bench::agent::soak`]): a steady rate of waits, scraped
//! every second; its RSS stays flat and nothing is lost.
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};

use crate::bench::{self, Bench, Plan};
use crate::vm::tool::describe;

#[derive(clap::Args)]
pub struct Args {
    /// How long redis-server is kept busy under `uprof record`, in minutes.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    minutes: u64,
    /// Soak `uprof agent` (release, built unless `--uprof` names it) instead of `uprof record`.
    #[arg(long)]
    agent: bool,
    /// Waits per second the agent's target makes (with `--agent`).
    #[arg(long, default_value_t = 50_000, requires = "agent")]
    rate: u64,
    /// RSS growth after the first minute the agent may show, in MiB (with `--agent`).
    #[arg(long, default_value_t = 2.0, requires = "agent")]
    max_growth_mib: f64,
    /// The uprof binary to soak (with `--agent`).
    #[arg(long, requires = "agent")]
    uprof: Option<PathBuf>,
}

/// The ignored test that is the soak.
const TEST: &str = "redis_soak_keeps_memory_flat_loses_nothing_and_counts_equal_perf_stat";

pub fn main(args: Args) -> Result<()> {
    if args.agent {
        let bench = Bench::prepare(args.uprof, Plan::new(false))?;
        return bench::agent::soak(&bench, args.minutes, args.rate, args.max_growth_mib);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace");
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo
        .current_dir(workspace)
        .env("UPROF_SOAK_SECONDS", (args.minutes * 60).to_string())
        .args([
            "test",
            "--release",
            "-p",
            "uprof-cli",
            "--test",
            "real_server",
            "--",
        ])
        .args(["--ignored", "--exact", "--nocapture", TEST]);
    eprintln!("soak: {}", describe(&cargo));
    let status = cargo
        .status()
        .with_context(|| format!("cannot run {}", describe(&cargo)))?;
    if !status.success() {
        bail!("the soak failed ({status})");
    }
    Ok(())
}
