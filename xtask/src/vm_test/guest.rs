//! The script each VM runs: the runner of `guest.sh` followed by one `run_test` call per test.

use std::fmt::Write;
use std::path::PathBuf;
use std::time::Duration;

/// The shell functions that run one test and report it (see the script's comments).
const RUNNER: &str = include_str!("guest.sh");

/// One test to run inside the VM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestCase {
    /// The libtest executable holding it, at its host path (the VM has the same path).
    pub executable: PathBuf,
    /// The executable's target name (`scenarios`), which prefixes the reported name.
    pub binary: String,
    /// The test's name inside the executable (`timeouts`).
    pub name: String,
}

impl TestCase {
    /// The name the VM reports the test under: `<binary>::<name>`.
    pub fn full_name(&self) -> String {
        format!("{}::{}", self.binary, self.name)
    }
}

/// The payload script that runs `tests` in order, killing any test that runs longer than
/// `test_timeout`, and ends with `UPROF-DONE`.
pub fn script(tests: &[TestCase], test_timeout: Duration) -> String {
    let mut script = format!("{RUNNER}\nTEST_TIMEOUT={}\n", test_timeout.as_secs());
    for test in tests {
        let _ = writeln!(
            script,
            "run_test {} {} {}",
            quote(&test.executable.to_string_lossy()),
            quote(&test.binary),
            quote(&test.name)
        );
    }
    script.push_str("echo UPROF-DONE\n");
    script
}

/// `text` as one single-quoted shell word.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{PermissionsExt, symlink};
    use std::path::Path;
    use std::process::Command;

    use crate::vm::tool;

    fn case(executable: impl Into<PathBuf>, binary: &str, name: &str) -> TestCase {
        TestCase {
            executable: executable.into(),
            binary: binary.to_owned(),
            name: name.to_owned(),
        }
    }

    #[test]
    fn script_runs_each_test_in_order_then_says_done() {
        let tests = [
            case("/t/deps/attach-2b", "attach", "missing_pid"),
            case("/t/it's here/scenarios-3c", "scenarios", "timeouts"),
        ];
        let expected = format!(
            "{RUNNER}\nTEST_TIMEOUT=90\n\
             run_test '/t/deps/attach-2b' 'attach' 'missing_pid'\n\
             run_test '/t/it'\\''s here/scenarios-3c' 'scenarios' 'timeouts'\n\
             echo UPROF-DONE\n"
        );
        assert_eq!(script(&tests, Duration::from_secs(90)), expected);
        assert_eq!(tests[1].full_name(), "scenarios::timeouts");
    }

    /// A stand-in for a libtest executable: checks that it is asked for `test` alone, then
    /// runs `body`.
    fn fake_test_executable(dir: &Path, file: &str, test: &str, body: &str) -> PathBuf {
        let path = dir.join(file);
        let text = format!(
            "#!/bin/sh\n\
             [ \"$*\" = \"--exact {test} --test-threads=1\" ] || {{ echo \"bad arguments: $*\"; exit 2; }}\n\
             echo\necho 'running 1 test'\n{body}\n"
        );
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// Runs the runner under busybox, with only busybox's applets in `PATH` as in the VM, on
    /// stand-ins for each way a test can end, and checks the result lines it reports.
    #[test]
    fn runner_reports_passes_panics_crashes_hangs_and_tests_that_did_not_run() {
        let dir = std::env::temp_dir().join(format!("xtask-vm-test-runner-{}", std::process::id()));
        let bin = dir.join("bin");
        fs::create_dir_all(&bin).unwrap();
        for applet in [
            "sh", "awk", "grep", "cat", "tail", "timeout", "sleep", "kill", "mktemp", "rm", "cut",
        ] {
            symlink("/bin/busybox", bin.join(applet)).unwrap();
        }
        let passing = "echo 'test a ... ok'\necho\n\
                       echo 'test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 3 filtered out; finished in 0.01s'";
        let panicking = "echo 'test b ... FAILED'\necho\necho '---- b stdout ----'\n\
                         echo \"thread 'b' (4242) panicked at uprof-cli/tests/x.rs:103:9:\"\n\
                         echo 'assertion `left == right` failed: epoll_wait calls'\necho '  left: 2'\n\
                         echo ' right: 3'\necho 'stack backtrace:'\necho '   0: std::panicking'\n\
                         echo 'test result: FAILED. 0 passed; 1 failed'\nexit 101";
        let tests = [
            case(fake_test_executable(&dir, "pass", "a", passing), "t", "a"),
            case(
                fake_test_executable(&dir, "panic", "b", panicking),
                "t",
                "b",
            ),
            case(
                fake_test_executable(&dir, "hang", "c", "sleep 30"),
                "t",
                "c",
            ),
            case(
                fake_test_executable(&dir, "crash", "d", "kill -SEGV $$"),
                "t",
                "d",
            ),
            case(
                fake_test_executable(
                    &dir,
                    "filtered",
                    "e",
                    "echo 'test result: ok. 0 passed; 0 failed; 1 filtered out'",
                ),
                "t",
                "e",
            ),
            case(
                fake_test_executable(&dir, "error", "f", "echo 'cannot start'\necho\nexit 3"),
                "t",
                "f",
            ),
            // Asked for a test it does not hold: the stand-in complains about its arguments.
            case(fake_test_executable(&dir, "wrong", "other", ""), "t", "g"),
        ];
        let script = script(&tests, Duration::from_secs(1));
        let output = tool::run(
            Command::new("/bin/busybox")
                .args(["sh", "-c", &script])
                .env_clear()
                .env("PATH", &bin)
                .env("TMPDIR", &dir),
        )
        .unwrap();
        let output = String::from_utf8(output).unwrap();
        let results: Vec<&str> = output.lines().filter(|l| l.starts_with("UPROF-")).collect();
        assert_eq!(
            results,
            [
                "UPROF-TEST t::a PASS",
                "UPROF-TEST t::b FAIL assertion `left == right` failed: epoll_wait calls | left: 2 | right: 3 (at uprof-cli/tests/x.rs:103:9)",
                "UPROF-TEST t::c FAIL killed after 1 s (SIGTERM from timeout)",
                "UPROF-TEST t::d FAIL killed by signal 11",
                "UPROF-TEST t::e FAIL did not run: test result: ok. 0 passed; 0 failed; 1 filtered out",
                "UPROF-TEST t::f FAIL exit status 3: cannot start",
                "UPROF-TEST t::g FAIL exit status 2: bad arguments: --exact g --test-threads=1",
                "UPROF-DONE",
            ],
            "{output}"
        );
        let durations = output
            .lines()
            .filter(|l| l.starts_with("took ") && l.ends_with(" s"));
        assert_eq!(durations.count(), tests.len(), "{output}");
        // Each test's own output is shown, under its name.
        assert!(
            output.contains("--- t::b\n\nrunning 1 test\ntest b ... FAILED\n"),
            "{output}"
        );
        let leftovers: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            leftovers.len(),
            8,
            "the runner removes its output files: {leftovers:?}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
