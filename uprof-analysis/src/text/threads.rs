//! The per-thread table.
use std::io::{self, Write};

use super::{busiest, percentiles, table, terminal_safe, write_table};
use crate::report::{Report, ThreadReport};

/// Threads listed by default: the busiest (by wait and `epoll_ctl` calls).
const THREAD_ROWS: usize = 30;

pub(super) fn write(report: &Report, out: &mut impl Write, all: bool) -> io::Result<()> {
    let threads = &report.threads;
    writeln!(out, "THREADS ({})", threads.len())?;
    if threads.is_empty() {
        return writeln!(out, "  no thread waited or called epoll_ctl");
    }
    let shown: Vec<&ThreadReport> = if all {
        threads.iter().collect()
    } else {
        report
            .busiest_threads()
            .into_iter()
            .map(|i| &threads[i])
            .collect()
    };
    let columns = Columns {
        polls: threads.iter().any(|t| t.waits.polls > 0),
        scans: threads.iter().any(|t| t.waits.fds_scanned.calls > 0),
        wakeups: report.herds.is_some(),
    };
    let mut header = vec!["PID", "TID", "COMM", "CALLS", "WITH EV", "TIMEOUT"];
    if columns.polls {
        header.push("POLLS");
    }
    header.extend([
        "EINTR", "ERR", "UNFIN", "EV/CALL", "BLK p50", "BLK p99", "BLK max", "BUSY p50",
        "BUSY p99", "BUSY max", "UTIL",
    ]);
    if columns.scans {
        header.push("SCAN/CALL");
    }
    if columns.wakeups {
        header.extend(["SLEPT", "SPURIOUS", "HERD", "RUN p50", "RUN p99"]);
    }
    header.push("SYSCALLS");
    let rows = shown.iter().map(|t| row(t, columns));
    write_table(out, table(&header, rows, &[2, header.len() - 1]))?;
    let hidden = threads.len() - shown.len();
    if hidden > 0 {
        let calls: u64 = threads.iter().map(|t| t.waits.calls).sum::<u64>()
            - shown.iter().map(|t| t.waits.calls).sum::<u64>();
        writeln!(
            out,
            "  … {hidden} more threads made {calls} wait calls (--all lists every thread)"
        )?;
    }
    writeln!(
        out,
        "  WITH EV: calls that returned events or ready fds; EV/CALL: events per such call; \
         {}UTIL: busy / (busy + blocked)",
        if columns.polls {
            "POLLS: zero-timeout calls that found nothing; "
        } else {
            ""
        }
    )
}

impl Report {
    /// The threads the table lists by default, by index in `threads`, in order: the busiest
    /// (by wait and `epoll_ctl` calls).
    pub fn busiest_threads(&self) -> Vec<usize> {
        let mut shown = busiest(&self.threads, THREAD_ROWS, |t| t.waits.calls + t.epoll_ctl);
        shown.sort_unstable();
        shown
    }
}

/// Optional columns, shown when any thread has figures for them.
#[derive(Clone, Copy)]
struct Columns {
    polls: bool,
    scans: bool,
    wakeups: bool,
}

fn row(t: &ThreadReport, columns: Columns) -> Vec<String> {
    let w = &t.waits;
    let per_call = &w.events_per_wakeup;
    let mut row = vec![
        t.pid.to_string(),
        t.tid.to_string(),
        t.comm
            .as_deref()
            .map_or_else(|| "?".to_owned(), |c| terminal_safe(c).into_owned()),
        w.calls.to_string(),
        w.ready.to_string(),
        w.timeouts.to_string(),
    ];
    if columns.polls {
        row.push(w.polls.to_string());
    }
    row.extend([
        w.interrupted.to_string(),
        w.errors.to_string(),
        w.unfinished.to_string(),
        if per_call.count == 0 {
            "-".to_owned()
        } else {
            format!("{:.1}", per_call.mean)
        },
    ]);
    row.extend(percentiles(&w.blocked_ns));
    row.extend(percentiles(&w.busy_ns));
    let timed = w.blocked_ns.count > 0 || w.busy_ns.count > 0;
    row.push(if timed {
        format!("{:.1}%", w.utilization * 100.0)
    } else {
        "-".to_owned()
    });
    if columns.scans {
        let scan = &w.fds_scanned;
        row.push(if scan.calls == 0 {
            "-".to_owned()
        } else {
            format!("{:.1}", scan.per_call)
        });
    }
    if columns.wakeups {
        match &t.wakeups {
            Some(k) => {
                row.extend([k.slept, k.spurious, k.herd].map(|n| n.to_string()));
                let run = &k.wake_to_run_ns;
                let [p50, p99, _] = percentiles(run);
                row.extend([p50, p99]);
            }
            None => row.extend(std::iter::repeat_n("-".to_owned(), 5)),
        }
    }
    let syscalls: Vec<String> = w
        .by_syscall
        .iter()
        .map(|(name, n)| format!("{name}:{n}"))
        .collect();
    row.push(syscalls.join(" "));
    row
}
