//! Asking a libtest executable (what `cargo test` builds) which tests it holds.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::vm::tool;

/// The names of the tests in the libtest executable `path`, as `<path> --list` prints them
/// (this runs no test, so it works on the host whatever the tests need).
pub fn list(path: &Path) -> Result<Vec<String>> {
    let output = tool::run(Command::new(path).arg("--list"))?;
    let text = String::from_utf8(output)
        .with_context(|| format!("`{} --list` printed non-UTF-8 text", path.display()))?;
    Ok(parse_list(&text))
}

/// The tests in `--list` output: one `<name>: test` line per test, in the order libtest runs
/// them; benchmarks (`<name>: benchmark`) and the closing count line are not tests.
fn parse_list(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.strip_suffix(": test"))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_tests_but_not_benchmarks_or_the_count() {
        let text = "attach_to_missing_pid: test\n\
                    support::helper_works: test\n\
                    throughput: benchmark\n\
                    \n\
                    2 tests, 1 benchmarks\n";
        assert_eq!(
            parse_list(text),
            vec!["attach_to_missing_pid", "support::helper_works"]
        );
    }

    #[test]
    fn an_executable_without_tests_lists_none() {
        assert!(parse_list("\n0 tests, 0 benchmarks\n").is_empty());
    }

    /// Lists the tests of a real libtest executable: this crate's own unit-test binary.
    #[test]
    fn lists_the_tests_of_a_real_executable() {
        let me = std::env::current_exe().unwrap();
        let names = list(&me).unwrap();
        assert!(
            names.contains(
                &"vm_test::libtest::tests::lists_the_tests_of_a_real_executable".to_owned()
            ),
            "{names:?}"
        );
    }
}
