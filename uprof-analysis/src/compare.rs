//! Several recordings side by side: how much waking, interest-list churn and scanning each event
//! loop needs for the same work (documented in docs/loop-comparison.md, JSON schema
//! `uprof.compare/2`).
//!
//! Counts (wait calls, wakeups, events, `epoll_ctl` calls) are summed over every listed thread
//! of a recording. Distributions (blocked and busy times, utilization, fds scanned per wakeup)
//! are those of its *loop thread*, the thread with the most wakeups: percentiles of different
//! threads cannot be merged, and the other threads of a typical server (a runtime's helpers, a
//! signal thread) rarely wake.
use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use crate::findings::{Finding, Kind, Severity};
use crate::report::{Report, ThreadReport};
use crate::session::Incomplete;
use crate::stats::DurationSummary;
use crate::text::{duration, table, terminal_safe, write_table};

/// Identifies the comparison's JSON layout; bumped when a field changes meaning or goes away.
pub const COMPARE_SCHEMA: &str = "uprof.compare/2";

/// One recording to compare: its report, the name of its column, and how many requests the
/// traced program served while it was recorded, if known.
#[derive(Clone, Copy, Debug)]
pub struct Recording<'a> {
    pub name: &'a str,
    pub report: &'a Report,
    pub requests: Option<u64>,
}

/// Recordings side by side, in the order given.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub schema: &'static str,
    pub recordings: Vec<LoopFigures>,
}

/// The figures of one recording.
#[derive(Clone, Debug, Serialize)]
pub struct LoopFigures {
    pub name: String,
    pub requests: Option<u64>,
    pub duration_ns: u64,
    pub lost_events: u64,
    /// The recording was read whole.
    pub complete: bool,
    /// Why not, when it was not (as in the report).
    pub incomplete: Option<Incomplete>,
    /// Listed threads (threads that waited or called `epoll_ctl`).
    pub threads: usize,
    /// The thread with the most wakeups, `None` when no thread waited.
    pub loop_thread: Option<LoopThread>,
    /// Wait calls of every class and syscall.
    pub wait_calls: Rate,
    /// Wait calls per syscall name; only syscalls with calls appear.
    pub by_syscall: BTreeMap<&'static str, u64>,
    /// Wait calls that returned ready events or fds.
    pub wakeups: Rate,
    /// Events (epoll family) or ready fds (poll family) returned.
    pub events: u64,
    /// `events / wakeups.total`, 0 without wakeups.
    pub events_per_wakeup: f64,
    pub epoll_ctl: Rate,
    /// Mean fds passed to a poll-family call that returned ready fds, on the loop thread;
    /// `None` when it made no poll-family call.
    pub fds_scanned_per_wakeup: Option<f64>,
    /// Time blocked in one wait call, on the loop thread.
    pub blocked_ns: Percentiles,
    /// Time between two wait calls (one tick's work), on the loop thread.
    pub busy_ns: Percentiles,
    /// The loop thread's `busy / (busy + blocked)`, 0 to 1.
    pub utilization: f64,
    /// The recording's findings, as in its report (most severe first).
    pub findings: Vec<Finding>,
}

/// Which thread the per-thread figures come from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LoopThread {
    pub pid: u32,
    pub tid: u32,
    pub comm: Option<String>,
}

/// A count, per second of the recording and per request served.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Rate {
    pub total: u64,
    /// 0 for a recording of no length.
    pub per_second: f64,
    /// `None` when the request count is unknown or 0.
    pub per_request: Option<f64>,
}

/// The median and 99th percentile of a duration summary, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    /// Samples; `p50` and `p99` are 0 when there are none.
    pub count: u64,
    pub p50: u64,
    pub p99: u64,
}

impl Comparison {
    /// The figures of each recording, in order.
    pub fn new(recordings: &[Recording]) -> Self {
        Comparison {
            schema: COMPARE_SCHEMA,
            recordings: recordings.iter().map(LoopFigures::of).collect(),
        }
    }

    /// The comparison as a JSON value.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a comparison has string keys and finite numbers only")
    }

    /// Writes a table for a terminal: one column per recording, one row per figure.
    pub fn render_text(&self, out: &mut impl Write) -> io::Result<()> {
        let runs = &self.recordings;
        let any_requests = runs.iter().any(|r| r.requests.is_some());
        let mut rows: Vec<Vec<String>> = Vec::new();
        let mut row = |label: &str, cell: &dyn Fn(&LoopFigures) -> String| {
            rows.push(
                std::iter::once(label.to_owned())
                    .chain(runs.iter().map(cell))
                    .collect(),
            );
        };
        if any_requests {
            row("requests", &|r| {
                r.requests.map_or("-".into(), |n| n.to_string())
            });
        }
        row("duration", &|r| duration(r.duration_ns));
        row("lost events", &|r| r.lost_events.to_string());
        row("threads waiting", &|r| r.threads.to_string());
        for (label, rate) in [
            (
                "wakeups",
                (|r: &LoopFigures| r.wakeups) as fn(&LoopFigures) -> Rate,
            ),
            ("epoll_ctl", |r| r.epoll_ctl),
            ("wait calls", |r| r.wait_calls),
        ] {
            if any_requests {
                row(&format!("{label} / request"), &|r| {
                    rate(r).per_request.map_or("-".into(), figure)
                });
            }
            row(&format!("{label} / s"), &|r| figure(rate(r).per_second));
        }
        row("events / wakeup", &|r| figure(r.events_per_wakeup));
        row("fds scanned / wakeup", &|r| {
            r.fds_scanned_per_wakeup.map_or("-".into(), figure)
        });
        row("blocked p50", &|r| {
            percentile(r.blocked_ns, r.blocked_ns.p50)
        });
        row("blocked p99", &|r| {
            percentile(r.blocked_ns, r.blocked_ns.p99)
        });
        row("busy p50", &|r| percentile(r.busy_ns, r.busy_ns.p50));
        row("busy p99", &|r| percentile(r.busy_ns, r.busy_ns.p99));
        row("loop utilization", &|r| {
            format!("{:.1}%", r.utilization * 100.0)
        });
        let syscalls: std::collections::BTreeSet<&str> = runs
            .iter()
            .flat_map(|r| r.by_syscall.keys().copied())
            .collect();
        for syscall in syscalls {
            row(&format!("calls: {syscall}"), &|r| {
                r.by_syscall.get(syscall).copied().unwrap_or(0).to_string()
            });
        }
        row("loop thread", &|r| match &r.loop_thread {
            Some(t) => format!(
                "{} {}",
                t.tid,
                terminal_safe(t.comm.as_deref().unwrap_or("?"))
            ),
            None => "-".into(),
        });

        row("findings", &|r| {
            let n = |s: Severity| r.findings.iter().filter(|f| f.severity == s).count();
            format!("{} error, {} warn", n(Severity::Error), n(Severity::Warn))
        });
        let kinds: std::collections::BTreeSet<Kind> = runs
            .iter()
            .flat_map(|r| r.findings.iter().map(|f| f.kind))
            .collect();
        for kind in kinds {
            row(&format!("finding: {}", kind.name()), &|r| {
                let of_kind = r.findings.iter().filter(|f| f.kind == kind);
                match of_kind.clone().map(|f| f.severity).max() {
                    Some(worst) => format!("{} ×{}", worst.name(), of_kind.count()),
                    None => "-".into(),
                }
            });
        }

        let header: Vec<&str> = std::iter::once("")
            .chain(runs.iter().map(|r| r.name.as_str()))
            .collect();
        write_table(out, table(&header, rows.into_iter(), &[0]))?;
        writeln!(
            out,
            "counts: all threads; blocked, busy, utilization and fds scanned: the loop thread \
             (most wakeups)"
        )
    }
}

impl LoopFigures {
    fn of(recording: &Recording) -> Self {
        let report = recording.report;
        let threads = &report.threads;
        let sum = |count: fn(&ThreadReport) -> u64| threads.iter().map(count).sum::<u64>();
        let rate = |total| Rate::new(total, report.duration_ns, recording.requests);
        let mut by_syscall = BTreeMap::new();
        for (name, n) in threads.iter().flat_map(|t| &t.waits.by_syscall) {
            *by_syscall.entry(*name).or_default() += n;
        }
        let (wakeups, events) = (sum(|t| t.waits.ready), sum(|t| t.waits.events));
        // Most wakeups; the first listed (lowest pid, tid) on a tie.
        let main = threads
            .iter()
            .filter(|t| t.waits.calls > 0)
            .rev()
            .max_by_key(|t| t.waits.ready);
        LoopFigures {
            name: recording.name.to_owned(),
            requests: recording.requests,
            duration_ns: report.duration_ns,
            lost_events: report.lost_events,
            complete: report.complete,
            incomplete: report.incomplete.clone(),
            threads: threads.len(),
            loop_thread: main.map(|t| LoopThread {
                pid: t.pid,
                tid: t.tid,
                comm: t.comm.clone(),
            }),
            wait_calls: rate(sum(|t| t.waits.calls)),
            by_syscall,
            wakeups: rate(wakeups),
            events,
            events_per_wakeup: ratio(events as f64, wakeups),
            epoll_ctl: rate(sum(|t| t.epoll_ctl)),
            fds_scanned_per_wakeup: main
                .map(|t| t.waits.fds_scanned)
                .filter(|scan| scan.calls > 0)
                .map(|scan| scan.per_wakeup),
            blocked_ns: main.map_or_else(Percentiles::default, |t| (&t.waits.blocked_ns).into()),
            busy_ns: main.map_or_else(Percentiles::default, |t| (&t.waits.busy_ns).into()),
            utilization: main.map_or(0.0, |t| t.waits.utilization),
            findings: report.findings.clone(),
        }
    }
}

impl Rate {
    fn new(total: u64, duration_ns: u64, requests: Option<u64>) -> Self {
        Rate {
            total,
            per_second: ratio(total as f64 * 1e9, duration_ns),
            per_request: requests.filter(|&n| n > 0).map(|n| total as f64 / n as f64),
        }
    }
}

impl From<&DurationSummary> for Percentiles {
    fn from(d: &DurationSummary) -> Self {
        Percentiles {
            count: d.count,
            p50: d.p50,
            p99: d.p99,
        }
    }
}

/// `num / den`, 0 when `den` is 0.
fn ratio(num: f64, den: u64) -> f64 {
    if den == 0 { 0.0 } else { num / den as f64 }
}

/// A ratio with three significant digits (no more than 2 decimals): `0.05`, `1.25`, `12.5`, `1250`.
fn figure(v: f64) -> String {
    let decimals = if v < 10.0 {
        2
    } else if v < 100.0 {
        1
    } else {
        0
    };
    format!("{v:.decimals$}")
}

/// A percentile in automatic units, or `-` without samples.
fn percentile(p: Percentiles, ns: u64) -> String {
    if p.count == 0 {
        "-".to_owned()
    } else {
        duration(ns)
    }
}

#[cfg(test)]
mod tests {
    use uprof_common::{EPOLL_CTL_ADD, EPOLL_CTL_MOD, Record, WaitSyscall};

    use super::*;
    use crate::synth::Task;
    use crate::{Analyzer, SessionInfo};

    const US: u64 = 1_000;

    fn analyze(records: impl IntoIterator<Item = Record>, duration_ns: u64) -> Report {
        let mut analyzer = Analyzer::new();
        for rec in records {
            analyzer.push(&rec);
        }
        analyzer.finish(&SessionInfo {
            duration_ns,
            ..SessionInfo::default()
        })
    }

    /// An epoll loop: `ticks` waits blocking 10 µs then working 5 µs, each returning 3 events,
    /// with an `epoll_ctl MOD` every other tick, after 4 ADDs; and a helper thread with one
    /// wakeup of 1 event.
    fn epoll_loop(ticks: u64) -> Report {
        let (main, helper) = (Task::new(10, 10), Task::new(10, 11));
        let mut records = Vec::new();
        for fd in 4..8 {
            records.push(main.epoll_ctl(0, 3, EPOLL_CTL_ADD, fd, fd as u64, 0));
        }
        for i in 0..ticks {
            let enter = 100 * US + i * 15 * US;
            records.push(main.epoll_wait(enter, enter + 10 * US, 3, 3));
            if i % 2 == 1 {
                records.push(main.epoll_ctl(enter + 11 * US, 3, EPOLL_CTL_MOD, 4, 4, 0));
            }
        }
        records.push(helper.epoll_wait(50 * US, 60 * US, 9, 1));
        analyze(records, 2_000_000_000)
    }

    /// A poll loop: `ticks` polls over `nfds` fds blocking 2 µs then working 2 µs (short enough
    /// for exact percentiles), each returning 1 ready fd, then a poll over 1 fd that times out.
    fn poll_loop(ticks: u64, nfds: u32) -> Report {
        let task = Task::new(20, 20);
        let mut records: Vec<Record> = (0..ticks)
            .map(|i| task.poll(i * 4 * US, i * 4 * US + 2 * US, nfds, 1))
            .collect();
        let last = ticks * 4 * US;
        records.push(Record::Wait(task.wait(
            WaitSyscall::Poll,
            last,
            last + 1_000 * US,
            -1,
            1,
            0,
        )));
        analyze(records, 1_000_000_000)
    }

    #[test]
    fn counts_are_summed_over_threads_and_divided_by_requests_and_seconds() {
        let (ticks, requests) = (100, 50);
        let report = epoll_loop(ticks);
        let c = Comparison::new(&[Recording {
            name: "epoll",
            report: &report,
            requests: Some(requests),
        }]);
        let f = &c.recordings[0];
        let wakeups = ticks + 1;
        assert_eq!(
            f.wakeups,
            Rate {
                total: wakeups,
                per_second: wakeups as f64 / 2.0,
                per_request: Some(wakeups as f64 / requests as f64),
            }
        );
        let ctl = 4 + ticks / 2;
        assert_eq!(f.epoll_ctl.total, ctl);
        assert_eq!(f.epoll_ctl.per_request, Some(ctl as f64 / requests as f64));
        assert_eq!(f.events, 3 * ticks + 1);
        assert_eq!(f.events_per_wakeup, (3 * ticks + 1) as f64 / wakeups as f64);
        assert_eq!(f.by_syscall, BTreeMap::from([("epoll_wait", wakeups)]));
        assert_eq!((f.threads, f.fds_scanned_per_wakeup), (2, None));
    }

    #[test]
    fn distributions_come_from_the_thread_with_most_wakeups() {
        let report = epoll_loop(10);
        let f = &Comparison::new(&[Recording {
            name: "epoll",
            report: &report,
            requests: None,
        }])
        .recordings[0];
        assert_eq!(
            f.loop_thread,
            Some(LoopThread {
                pid: 10,
                tid: 10,
                comm: None
            })
        );
        let blocked = Percentiles {
            count: 10,
            p50: 10 * US,
            p99: 10 * US,
        };
        assert_eq!(f.blocked_ns, blocked);
        // Nine gaps between ten waits, each 5 µs.
        let busy = Percentiles {
            count: 9,
            p50: 5 * US,
            p99: 5 * US,
        };
        assert_eq!(f.busy_ns, busy);
        assert_eq!(f.utilization, (9.0 * 5.0) / (9.0 * 5.0 + 10.0 * 10.0));
        assert_eq!(f.wakeups.per_request, None);
    }

    #[test]
    fn poll_loops_report_fds_scanned_per_wakeup() {
        let (few, many) = (poll_loop(20, 10), poll_loop(20, 1000));
        let c = Comparison::new(&[
            Recording {
                name: "few",
                report: &few,
                requests: Some(20),
            },
            Recording {
                name: "many",
                report: &many,
                requests: Some(0),
            },
        ]);
        let scans: Vec<_> = c
            .recordings
            .iter()
            .map(|f| f.fds_scanned_per_wakeup)
            .collect();
        assert_eq!(scans, vec![Some(10.0), Some(1000.0)]);
        let few = &c.recordings[0];
        assert_eq!((few.wakeups.total, few.wait_calls.total), (20, 21));
        assert_eq!(few.wakeups.per_request, Some(1.0));
        assert_eq!(few.events_per_wakeup, 1.0);
        // A request count of 0 gives no per-request figures.
        assert_eq!(c.recordings[1].wakeups.per_request, None);
    }

    #[test]
    fn an_empty_recording_has_zero_figures() {
        let report = analyze(Vec::new(), 0);
        let f = &Comparison::new(&[Recording {
            name: "idle",
            report: &report,
            requests: Some(5),
        }])
        .recordings[0];
        assert_eq!(f.loop_thread, None);
        assert_eq!(f.wakeups.per_second, 0.0);
        assert_eq!(f.wakeups.per_request, Some(0.0));
        assert_eq!((f.events_per_wakeup, f.utilization), (0.0, 0.0));
        assert_eq!(f.blocked_ns, Percentiles::default());
    }

    #[test]
    fn json_names_the_schema_and_every_recording() {
        let (a, b) = (epoll_loop(4), poll_loop(4, 3));
        let json = Comparison::new(&[
            Recording {
                name: "a",
                report: &a,
                requests: Some(4),
            },
            Recording {
                name: "b",
                report: &b,
                requests: None,
            },
        ])
        .to_json();
        assert_eq!(json["schema"], COMPARE_SCHEMA);
        assert_eq!(json["recordings"][0]["name"], "a");
        assert_eq!(json["recordings"][0]["wakeups"]["per_request"], 5.0 / 4.0);
        assert_eq!(
            json["recordings"][1]["wakeups"]["per_request"],
            serde_json::Value::Null
        );
        assert_eq!(json["recordings"][1]["fds_scanned_per_wakeup"], 3.0);
        assert_eq!(json["recordings"][1]["blocked_ns"]["p50"], 2 * US);
    }

    #[test]
    fn table_has_a_column_per_recording_and_per_request_rows_when_known() {
        let (a, b) = (epoll_loop(4), poll_loop(4, 3));
        let c = Comparison::new(&[
            Recording {
                name: "epoll-run",
                report: &a,
                requests: Some(4),
            },
            Recording {
                name: "poll-run",
                report: &b,
                requests: None,
            },
        ]);
        let mut out = Vec::new();
        c.render_text(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let line = |label: &str| {
            let found = text.lines().find(|l| l.trim_start().starts_with(label));
            let found = found.unwrap_or_else(|| panic!("no `{label}` row in:\n{text}"));
            found.split_whitespace().collect::<Vec<_>>().join(" ")
        };
        assert!(line("epoll-run").ends_with("poll-run"), "{text}");
        // 5 wakeups for 4 requests; the poll run's count is unknown.
        assert_eq!(line("wakeups / request"), "wakeups / request 1.25 -");
        assert_eq!(line("fds scanned / wakeup"), "fds scanned / wakeup - 3.00");
        assert_eq!(line("calls: poll"), "calls: poll 0 5");
        assert_eq!(line("calls: epoll_wait"), "calls: epoll_wait 5 0");
    }
}
