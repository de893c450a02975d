//! Per-kernel results: turning a VM's console into a [`KernelReport`], and the summary table.

use std::fmt::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use super::kernels::Kernel;
use super::protocol::{self, Line, Outcome, TestResult};
use super::qemu::Console;

/// How many console lines a failed VM's report keeps.
const TAIL_LINES: usize = 20;

/// The result of running the payload on one kernel.
#[derive(Clone, Debug)]
pub struct KernelReport {
    /// The kernel that was booted.
    pub kernel: Kernel,
    /// Time from starting qemu until `/init` reported in; `None` if it never did.
    pub boot: Option<Duration>,
    /// Wall time of the whole VM run.
    pub total: Duration,
    /// The test results in the order the payload printed them.
    pub tests: Vec<TestResult>,
    /// Whether the payload printed `UPROF-DONE`.
    pub done: bool,
    /// Whether the VM was killed at the timeout.
    pub timed_out: bool,
    /// The full console log.
    pub log: PathBuf,
    /// The last console lines, to show why a VM failed.
    pub tail: Vec<String>,
}

impl KernelReport {
    /// Reads the protocol lines of `console`.
    pub fn new(kernel: Kernel, console: &Console, log: PathBuf) -> Self {
        let mut report = KernelReport {
            kernel,
            boot: None,
            total: console.elapsed,
            tests: Vec::new(),
            done: false,
            timed_out: console.timed_out(),
            log,
            tail: console
                .lines
                .iter()
                .rev()
                .take(TAIL_LINES)
                .rev()
                .map(|(_, line)| line.clone())
                .collect(),
        };
        for (at, line) in &console.lines {
            match protocol::parse_line(line) {
                Line::InitStarted => report.boot = report.boot.or(Some(*at)),
                Line::Test(test) => report.tests.push(test),
                Line::Done => report.done = true,
                Line::Log => {}
            }
        }
        report
    }

    /// How many tests passed.
    pub fn passed(&self) -> usize {
        self.tests
            .iter()
            .filter(|t| t.outcome == Outcome::Pass)
            .count()
    }

    /// The tests that failed.
    pub fn failures(&self) -> impl Iterator<Item = &TestResult> {
        self.tests.iter().filter(|t| t.outcome != Outcome::Pass)
    }

    /// Whether the kernel passed: the payload finished, reported at least one test, and every
    /// test passed.
    pub fn ok(&self) -> bool {
        self.verdict() == Verdict::Ok
    }

    /// The overall result of this kernel's run.
    pub fn verdict(&self) -> Verdict {
        let failed = self.failures().count();
        if self.timed_out {
            Verdict::TimedOut(self.total)
        } else if !self.done {
            Verdict::Unfinished
        } else if failed > 0 {
            Verdict::Failed(failed)
        } else if self.tests.is_empty() {
            Verdict::NoTests
        } else {
            Verdict::Ok
        }
    }
}

/// The overall result of one kernel's run, worst cause first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Killed after running this long.
    TimedOut(Duration),
    /// The VM ended without the payload printing `UPROF-DONE`.
    Unfinished,
    /// This many tests failed.
    Failed(usize),
    /// The payload finished without reporting any test.
    NoTests,
    /// Every test passed.
    Ok,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::TimedOut(after) => write!(f, "timed out after {} s", after.as_secs()),
            Verdict::Unfinished => f.write_str("FAIL: no UPROF-DONE"),
            Verdict::Failed(n) => write!(f, "FAIL: {n} failed"),
            Verdict::NoTests => f.write_str("FAIL: no test results"),
            Verdict::Ok => f.write_str("ok"),
        }
    }
}

/// The summary table (one row per kernel), followed by the failing tests and, for VMs that did
/// not finish, the end of their console log.
pub fn render(reports: &[KernelReport]) -> String {
    let header = [
        "kernel", "release", "boot s", "total s", "passed", "failed", "result",
    ];
    let rows: Vec<[String; 7]> = reports
        .iter()
        .map(|r| {
            [
                r.kernel.series.label().to_owned(),
                r.kernel.release.clone(),
                r.boot
                    .map_or("-".to_owned(), |b| format!("{:.1}", b.as_secs_f64())),
                format!("{:.1}", r.total.as_secs_f64()),
                r.passed().to_string(),
                r.failures().count().to_string(),
                r.verdict().to_string(),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|row| row[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", padded.join(" | ").trim_end());
    };
    line(&header);
    line(
        &widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    for row in &rows {
        line(&row.iter().map(String::as_str).collect::<Vec<_>>());
    }
    for report in reports.iter().filter(|r| !r.ok()) {
        let _ = writeln!(
            out,
            "\n{} ({}): log in {}",
            report.kernel.series,
            report.verdict(),
            report.log.display()
        );
        for test in report.failures() {
            if let Outcome::Fail(reason) = &test.outcome {
                let _ = writeln!(out, "  FAIL {}: {reason}", test.name);
            }
        }
        if !report.done || report.timed_out {
            let _ = writeln!(out, "  last console lines:");
            for tail in &report.tail {
                let _ = writeln!(out, "  | {tail}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::kernels::Series;
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;

    fn report(lines: &[&str], status: Option<ExitStatus>) -> KernelReport {
        let console = Console {
            lines: lines
                .iter()
                .enumerate()
                .map(|(i, l)| (Duration::from_millis(500 * i as u64), l.to_string()))
                .collect(),
            elapsed: Duration::from_millis(3200),
            status,
        };
        let kernel = Kernel {
            series: Series::V6_1,
            release: "6.1.0-50-cloud-amd64".to_owned(),
            vmlinuz: PathBuf::from("/k"),
        };
        KernelReport::new(kernel, &console, PathBuf::from("/tmp/6.1.log"))
    }

    #[test]
    fn a_finished_run_counts_tests_and_boot_time() {
        let r = report(
            &[
                "[ 0.1] Linux version",
                "UPROF-INIT",
                "UPROF-TEST a PASS",
                "UPROF-TEST b FAIL no btf",
                "UPROF-DONE",
            ],
            Some(ExitStatus::from_raw(0)),
        );
        assert_eq!(r.boot, Some(Duration::from_millis(500)));
        assert_eq!((r.passed(), r.failures().count(), r.done), (1, 1, true));
        assert_eq!(r.verdict(), Verdict::Failed(1));
        let table = render(&[r]);
        assert!(table.contains("6.1    | 6.1.0-50-cloud-amd64 | 0.5    | 3.2     | 1      | 1      | FAIL: 1 failed"), "{table}");
        assert!(table.contains("  FAIL b: no btf"), "{table}");
    }

    #[test]
    fn a_run_without_done_fails_and_shows_its_tail() {
        let r = report(
            &[
                "UPROF-INIT",
                "UPROF-TEST a PASS",
                "Kernel panic - not syncing",
            ],
            Some(ExitStatus::from_raw(0)),
        );
        assert_eq!(r.verdict(), Verdict::Unfinished);
        assert!(render(&[r]).contains("  | Kernel panic - not syncing"));
    }

    #[test]
    fn verdicts_for_timeouts_empty_and_clean_runs() {
        assert_eq!(
            report(&["UPROF-INIT"], None).verdict().to_string(),
            "timed out after 3 s"
        );
        assert_eq!(
            report(&["UPROF-DONE"], Some(ExitStatus::from_raw(0))).verdict(),
            Verdict::NoTests
        );
        let clean = report(
            &["UPROF-TEST a PASS", "UPROF-DONE"],
            Some(ExitStatus::from_raw(0)),
        );
        assert!(clean.ok());
        assert_eq!(clean.boot, None);
    }
}
