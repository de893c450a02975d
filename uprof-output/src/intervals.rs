//! Per-interval rows (`--interval`), bcc-style: a block per interval with one row per active
//! thread, busiest first; or the same figures as JSON. Rows are written as their intervals
//! become final, so memory does not grow with the recording and a live recording shows them
//! as it goes.
use std::io::{self, Write};
use std::time::Duration;

use uprof_analysis::findings::Thresholds;
use uprof_analysis::intervals::{IntervalReport, IntervalRows, IntervalThread};
use uprof_analysis::stream::{Consumer, Event};
use uprof_analysis::{
    DurationSummary, SessionInfo, Summary, TextOptions, human_duration, terminal_safe,
};

use crate::summary::Rendering;
use crate::{Printer, Source};

/// Threads a table block shows, busiest first, without `--all`.
const THREAD_ROWS: usize = 10;

enum Style {
    /// Blocks for a terminal, at most `max_threads` rows each (`None`: all).
    Table { max_threads: Option<usize> },
    /// Inside the report's JSON object (`document`), or one object per line.
    Json { document: bool, width_ns: u64 },
}

pub(crate) struct IntervalPrinter<'w> {
    rows: IntervalRows,
    style: Style,
    source: Source,
    /// The end-of-recording report written after the intervals, and how; `None` for rows alone.
    summary: Option<(Summary, Rendering)>,
    out: Box<dyn Write + 'w>,
    /// Intervals written.
    written: u64,
    /// The first write error: nothing more is written, it is returned at the end.
    error: Option<io::Error>,
}

impl<'w> IntervalPrinter<'w> {
    /// Table blocks (every thread with `text.all`), followed by the report's tables if
    /// `report` says how to judge its findings.
    pub(crate) fn table(
        source: &Source,
        width: Duration,
        text: TextOptions,
        report: Option<&Thresholds>,
        out: Box<dyn Write + 'w>,
    ) -> Self {
        let style = Style::Table {
            max_threads: (!text.all).then_some(THREAD_ROWS),
        };
        let summary = report.map(|t| (Summary::with_thresholds(t.clone()), Rendering::Table(text)));
        Self::new(source, width, style, summary, out)
    }

    /// In the report's JSON (`document`: with findings judged by it), or JSON Lines.
    pub(crate) fn json(
        source: &Source,
        width: Duration,
        document: Option<&Thresholds>,
        out: Box<dyn Write + 'w>,
    ) -> Self {
        let timeline = source.timeline(width);
        let style = Style::Json {
            document: document.is_some(),
            width_ns: timeline.width_ns,
        };
        let summary = document.map(|t| (Summary::with_thresholds(t.clone()), Rendering::Json));
        Self::new(source, width, style, summary, out)
    }

    fn new(
        source: &Source,
        width: Duration,
        style: Style,
        summary: Option<(Summary, Rendering)>,
        out: Box<dyn Write + 'w>,
    ) -> Self {
        Self {
            rows: IntervalRows::new(source.timeline(width), source.coverage),
            style,
            source: source.clone(),
            summary,
            out,
            written: 0,
            error: None,
        }
    }

    /// Writes the intervals that became final.
    fn write_ready(&mut self) {
        while let Some(row) = self.rows.next_ready() {
            if self.error.is_none()
                && let Err(e) = self.write(&row)
            {
                self.error = Some(e);
            }
        }
    }

    fn write(&mut self, row: &IntervalReport) -> io::Result<()> {
        let out = &mut self.out;
        match self.style {
            Style::Table { max_threads } => {
                write_block(out, row, max_threads, &self.source)?;
                out.flush()?;
            }
            Style::Json { .. } if row.threads.is_empty() => return Ok(()),
            Style::Json {
                document: true,
                width_ns,
            } => {
                if self.written == 0 {
                    write!(
                        out,
                        "{{\n  \"interval_ns\": {width_ns},\n  \"intervals\": [\n    "
                    )?;
                } else {
                    write!(out, ",\n    ")?;
                }
                serde_json::to_writer(&mut *out, row)?;
            }
            Style::Json {
                document: false, ..
            } => {
                serde_json::to_writer(&mut *out, row)?;
                writeln!(out)?;
                out.flush()?;
            }
        }
        self.written += 1;
        Ok(())
    }
}

impl Consumer for IntervalPrinter<'_> {
    fn event(&mut self, event: &Event<'_>) {
        self.rows.event(event);
        if let Some((summary, _)) = &mut self.summary {
            summary.event(event);
        }
        self.write_ready();
    }

    fn advance(&mut self, ts: u64) {
        self.rows.advance(ts);
        self.write_ready();
    }
}

impl Printer for IntervalPrinter<'_> {
    fn finish(mut self: Box<Self>, session: &SessionInfo) -> io::Result<()> {
        self.write_ready();
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let Some((summary, rendering)) = self.summary.take() else {
            return self.out.flush();
        };
        let report = summary.finish(session);
        let out = &mut self.out;
        match (&self.style, rendering) {
            (Style::Json { width_ns, .. }, Rendering::Json) => {
                // The report's own fields follow the intervals in the same object.
                if self.written == 0 {
                    write!(
                        out,
                        "{{\n  \"interval_ns\": {width_ns},\n  \"intervals\": ["
                    )?;
                } else {
                    write!(out, "\n  ")?;
                }
                let report = serde_json::to_string_pretty(&report.to_json())?;
                let fields = report
                    .strip_prefix("{\n")
                    .expect("a report is a non-empty JSON object");
                writeln!(out, "],\n{fields}")?;
            }
            (_, rendering) => rendering.write(&report, out)?,
        }
        out.flush()
    }

    fn failed(&self) -> bool {
        self.error.is_some()
    }
}

/// One interval: a line with its time, then a row per thread, busiest first, at most
/// `max_threads`; a run of idle intervals is one line.
fn write_block(
    out: &mut dyn Write,
    row: &IntervalReport,
    max_threads: Option<usize>,
    source: &Source,
) -> io::Result<()> {
    let time = clock_time(row.start_ts, source.boot_offset_ns);
    let since = seconds(row.start_ns);
    if row.threads.is_empty() {
        let until = seconds(row.start_ns.saturating_add(row.duration_ns));
        return writeln!(out, "{time} {since}  no thread active until {until}\n");
    }
    let n = row.threads.len();
    let plural = if n == 1 { "" } else { "s" };
    writeln!(
        out,
        "{time} {since}  {n} thread{plural} active in {}",
        human_duration(row.duration_ns)
    )?;
    let coverage = source.coverage;
    let mut header = format!(
        "  {:>7} {:>7}  {:<15} {:>7} {:>7} {:>8} {:>8} {:>8} {:>8} {:>6}",
        "PID",
        "TID",
        "COMM",
        "CALLS",
        "EVENTS",
        "BLK p50",
        "BLK p99",
        "BUSY p50",
        "BUSY p99",
        "UTIL"
    );
    if coverage.readiness {
        header.push_str(&format!(" {:>8}", "R→D p99"));
    }
    if coverage.wakeups {
        header.push_str(&format!(" {:>7} {:>5}", "WAKEUPS", "HERDS"));
    }
    writeln!(out, "{header}")?;
    let shown = max_threads.unwrap_or(n).min(n);
    for t in &row.threads[..shown] {
        writeln!(out, "{}", thread_row(t))?;
    }
    if shown < n {
        let more = n - shown;
        let plural = if more == 1 { "" } else { "s" };
        writeln!(
            out,
            "  … {more} more thread{plural} (--all lists every thread)"
        )?;
    }
    writeln!(out)
}

fn thread_row(t: &IntervalThread) -> String {
    let comm = t
        .comm
        .as_deref()
        .map_or_else(|| "?".to_owned(), |c| terminal_safe(c).into_owned());
    let timed = t.blocked_ns.count > 0 || t.busy_ns.count > 0;
    let util = if timed {
        format!("{:.1}%", t.utilization * 100.0)
    } else {
        "-".to_owned()
    };
    let mut row = format!(
        "  {:>7} {:>7}  {comm:<15} {:>7} {:>7} {:>8} {:>8} {:>8} {:>8} {util:>6}",
        t.pid,
        t.tid,
        t.calls,
        t.events,
        p50(&t.blocked_ns),
        p99(&t.blocked_ns),
        p50(&t.busy_ns),
        p99(&t.busy_ns),
    );
    if let Some(r) = &t.ready_to_delivered_ns {
        row.push_str(&format!(" {:>8}", p99(r)));
    }
    if let (Some(wakeups), Some(herds)) = (t.wakeups, t.herds) {
        row.push_str(&format!(" {wakeups:>7} {herds:>5}"));
    }
    row
}

pub(crate) fn p50(d: &DurationSummary) -> String {
    if d.count == 0 {
        "-".to_owned()
    } else {
        human_duration(d.p50)
    }
}

pub(crate) fn p99(d: &DurationSummary) -> String {
    if d.count == 0 {
        "-".to_owned()
    } else {
        human_duration(d.p99)
    }
}

/// `+12.500s`: time since the recording's start.
fn seconds(ns: u64) -> String {
    format!(
        "+{}.{:03}s",
        ns / 1_000_000_000,
        ns % 1_000_000_000 / 1_000_000
    )
}

/// `HH:MM:SS.mmm` in local time of the `CLOCK_MONOTONIC` time `ts`.
pub(crate) fn clock_time(ts: u64, realtime_offset_ns: i64) -> String {
    let ns = i128::from(ts) + i128::from(realtime_offset_ns);
    let (secs, ms) = (
        ns.div_euclid(1_000_000_000),
        ns.rem_euclid(1_000_000_000) / 1_000_000,
    );
    let secs = libc::time_t::try_from(secs).unwrap_or(0);
    // SAFETY: localtime_r writes only to the `tm` we pass; a zeroed `tm` is a valid value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call.
    if unsafe { libc::localtime_r(&secs, &mut tm) }.is_null() {
        return format!("{secs}.{ms:03}");
    }
    format!(
        "{:02}:{:02}:{:02}.{ms:03}",
        tm.tm_hour, tm.tm_min, tm.tm_sec
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_clock_times_and_offsets() {
        // 1 h 2 min 3.456 s after the epoch, from a monotonic clock 1 s behind; seconds and
        // milliseconds do not depend on the time zone.
        let t = clock_time(3_723_456_000_000 - 1_000_000_000, 1_000_000_000);
        assert_eq!(t.len(), "01:02:03.456".len(), "{t}");
        assert!(t.ends_with(":03.456"), "{t}");
        assert_eq!(seconds(12_500_000_000), "+12.500s");
        assert_eq!(seconds(0), "+0.000s");
    }
}
