//! The line protocol between a VM and the host, read from the serial console.
//!
//! - `UPROF-INIT`: printed by `/init` once userspace runs (marks the end of the boot);
//! - `UPROF-TEST <name> PASS` and `UPROF-TEST <name> FAIL <reason>`: one test result each,
//!   printed by the payload script;
//! - `UPROF-DONE`: the payload script's last line; a VM that never prints it failed.
//!
//! Every other line (kernel messages, payload chatter) is only logged.

/// A test result reported by the payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestResult {
    /// The test's name, a single word.
    pub name: String,
    /// Whether it passed.
    pub outcome: Outcome,
}

/// The outcome of one test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The test passed.
    Pass,
    /// The test failed, for the given reason.
    Fail(String),
}

/// What a console line means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    /// `/init` started: the kernel has booted.
    InitStarted,
    /// A test result (a malformed `UPROF-TEST` line counts as a failed test).
    Test(TestResult),
    /// The payload finished.
    Done,
    /// Anything else.
    Log,
}

const INIT: &str = "UPROF-INIT";
const TEST: &str = "UPROF-TEST";
const DONE: &str = "UPROF-DONE";

/// Classifies one console line (without its line ending; a trailing `\r` is ignored).
pub fn parse_line(line: &str) -> Line {
    let line = line.trim();
    if line == INIT {
        return Line::InitStarted;
    }
    if line == DONE {
        return Line::Done;
    }
    match line.strip_prefix(TEST) {
        Some(rest) if rest.starts_with(char::is_whitespace) => {
            Line::Test(parse_test(rest.trim_start()))
        }
        _ => Line::Log,
    }
}

/// Parses `<name> PASS` or `<name> FAIL <reason>`.
fn parse_test(rest: &str) -> TestResult {
    let (name, verdict) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let (verdict, reason) = verdict
        .trim_start()
        .split_once(char::is_whitespace)
        .unwrap_or((verdict.trim_start(), ""));
    let outcome = match (verdict, reason.trim()) {
        ("PASS", "") => Outcome::Pass,
        ("FAIL", "") => Outcome::Fail("no reason given".to_owned()),
        ("FAIL", reason) => Outcome::Fail(reason.to_owned()),
        _ => Outcome::Fail(format!("malformed result line: {TEST} {rest}")),
    };
    TestResult {
        name: name.to_owned(),
        outcome,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test(name: &str, outcome: Outcome) -> Line {
        Line::Test(TestResult {
            name: name.to_owned(),
            outcome,
        })
    }

    #[test]
    fn parses_passes_and_failures_with_reasons() {
        assert_eq!(
            parse_line("UPROF-TEST btf PASS\r"),
            test("btf", Outcome::Pass)
        );
        assert_eq!(
            parse_line("UPROF-TEST fentry-attach FAIL  bpf_prog_load: EPERM (errno 1) "),
            test(
                "fentry-attach",
                Outcome::Fail("bpf_prog_load: EPERM (errno 1)".to_owned())
            )
        );
        assert_eq!(
            parse_line("UPROF-TEST x FAIL"),
            test("x", Outcome::Fail("no reason given".to_owned()))
        );
    }

    #[test]
    fn malformed_result_lines_are_failures() {
        assert_eq!(
            parse_line("UPROF-TEST kprobe"),
            test(
                "kprobe",
                Outcome::Fail("malformed result line: UPROF-TEST kprobe".to_owned())
            )
        );
        assert_eq!(
            parse_line("UPROF-TEST kprobe PASS extra"),
            test(
                "kprobe",
                Outcome::Fail("malformed result line: UPROF-TEST kprobe PASS extra".to_owned())
            )
        );
        assert_eq!(
            parse_line("UPROF-TEST kprobe ok"),
            test(
                "kprobe",
                Outcome::Fail("malformed result line: UPROF-TEST kprobe ok".to_owned())
            )
        );
    }

    #[test]
    fn markers_and_other_lines() {
        assert_eq!(parse_line("UPROF-INIT\r"), Line::InitStarted);
        assert_eq!(parse_line("UPROF-DONE"), Line::Done);
        assert_eq!(parse_line("UPROF-DONE now"), Line::Log);
        assert_eq!(parse_line("UPROF-TESTS btf PASS"), Line::Log);
        assert_eq!(
            parse_line("[    0.412345] Run /init as init process"),
            Line::Log
        );
        assert_eq!(parse_line("echo UPROF-TEST btf PASS"), Line::Log);
    }
}
