//! Building what the VMs run with the workspace's cargo, and finding the executables in cargo's
//! JSON messages (their paths depend on the target directory and on hashes cargo chooses).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use cargo_metadata::{Message, TargetKind};

use crate::vm::tool;

/// The package whose integration tests run in the VMs.
const TESTED_PACKAGE: &str = "uprof-cli";
/// The packages whose binaries those tests run: `uprof`, `epoll-scenario`, `uprof-demo`.
const PROGRAM_PACKAGES: [&str; 2] = ["uprof-cli", "uprof-testprogs"];

/// The executables cargo built for a VM test run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Artifacts {
    /// Binaries the tests run, found by the host paths baked into the tests.
    pub programs: BTreeSet<PathBuf>,
    /// Integration-test executables, in cargo's order.
    pub tests: Vec<TestExecutable>,
}

/// One integration-test executable (`tests/<name>.rs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestExecutable {
    /// Its target name (`scenarios` for `tests/scenarios.rs`).
    pub name: String,
    /// Where cargo put it (`<target>/debug/deps/scenarios-<hash>`).
    pub path: PathBuf,
}

/// Builds the programs and the integration tests (debug profile, like `cargo test`) in
/// `workspace` and returns their executables.
pub fn build(workspace: &Path) -> Result<Artifacts> {
    let mut build = cargo(workspace, "build");
    for package in PROGRAM_PACKAGES {
        build.args(["--package", package]);
    }
    let mut artifacts = collect(&run_cargo(&mut build)?)?;
    let tests = collect(&run_cargo(cargo(workspace, "test").args([
        "--package",
        TESTED_PACKAGE,
        "--no-run",
    ]))?)?;
    artifacts.programs.extend(tests.programs);
    artifacts.tests = tests.tests;
    if artifacts.tests.is_empty() {
        bail!("cargo built no integration tests of {TESTED_PACKAGE}");
    }
    Ok(artifacts)
}

/// `cargo <subcommand>` in `workspace`, with JSON messages on stdout and diagnostics rendered
/// on stderr as usual. `$CARGO` is the cargo running `cargo xtask` (same toolchain).
fn cargo(workspace: &Path, subcommand: &str) -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.arg(subcommand)
        .arg("--message-format=json-render-diagnostics")
        .current_dir(workspace);
    cmd
}

/// Runs a cargo command and returns its stdout (the JSON messages); fails if cargo fails.
fn run_cargo(cmd: &mut Command) -> Result<Vec<u8>> {
    let what = tool::describe(cmd);
    let output = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run `{what}`"))?;
    if !output.status.success() {
        bail!("`{what}` failed ({})", output.status);
    }
    Ok(output.stdout)
}

/// The binaries and integration tests among the compiler artifacts in cargo's JSON `messages`.
fn collect(messages: &[u8]) -> Result<Artifacts> {
    let mut artifacts = Artifacts::default();
    for message in Message::parse_stream(messages) {
        let Message::CompilerArtifact(artifact) = message.context("unreadable cargo message")?
        else {
            continue;
        };
        let Some(executable) = artifact.executable else {
            continue;
        };
        if artifact.target.is_kind(TargetKind::Test) {
            artifacts.tests.push(TestExecutable {
                name: artifact.target.name,
                path: executable.into(),
            });
        } else if artifact.target.is_kind(TargetKind::Bin) && !artifact.profile.test {
            artifacts.programs.insert(executable.into());
        }
    }
    Ok(artifacts)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One `compiler-artifact` line as cargo 1.99 prints it (shortened to the fields cargo_metadata
    /// requires).
    fn artifact(kind: &str, name: &str, test: bool, executable: Option<&str>) -> String {
        let executable = executable.map_or("null".to_owned(), |e| format!("\"{e}\""));
        format!(
            r#"{{"reason":"compiler-artifact","package_id":"path+file:///w/uprof-cli#0.1.0","manifest_path":"/w/uprof-cli/Cargo.toml","target":{{"kind":["{kind}"],"crate_types":["bin"],"name":"{name}","src_path":"/w/uprof-cli/src/{name}.rs","edition":"2024","doc":false,"doctest":false,"test":true}},"profile":{{"opt_level":"0","debuginfo":2,"debug_assertions":true,"overflow_checks":true,"test":{test}}},"features":[],"filenames":["/t/{name}"],"executable":{executable},"fresh":true}}"#
        )
    }

    #[test]
    fn finds_programs_and_integration_tests_only() {
        let messages = [
            artifact("lib", "uprof_trace", false, None),
            artifact("bin", "uprof", false, Some("/t/debug/uprof")),
            // The unit tests of a binary are not programs the integration tests run.
            artifact("bin", "uprof", true, Some("/t/debug/deps/uprof-1a")),
            artifact("test", "attach", true, Some("/t/debug/deps/attach-2b")),
            r#"{"reason":"build-finished","success":true}"#.to_owned(),
            artifact(
                "test",
                "scenarios",
                true,
                Some("/t/debug/deps/scenarios-3c"),
            ),
            artifact("bin", "uprof", false, Some("/t/debug/uprof")),
        ]
        .join("\n");
        let found = collect(messages.as_bytes()).unwrap();
        assert_eq!(
            found.programs,
            BTreeSet::from([PathBuf::from("/t/debug/uprof")])
        );
        assert_eq!(
            found.tests,
            vec![
                TestExecutable {
                    name: "attach".to_owned(),
                    path: PathBuf::from("/t/debug/deps/attach-2b"),
                },
                TestExecutable {
                    name: "scenarios".to_owned(),
                    path: PathBuf::from("/t/debug/deps/scenarios-3c"),
                },
            ]
        );
    }
}
