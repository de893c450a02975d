//! The terminal rendering of a [`Report`]: a header, a per-thread table and per-epoll fd tables.
use std::io::{self, Write};

use comfy_table::{CellAlignment, Table, presets};

use crate::View;
use crate::report::{EpollReport, FdReport, Report, ThreadReport};
use crate::stats::DurationSummary;

impl Report {
    /// Writes the report for a terminal: the session header, then the tables `view` selects.
    pub fn render_text(&self, out: &mut impl Write, view: View) -> io::Result<()> {
        self.write_header(out)?;
        if matches!(view, View::Threads | View::All) {
            writeln!(out)?;
            self.write_threads(out)?;
        }
        if matches!(view, View::Fds | View::All) {
            writeln!(out)?;
            self.write_epolls(out)?;
        }
        Ok(())
    }

    fn write_header(&self, out: &mut impl Write) -> io::Result<()> {
        writeln!(
            out,
            "uprof: {} traced, tier {}, {} probes attached (listed in --format json)",
            duration(self.duration_ns),
            or_dash(&self.tier),
            self.probes.len()
        )?;
        if let Some(command) = &self.command {
            writeln!(out, "command: {}", terminal_safe(&command.join(" ")))?;
        }
        if !self.pids.is_empty() {
            let pids: Vec<String> = self.pids.iter().map(u32::to_string).collect();
            writeln!(out, "pids: {}", pids.join(" "))?;
        }
        if self.lost_events > 0 {
            writeln!(
                out,
                "*** WARNING: {} EVENTS LOST: the counts below are incomplete and busy times may \
                 include missed waits ***",
                self.lost_events
            )?;
        } else {
            writeln!(out, "lost events: 0")?;
        }
        if self.late_records > 0 {
            writeln!(
                out,
                "note: {} records arrived too late to be put in order",
                self.late_records
            )?;
        }
        if self.unattributed_events > 0 {
            writeln!(
                out,
                "note: {} returned events followed no epoll wait record",
                self.unattributed_events
            )?;
        }
        Ok(())
    }

    fn write_threads(&self, out: &mut impl Write) -> io::Result<()> {
        writeln!(out, "THREADS ({})", self.threads.len())?;
        if self.threads.is_empty() {
            return writeln!(out, "  no thread waited or called epoll_ctl");
        }
        let scans = self.threads.iter().any(|t| t.waits.fds_scanned.calls > 0);
        let wakeups = self.herds.is_some();
        let mut header = vec![
            "PID", "TID", "COMM", "CALLS", "READY", "TIMEOUT", "EINTR", "ERR", "UNFIN", "EV/WAKE",
            "BLK p50", "BLK p99", "BLK max", "BUSY p50", "BUSY p99", "BUSY max", "UTIL",
        ];
        if scans {
            header.push("SCAN/CALL");
        }
        if wakeups {
            header.extend(["SLEPT", "SPURIOUS", "HERD", "RUN p50", "RUN p99"]);
        }
        header.push("SYSCALLS");
        let rows = self.threads.iter().map(|t| thread_row(t, scans, wakeups));
        write_table(out, table(&header, rows, &[2, header.len() - 1]))
    }

    fn write_epolls(&self, out: &mut impl Write) -> io::Result<()> {
        writeln!(out, "EPOLL INSTANCES ({})", self.epolls.len())?;
        if self.epolls.is_empty() {
            return writeln!(out, "  none seen");
        }
        for e in &self.epolls {
            write_epoll(out, e)?;
        }
        if let Some(h) = self.herds {
            writeln!(
                out,
                "\nthundering herds: {} readiness events woke {} waiters",
                h.events, h.waiters_woken
            )?;
        }
        if self.tier == crate::report::SOCKET_TIER {
            writeln!(
                out,
                "~ socket tier: readiness is a socket receiving data (sk_data_ready), approximate"
            )?;
        }
        Ok(())
    }
}

fn thread_row(t: &ThreadReport, scans: bool, show_wakeups: bool) -> Vec<String> {
    let w = &t.waits;
    let wakeups = &w.events_per_wakeup;
    let mut row = vec![
        t.pid.to_string(),
        t.tid.to_string(),
        t.comm
            .as_deref()
            .map_or_else(|| "?".to_owned(), |c| terminal_safe(c).into_owned()),
        w.calls.to_string(),
        w.ready.to_string(),
        w.timeouts.to_string(),
        w.interrupted.to_string(),
        w.errors.to_string(),
        w.unfinished.to_string(),
        if wakeups.count == 0 {
            "-".to_owned()
        } else {
            format!("{:.1}", wakeups.mean)
        },
    ];
    row.extend(percentiles(&w.blocked_ns));
    row.extend(percentiles(&w.busy_ns));
    let timed = w.blocked_ns.count > 0 || w.busy_ns.count > 0;
    row.push(if timed {
        format!("{:.1}%", w.utilization * 100.0)
    } else {
        "-".to_owned()
    });
    if scans {
        let scan = &w.fds_scanned;
        row.push(if scan.calls == 0 {
            "-".to_owned()
        } else {
            format!("{:.1}", scan.per_call)
        });
    }
    if show_wakeups {
        match &t.wakeups {
            Some(k) => {
                row.extend([k.slept, k.spurious, k.herd].map(|n| n.to_string()));
                let run = percentiles(&k.wake_to_run_ns);
                row.extend([run[0].clone(), run[1].clone()]);
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

/// p50, p99 and max, or dashes when there are no samples.
fn percentiles(d: &DurationSummary) -> [String; 3] {
    if d.count == 0 {
        return ["-".to_owned(), "-".to_owned(), "-".to_owned()];
    }
    [duration(d.p50), duration(d.p99), duration(d.max)]
}

fn write_epoll(out: &mut impl Write, e: &EpollReport) -> io::Result<()> {
    writeln!(
        out,
        "\nepoll pid {} epfd {}: {} waits, {} events delivered; ctl add {} mod {} del {} errors {}",
        e.pid, e.epfd, e.waits, e.delivered, e.ctl.add, e.ctl.modify, e.ctl.del, e.ctl.errors
    )?;
    if e.fds.is_empty() {
        return writeln!(out, "  no fds seen");
    }
    let readiness = e.fds.iter().any(|f| f.readiness.is_some());
    let mut header = vec![
        "FD",
        "GEN",
        "KIND",
        "DELIVERED",
        "IN",
        "OUT",
        "ERR",
        "HUP",
        "RDHUP",
        "ADD",
        "MOD",
        "DEL",
    ];
    if readiness {
        header.extend([
            "READY",
            "R→D p50",
            "R→D p99",
            "R→D max",
            "COALESCED",
            "UNDELIV",
            "WOKE",
        ]);
    }
    header.push("CTL ERRORS");
    let rows = e.fds.iter().map(|f| fd_row(f, readiness));
    write_table(out, table(&header, rows, &[2, header.len() - 1]))
}

fn fd_row(f: &FdReport, readiness: bool) -> Vec<String> {
    let (fd, generation, kind) = match f.data {
        Some(data) => ("?".to_owned(), "-".to_owned(), format!("data={data:#x}")),
        None => (
            f.fd.to_string(),
            f.generation.to_string(),
            f.kind.to_owned(),
        ),
    };
    let errors: Vec<String> = f
        .ctl
        .errors_by_errno
        .iter()
        .map(|(name, n)| format!("{name}:{n}"))
        .collect();
    let m = &f.masks;
    let c = &f.ctl.counts;
    let mut row = vec![
        fd,
        generation,
        kind,
        f.delivered.to_string(),
        m.input.to_string(),
        m.out.to_string(),
        m.err.to_string(),
        m.hup.to_string(),
        m.rdhup.to_string(),
        c.add.to_string(),
        c.modify.to_string(),
        c.del.to_string(),
    ];
    if readiness {
        match &f.readiness {
            Some(r) => {
                let approximate = if r.approximate { "~" } else { "" };
                row.push(format!("{}{approximate}", r.ready));
                row.extend(percentiles(&r.ready_to_delivered_ns));
                row.extend([r.coalesced, r.undelivered, r.woke].map(|n| n.to_string()));
            }
            None => row.extend(std::iter::repeat_n("-".to_owned(), 7)),
        }
    }
    row.push(if errors.is_empty() {
        "-".to_owned()
    } else {
        errors.join(" ")
    });
    row
}

/// A borderless table; columns are right-aligned except those in `left`.
pub(crate) fn table(
    header: &[&str],
    rows: impl Iterator<Item = Vec<String>>,
    left: &[usize],
) -> Table {
    let mut t = Table::new();
    t.load_style(presets::NOTHING).set_header(header.to_vec());
    for row in rows {
        t.add_row(row);
    }
    for (i, column) in t.column_iter_mut().enumerate() {
        column.set_padding((0, 2));
        if !left.contains(&i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    t
}

pub(crate) fn write_table(out: &mut impl Write, table: Table) -> io::Result<()> {
    for line in table.lines() {
        writeln!(out, "  {}", line.trim_end())?;
    }
    Ok(())
}

/// `s` made safe to print on a terminal: control characters (an escape sequence in a thread
/// name set by the traced program, a newline) are shown as Rust-style escapes (`\u{1b}`), so
/// no traced program can move the cursor, retitle the window or clear the screen.
pub fn terminal_safe(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

/// Nanoseconds in the largest unit that keeps the value at least 1, with three significant
/// digits: `850ns`, `12.3µs`, `1.50ms`, `2.00s`.
pub(crate) fn duration(ns: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1_000_000_000, "s"), (1_000_000, "ms"), (1_000, "µs")];
    let Some(&(scale, unit)) = UNITS.iter().find(|(scale, _)| ns >= *scale) else {
        return format!("{ns}ns");
    };
    let v = ns as f64 / scale as f64;
    let decimals = if v < 10.0 {
        2
    } else if v < 100.0 {
        1
    } else {
        0
    };
    format!("{v:.decimals$}{unit}")
}

#[cfg(test)]
mod tests {
    use super::{duration, terminal_safe};

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(terminal_safe("nginx: worker"), "nginx: worker");
        assert_eq!(
            terminal_safe("\u{1b}]0;PWN\u{7}\u{1b}[2J"),
            "\\u{1b}]0;PWN\\u{7}\\u{1b}[2J"
        );
        assert_eq!(terminal_safe("a\nb\tc"), "a\\nb\\tc");
    }

    #[test]
    fn durations_pick_a_unit() {
        assert_eq!(duration(0), "0ns");
        assert_eq!(duration(999), "999ns");
        assert_eq!(duration(12_345), "12.3µs");
        assert_eq!(duration(1_500_000), "1.50ms");
        assert_eq!(duration(250_000_000), "250ms");
        assert_eq!(duration(2_000_000_000), "2.00s");
        assert_eq!(duration(4_000_000_000_000), "4000s");
    }
}
