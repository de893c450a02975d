//! The HTML report (`--format html`, `uprof compare --format html`): one self-contained page,
//! for a browser and offline (inline SVG and CSS, no script, and a content security policy that
//! forbids any fetch). It shows the recording's facts, a banner when the recording is
//! incomplete, the report's findings (most severe first, marked on the time axis of the
//! strips), percentile plots (log latency axis) of blocked, busy and ready→delivered times
//! of the busiest loop threads, their utilization over time, the thread table and the top fds
//! of the busiest epoll instances (as the table report bounds them).
//!
//! One reconstruction feeds everything: a [`Collector`] is the [`Summary`] (the report's
//! figures) and an [`uprof_analysis::intervals::Windows`] (per-interval utilization, and per thread the
//! intervals' samples added up into the distributions the plots draw) side by side.
//!
//! Every figure printed carries its raw value and where the JSON outputs have it
//! (`data-k`: the field's path, `data-v`: the value), so a reader can check the page against
//! `--format json`.
mod page;
mod svg;

use std::io::{self, Write};
use std::time::Duration;

use rustc_hash::FxHashMap;
use uprof_analysis::findings::Thresholds;
use uprof_analysis::intervals::{Distribution, Metric, Timeline, Window, Windows};
use uprof_analysis::stream::{Consumer, Event};
use uprof_analysis::{Comparison, Coverage, Report, SessionInfo, Summary};

use crate::{Printer, Source};

/// The interval utilization strips are cut in when none is asked for.
const DEFAULT_STRIP_INTERVAL: Duration = Duration::from_millis(100);
/// Cells of a strip, at most: past this, a cell covers two intervals, then four...
const MAX_CELLS: u64 = 400;

/// Follows one recording's stream and keeps what its page shows.
pub struct Collector {
    source: Source,
    summary: Summary,
    windows: Windows,
    series: Series,
}

/// Per thread (by `(pid, tid)`, as the report lists threads): its strip and distributions.
struct Series {
    timeline: Timeline,
    /// A cell covers `1 << shift` intervals.
    shift: u32,
    threads: FxHashMap<(u32, u32), ThreadSeries>,
}

#[derive(Default)]
struct ThreadSeries {
    cells: Vec<Cell>,
    /// By [`Metric::ALL`]'s order.
    metrics: [Distribution; 3],
}

/// What a thread's waits that returned in one cell's time add up to.
#[derive(Clone, Copy, Default)]
struct Cell {
    calls: u64,
    busy_ns: u64,
    blocked_ns: u64,
}

impl Cell {
    fn add(&mut self, other: Cell) {
        self.calls += other.calls;
        self.busy_ns = self.busy_ns.saturating_add(other.busy_ns);
        self.blocked_ns = self.blocked_ns.saturating_add(other.blocked_ns);
    }
}

impl Series {
    fn window(&mut self, w: &Window) {
        if w.threads.is_empty() {
            return;
        }
        while w.index >> self.shift >= MAX_CELLS {
            self.coarsen();
        }
        let cell = (w.index >> self.shift) as usize;
        for t in w.threads {
            let series = self
                .threads
                .entry((t.thread.pid, t.thread.tid))
                .or_default();
            if series.cells.len() <= cell {
                series.cells.resize(cell + 1, Cell::default());
            }
            series.cells[cell].add(Cell {
                calls: t.calls,
                busy_ns: t.total(Metric::Busy),
                blocked_ns: t.total(Metric::Blocked),
            });
            for (distribution, metric) in series.metrics.iter_mut().zip(Metric::ALL) {
                distribution.add(t, metric);
            }
        }
    }

    /// Cells twice as long: each pair of cells becomes one.
    fn coarsen(&mut self) {
        self.shift += 1;
        for series in self.threads.values_mut() {
            let cells = std::mem::take(&mut series.cells);
            series.cells = cells
                .chunks(2)
                .map(|pair| {
                    let mut cell = pair[0];
                    if let Some(&second) = pair.get(1) {
                        cell.add(second);
                    }
                    cell
                })
                .collect();
        }
    }

    /// A cell's length, ns.
    fn cell_ns(&self) -> u64 {
        self.timeline.width_ns.saturating_mul(1 << self.shift)
    }
}

impl Collector {
    /// A collector for a recording that says `source` of itself; utilization strips in cells
    /// of `interval` (default 100ms), longer on a long recording; findings judged by `findings`.
    pub fn new(source: &Source, interval: Option<Duration>, findings: Thresholds) -> Self {
        let timeline = source.timeline(interval.unwrap_or(DEFAULT_STRIP_INTERVAL));
        Self {
            source: source.clone(),
            summary: Summary::with_thresholds(findings),
            windows: Windows::new(timeline),
            series: Series {
                timeline,
                shift: 0,
                threads: FxHashMap::default(),
            },
        }
    }

    /// The stream has ended; `session` is what the recording says of itself.
    pub fn finish(self, session: &SessionInfo) -> Collected {
        Collected {
            report: self.summary.finish(session),
            coverage: Coverage::of(session),
            source: self.source,
            series: self.series,
        }
    }
}

impl Consumer for Collector {
    fn event(&mut self, event: &Event<'_>) {
        self.summary.event(event);
        let series = &mut self.series;
        self.windows.event(event, &mut |w| series.window(w));
    }
}

/// One recording's page content.
pub struct Collected {
    report: Report,
    coverage: Coverage,
    source: Source,
    series: Series,
}

impl Collected {
    /// The report of the recording, as `--format json` prints it.
    pub fn report(&self) -> &Report {
        &self.report
    }

    fn thread(&self, pid: u32, tid: u32) -> Option<&ThreadSeries> {
        self.series.threads.get(&(pid, tid))
    }
}

/// `uprof report --format html`.
pub(crate) struct HtmlPrinter<'w> {
    collector: Collector,
    out: Box<dyn Write + 'w>,
}

impl<'w> HtmlPrinter<'w> {
    pub(crate) fn new(
        source: &Source,
        interval: Option<Duration>,
        findings: &Thresholds,
        out: Box<dyn Write + 'w>,
    ) -> Self {
        Self {
            collector: Collector::new(source, interval, findings.clone()),
            out,
        }
    }
}

impl Consumer for HtmlPrinter<'_> {
    fn event(&mut self, event: &Event<'_>) {
        self.collector.event(event);
    }
}

impl Printer for HtmlPrinter<'_> {
    fn finish(self: Box<Self>, session: &SessionInfo) -> io::Result<()> {
        let HtmlPrinter { collector, mut out } = *self;
        let collected = collector.finish(session);
        out.write_all(page::report(&collected).as_bytes())?;
        out.flush()
    }
}

/// Writes the page of recordings side by side: `recordings` (each with its name) in the order
/// of `comparison`'s.
pub fn write_comparison(
    recordings: &[(&str, &Collected)],
    comparison: &Comparison,
    out: &mut dyn Write,
) -> io::Result<()> {
    out.write_all(page::comparison(recordings, comparison).as_bytes())?;
    out.flush()
}

/// The samples of one thread's metric, for a plot.
fn distribution(series: &ThreadSeries, metric: Metric) -> &Distribution {
    let i = Metric::ALL
        .iter()
        .position(|&m| m == metric)
        .expect("every metric is in ALL");
    &series.metrics[i]
}
