//! `cargo xtask vm-test`: run uprof's integration tests inside each stock kernel of the VM
//! matrix, so the tests that run on the host also run on Linux 5.10, 6.1 and 6.12.
//!
//! cargo builds the programs and the tests ([`artifacts`]); each test executable lists its tests
//! on the host ([`libtest`]); the tests find `uprof` and the test programs by host paths baked in
//! at build time, so every executable goes into the initramfs at its host path; and the VM runs
//! each test on its own with the script of [`guest`], which reports over the console protocol of
//! [`crate::vm::protocol`].

pub mod artifacts;
pub mod guest;
pub mod libtest;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::vm::{self, Payload, RunOptions};
use artifacts::Artifacts;
use guest::TestCase;

/// Command-line arguments of `cargo xtask vm-test`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    matrix: vm::MatrixArgs,
    /// Seconds after which one test is killed and counts as failed.
    #[arg(long, default_value_t = 60)]
    test_timeout: u64,
    /// Leave out the tests whose `<binary>::<name>` contains this text (repeatable).
    #[arg(long, value_name = "TEXT")]
    skip: Vec<String>,
}

/// Seconds a VM may take besides its tests (boot, shutdown).
const BOOT_ALLOWANCE: u64 = 120;

/// Runs `cargo xtask vm-test`: builds, runs the tests in every kernel, prints the result
/// table, and fails if any kernel failed.
pub fn main(args: Args) -> Result<()> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace");
    let artifacts = artifacts::build(workspace).context("cannot build the tests")?;
    let tests = plan(&artifacts, &args.skip)?;
    eprintln!(
        "vm-test: {} tests from {} of {} executables in each kernel",
        tests.len(),
        tests
            .iter()
            .map(|t| &t.executable)
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        artifacts.tests.len()
    );
    // Only the executables with a test to run: every one is hundreds of MB of debug build,
    // unpacked into the VM's memory.
    let mut executables: Vec<PathBuf> = tests.iter().map(|t| t.executable.clone()).collect();
    executables.dedup();
    let payload = Payload {
        files: Vec::new(),
        at_host_paths: artifacts
            .programs
            .iter()
            .cloned()
            .chain(executables)
            .collect(),
        script: guest::script(&tests, Duration::from_secs(args.test_timeout)),
    };
    let options = RunOptions {
        // A backstop: each test has its own timeout, and the guest reports the ones that hit it.
        timeout: args
            .matrix
            .timeout_or(BOOT_ALLOWANCE + args.test_timeout * tests.len() as u64),
        out_dir: vm::target_dir().join("vm-test"),
        ..RunOptions::default()
    };
    let reports = vm::run_matrix(&args.matrix.kernels, &payload, &options)?;
    vm::conclude(&reports)
}

/// Every test of every test executable, in cargo's and libtest's order, except those whose full
/// name contains one of `skip`.
fn plan(artifacts: &Artifacts, skip: &[String]) -> Result<Vec<TestCase>> {
    let mut tests = Vec::new();
    for executable in &artifacts.tests {
        let names = libtest::list(&executable.path)
            .with_context(|| format!("cannot list the tests of {}", executable.name))?;
        tests.extend(names.into_iter().map(|name| TestCase {
            executable: executable.path.clone(),
            binary: executable.name.clone(),
            name,
        }));
    }
    tests.retain(|test| {
        let full_name = test.full_name();
        !skip.iter().any(|s| full_name.contains(s.as_str()))
    });
    if tests.is_empty() {
        bail!("no test left to run");
    }
    Ok(tests)
}

#[cfg(test)]
mod tests {
    use super::*;
    use artifacts::TestExecutable;

    /// Plans with a real libtest executable, this crate's unit tests, and a skip filter.
    #[test]
    fn plan_lists_every_test_and_leaves_out_the_skipped() {
        let artifacts = Artifacts {
            programs: Default::default(),
            tests: vec![TestExecutable {
                name: "xtask".to_owned(),
                path: std::env::current_exe().unwrap(),
            }],
        };
        let all = plan(&artifacts, &[]).unwrap();
        let planned = plan(&artifacts, &["::vm::".to_owned()]).unwrap();
        let full_names: Vec<String> = planned.iter().map(TestCase::full_name).collect();
        assert!(
            full_names.contains(
                &"xtask::vm_test::tests::plan_lists_every_test_and_leaves_out_the_skipped"
                    .to_owned()
            ),
            "{full_names:?}"
        );
        assert!(all.iter().any(|t| t.full_name().contains("::vm::")));
        assert_eq!(
            planned.len(),
            all.iter()
                .filter(|t| !t.full_name().contains("::vm::"))
                .count()
        );
        assert!(
            planned
                .iter()
                .all(|t| t.executable == artifacts.tests[0].path)
        );
        let error = plan(&artifacts, &["xtask".to_owned()]).unwrap_err();
        assert_eq!(error.to_string(), "no test left to run");
    }
}
