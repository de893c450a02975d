//! The terminal rendering of a [`Report`]: a header, a per-thread table and per-epoll fd tables.
//!
//! A busy server has thousands of threads or fds; by default the tables show the busiest ones
//! (by calls, by deliveries, by ready→delivered time) and add up the rest, so the report stays
//! a few screens long and the rows that matter come first. [`TextOptions::all`] lists them all.
mod epolls;
mod findings;
mod threads;

use std::io::{self, Write};

use comfy_table::{CellAlignment, Table, presets};

use crate::View;
use crate::report::Report;
use crate::stats::DurationSummary;

/// Process ids listed in the header, at most.
const PIDS_SHOWN: usize = 16;

/// What the table output shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TextOptions {
    pub view: View,
    /// Every thread, epoll instance and fd, not only the busiest.
    pub all: bool,
}

impl From<View> for TextOptions {
    fn from(view: View) -> Self {
        TextOptions { view, all: false }
    }
}

impl Report {
    /// Writes the report for a terminal: the session header, then the tables the options
    /// select.
    pub fn render_text(
        &self,
        out: &mut impl Write,
        options: impl Into<TextOptions>,
    ) -> io::Result<()> {
        let options = options.into();
        self.write_header(out)?;
        if matches!(options.view, View::Threads | View::All) {
            writeln!(out)?;
            threads::write(self, out, options.all)?;
        }
        if matches!(options.view, View::Fds | View::All) {
            writeln!(out)?;
            epolls::write(self, out, options.all)?;
        }
        writeln!(out)?;
        findings::write(self, out, options.all)
    }

    /// Writes the session header and the FINDINGS section only (`uprof check`).
    pub fn render_findings(&self, out: &mut impl Write, all: bool) -> io::Result<()> {
        self.write_header(out)?;
        writeln!(out)?;
        findings::write(self, out, all)
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
            let mut pids: Vec<String> = self
                .pids
                .iter()
                .take(PIDS_SHOWN)
                .map(u32::to_string)
                .collect();
            if self.pids.len() > PIDS_SHOWN {
                pids.push(format!("… ({} processes)", self.pids.len()));
            }
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
}

/// p50, p99 and max, or dashes when there are no samples.
fn percentiles(d: &DurationSummary) -> [String; 3] {
    if d.count == 0 {
        return ["-".to_owned(), "-".to_owned(), "-".to_owned()];
    }
    [duration(d.p50), duration(d.p99), duration(d.max)]
}

/// The `n` items of `items` that rank highest by `key` (ties: the earlier), by index.
fn busiest<T, K: Ord>(items: &[T], n: usize, key: impl Fn(&T) -> K) -> Vec<usize> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| key(&items[b]).cmp(&key(&items[a])).then(a.cmp(&b)));
    order.truncate(n);
    order
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
pub fn duration(ns: u64) -> String {
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
