//! `cargo xtask fuzz`: runs the libFuzzer target `record_file` of the `fuzz` crate (a record
//! file read, analysed and rendered as `uprof report` does) for a given time, starting from the
//! seed recordings in `fuzz/seeds`. docs/fuzzing.md describes it and its latest results.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};

use crate::vm::tool::describe;

#[derive(clap::Args)]
pub struct Args {
    /// How long to fuzz, in seconds (the replay of the corpus included).
    #[arg(long, default_value_t = 600)]
    seconds: u64,
    /// Go on after a crash, a timeout or an out-of-memory, saving each input that caused one
    /// (libFuzzer's fork mode, one worker per core), instead of stopping at the first.
    #[arg(long)]
    keep_going: bool,
}

/// The fuzz target (a `[[bin]]` of fuzz/Cargo.toml).
const TARGET: &str = "record_file";

/// Inputs may grow to this many bytes: twice the largest seed, room for more chunks.
const MAX_LEN: usize = 64 * 1024;

pub fn main(args: Args) -> Result<()> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace");
    // libFuzzer adds what it finds to the first directory and only reads the others.
    let corpus = workspace.join("fuzz/corpus").join(TARGET);
    let artifacts = workspace.join("fuzz/artifacts").join(TARGET);
    for dir in [&corpus, &artifacts] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let known = files_in(&artifacts)?;
    let mut cargo = Command::new("cargo");
    cargo
        .current_dir(workspace)
        // The cargo running xtask sets these to its own toolchain; the fuzz build needs nightly.
        .env_remove("CARGO")
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("RUSTC")
        .arg(format!("+{}", nightly()))
        .args(["fuzz", "run", TARGET])
        .arg(&corpus)
        .arg(workspace.join("fuzz/seeds"))
        .arg("--")
        .arg(format!("-max_total_time={}", args.seconds))
        .arg(format!("-max_len={MAX_LEN}"))
        // An input taking longer than this is a finding: files of 64 KiB read in milliseconds.
        .arg("-timeout=10")
        .arg("-rss_limit_mb=2048")
        .arg("-print_final_stats=1");
    if args.keep_going {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        cargo.arg(format!("-fork={workers}")).args([
            "-ignore_crashes=1",
            "-ignore_timeouts=1",
            "-ignore_ooms=1",
        ]);
    }
    eprintln!("fuzz: {}", describe(&cargo));
    let status = cargo.status().context("cannot run cargo fuzz")?;
    // In fork mode libFuzzer exits 0 after a crash it was told to ignore: the inputs it saved
    // are the verdict.
    let found: Vec<_> = files_in(&artifacts)?.difference(&known).cloned().collect();
    for input in &found {
        eprintln!("fuzz: saved {}", input.display());
    }
    if !found.is_empty() {
        bail!(
            "fuzzing found {} input(s) that crash, hang or exhaust memory: replay one with \
             `cargo +{} fuzz run {TARGET} FILE`",
            found.len(),
            nightly()
        );
    }
    if !status.success() {
        bail!("`{}` failed ({status})", describe(&cargo));
    }
    Ok(())
}

fn files_in(dir: &Path) -> Result<BTreeSet<PathBuf>> {
    std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .map(|entry| Ok(entry?.path()))
        .collect()
}

/// The nightly toolchain the eBPF build pins (`EBPF_NIGHTLY` in uprof-trace/build.rs), which
/// scripts/setup.sh installs: read from the same line setup.sh reads.
fn nightly() -> &'static str {
    include_str!("../../uprof-trace/build.rs")
        .lines()
        .find_map(|line| {
            line.strip_prefix("const EBPF_NIGHTLY: &str = \"")?
                .strip_suffix("\";")
        })
        .expect("uprof-trace/build.rs defines EBPF_NIGHTLY")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_nightly_is_found() {
        assert!(
            super::nightly().starts_with("nightly-"),
            "{}",
            super::nightly()
        );
    }
}
