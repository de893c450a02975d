//! What one echo run measured, read from `/proc` and the server's own report, and the table
//! of instructions per request and per wakeup across the servers.
//!
//! Under `-icount shift=0` a guest nanosecond of CPU time is one instruction, so the server's
//! on-CPU time from schedstat (nanoseconds, user and kernel) counts the instructions it ran on
//! behalf of the requests.

use anyhow::{Context, Result, bail};
use tickloop_apps::report::ServerReport;

use crate::bench::stats::median;

/// A server's counters at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Time on the CPU so far, in nanoseconds: instructions under icount.
    pub cpu_ns: u64,
    /// Times it went to sleep and was woken (`voluntary_ctxt_switches`): its blocking waits.
    pub sleeps: u64,
    /// Returns from its readiness wait, if it counts them.
    pub wait_returns: Option<u64>,
}

impl Sample {
    /// The sample of a server: its CPU time so far (nanoseconds), its `/proc/PID/status` and its
    /// report.
    pub fn new(cpu_ns: u64, status: &str, report: &ServerReport) -> Result<Sample> {
        Ok(Sample {
            cpu_ns,
            sleeps: voluntary_switches(status)?,
            wait_returns: report.wait_returns,
        })
    }
}

/// `voluntary_ctxt_switches` of a `/proc/PID/status`.
fn voluntary_switches(status: &str) -> Result<u64> {
    let value = status
        .lines()
        .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))
        .context("no voluntary_ctxt_switches in the status")?;
    value
        .trim()
        .parse()
        .with_context(|| format!("voluntary_ctxt_switches is no count: {value:?}"))
}

/// One server under one load: the requests echoed and its counters before and after.
#[derive(Clone, Copy, Debug)]
pub struct Run {
    pub requests: u64,
    pub before: Sample,
    pub after: Sample,
}

/// Per-request figures of one run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PerRequest {
    pub instructions: f64,
    pub wait_returns: Option<f64>,
    pub sleeps: f64,
}

impl Run {
    /// Fails if a counter went backwards or nothing was echoed.
    pub fn per_request(&self) -> Result<PerRequest> {
        let (before, after) = (self.before, self.after);
        if self.requests == 0 {
            bail!("no request was echoed");
        }
        let delta = |a: u64, b: u64, what: &str| {
            b.checked_sub(a)
                .with_context(|| format!("{what} went backwards: {a} -> {b}"))
        };
        let n = self.requests as f64;
        let wait_returns = match (before.wait_returns, after.wait_returns) {
            (Some(a), Some(b)) => Some(delta(a, b, "wait returns")? as f64 / n),
            (None, None) => None,
            _ => bail!("the server counted wait returns in one report only"),
        };
        Ok(PerRequest {
            instructions: delta(before.cpu_ns, after.cpu_ns, "CPU time")? as f64 / n,
            wait_returns,
            sleeps: delta(before.sleeps, after.sleeps, "voluntary switches")? as f64 / n,
        })
    }
}

/// The median of each per-request figure over a server's rounds.
pub fn median_of(rounds: &[PerRequest]) -> PerRequest {
    let of = |field: fn(&PerRequest) -> f64| median(&rounds.iter().map(field).collect::<Vec<_>>());
    let counted = rounds.iter().all(|r| r.wait_returns.is_some());
    PerRequest {
        instructions: of(|r| r.instructions),
        wait_returns: (counted && !rounds.is_empty())
            .then(|| of(|r| r.wait_returns.expect("all counted"))),
        sleeps: of(|r| r.sleeps),
    }
}

/// The comparison table: a row per server, each ratio against `baseline`'s row.
pub fn table(rows: &[(String, PerRequest)], baseline: &str) -> Result<Vec<String>> {
    let base = rows
        .iter()
        .find(|(name, _)| name == baseline)
        .with_context(|| format!("no {baseline} row to compare with"))?
        .1;
    let mut lines = vec![format!(
        "   {:<18} {:>13} {:>8} {:>11} {:>13} {:>11} {:>13}",
        "server", "instr/request", "x mio", "waits/req", "instr/wait", "sleeps/req", "instr/sleep",
    )];
    for (name, row) in rows {
        let waits = row
            .wait_returns
            .map_or("-".to_owned(), |w| format!("{w:.3}"));
        let per_wait = row
            .wait_returns
            .map_or("-".to_owned(), |w| thousands(row.instructions / w));
        lines.push(format!(
            "   {name:<18} {:>13} {:>8} {waits:>11} {per_wait:>13} {:>11.3} {:>13}",
            thousands(row.instructions),
            format!("x{:.3}", row.instructions / base.instructions),
            row.sleeps,
            thousands(row.instructions / row.sleeps),
        ));
    }
    Ok(lines)
}

/// A count rounded to a whole number, with thousands separators.
fn thousands(value: f64) -> String {
    if !value.is_finite() {
        return "-".to_owned();
    }
    let digits = format!("{:.0}", value.round());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(wait_returns: Option<u64>) -> ServerReport {
        ServerReport {
            server: "mio".into(),
            cpu_micros: 1,
            open_connections: 0,
            loop_stats: None,
            wait_returns,
        }
    }

    const STATUS: &str = "Name:\tmio-echo\nState:\tS (sleeping)\n\
                          voluntary_ctxt_switches:\t812\nnonvoluntary_ctxt_switches:\t3\n";

    #[test]
    fn a_sample_reads_the_status_and_the_report() {
        let sample = Sample::new(123_456_789, STATUS, &report(Some(40))).unwrap();
        assert_eq!(
            sample,
            Sample {
                cpu_ns: 123_456_789,
                sleeps: 812,
                wait_returns: Some(40)
            }
        );
    }

    #[test]
    fn a_status_without_voluntary_switches_is_an_error() {
        let no_switches = "Name:\tmio-echo\nnonvoluntary_ctxt_switches:\t3\n";
        assert!(Sample::new(1, no_switches, &report(None)).is_err());
        let garbled = "voluntary_ctxt_switches:\tmany\n";
        assert!(Sample::new(1, garbled, &report(None)).is_err());
    }

    fn sample(cpu_ns: u64, sleeps: u64, wait_returns: Option<u64>) -> Sample {
        Sample {
            cpu_ns,
            sleeps,
            wait_returns,
        }
    }

    #[test]
    fn per_request_figures_are_the_deltas_over_the_requests() {
        let run = Run {
            requests: 1000,
            before: sample(5_000_000, 100, Some(200)),
            after: sample(35_000_000, 600, Some(900)),
        };
        assert_eq!(
            run.per_request().unwrap(),
            PerRequest {
                instructions: 30_000.0,
                wait_returns: Some(0.7),
                sleeps: 0.5
            }
        );
        let uncounted = Run {
            before: sample(0, 0, None),
            after: sample(1000, 10, None),
            ..run
        };
        assert_eq!(uncounted.per_request().unwrap().wait_returns, None);
    }

    #[test]
    fn backwards_counters_and_empty_runs_are_refused() {
        let run = Run {
            requests: 10,
            before: sample(10, 0, Some(5)),
            after: sample(5, 0, Some(6)),
        };
        assert!(run.per_request().is_err());
        let half_counted = Run {
            before: sample(1, 0, Some(5)),
            after: sample(5, 0, None),
            ..run
        };
        assert!(half_counted.per_request().is_err());
        let empty = Run {
            requests: 0,
            before: sample(1, 0, None),
            after: sample(5, 0, None),
        };
        assert!(empty.per_request().is_err());
    }

    fn row(instructions: f64, wait_returns: Option<f64>, sleeps: f64) -> PerRequest {
        PerRequest {
            instructions,
            wait_returns,
            sleeps,
        }
    }

    #[test]
    fn the_median_is_taken_per_figure() {
        let rounds = [
            row(300.0, Some(0.5), 0.4),
            row(100.0, Some(0.7), 0.6),
            row(200.0, Some(0.6), 0.2),
        ];
        assert_eq!(median_of(&rounds), row(200.0, Some(0.6), 0.4));
        let partly = [row(1.0, None, 1.0), row(3.0, Some(1.0), 1.0)];
        assert_eq!(median_of(&partly), row(2.0, None, 1.0));
    }

    #[test]
    fn the_table_compares_every_row_with_the_baseline() {
        let rows = vec![
            ("tickloop-epoll".to_owned(), row(33_000.0, Some(0.5), 0.25)),
            ("mio".to_owned(), row(30_000.0, Some(0.5), 0.5)),
            ("tokio".to_owned(), row(45_000.0, None, 0.5)),
        ];
        let lines = table(&rows, "mio").unwrap();
        assert_eq!(lines.len(), 4);
        let cells = |line: &str| {
            line.split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            cells(&lines[1]),
            [
                "tickloop-epoll",
                "33,000",
                "x1.100",
                "0.500",
                "66,000",
                "0.250",
                "132,000"
            ]
        );
        assert_eq!(
            cells(&lines[2]),
            [
                "mio", "30,000", "x1.000", "0.500", "60,000", "0.500", "60,000"
            ]
        );
        assert_eq!(
            cells(&lines[3]),
            ["tokio", "45,000", "x1.500", "-", "-", "0.500", "90,000"]
        );
        assert!(table(&rows, "node").is_err());
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.6), "1,000");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
        assert_eq!(thousands(f64::INFINITY), "-");
    }
}
