//! uprof's outputs: every way a recording is shown, chosen through one enum ([`Format`]).
//!
//! Each output is a [`Printer`]: a consumer of the reconstructed event stream
//! ([`uprof_analysis::stream`]) that writes its format as it goes or when the stream ends.
//! Adding an output is one new module here and one variant of [`Format`].
mod hdrlog;
pub mod html;
mod intervals;
mod perfetto;
mod summary;
pub mod top;

use std::io::{self, Write};
use std::time::Duration;

use uprof_analysis::findings::Thresholds;
use uprof_analysis::stream::Consumer;
use uprof_analysis::{Coverage, SessionInfo};
use uprof_record::SessionHeader;

pub use uprof_analysis::{TextOptions, View};

/// The output formats of `uprof report`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Tables for a terminal.
    Table,
    /// The report as JSON (`docs/json-schema.md`).
    Json,
    /// A Perfetto trace (protobuf) of the loop over time (`docs/outputs.md`).
    Perfetto,
    /// An HdrHistogram interval log: per thread and interval, histograms of blocked, busy and
    /// ready→delivered times (`docs/outputs.md`).
    Hdrlog,
    /// One self-contained web page: percentile plots, utilization over time, the top fds
    /// (`docs/outputs.md`).
    Html,
}

/// What the output needs beyond its format: what the user asked, and what the recording says
/// of itself.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// What the table format prints (`--all` also lists every thread of each interval).
    pub text: TextOptions,
    pub source: Source,
    /// Per-interval figures.
    pub intervals: Intervals,
    /// What the findings are judged by (`--threshold`, `--silence`).
    pub findings: Thresholds,
}

/// What a recording says of itself before its first record (its session header): the outputs
/// written while the stream goes need it from the start.
#[derive(Clone, Debug, Default)]
pub struct Source {
    /// `uname -r` of the recording machine.
    pub kernel_release: String,
    /// The tracing tier the recording used.
    pub tier: String,
    /// `CLOCK_MONOTONIC` ns when recording started (every timestamp is on that clock; interval
    /// 0 starts there).
    pub start_ts: u64,
    /// `CLOCK_REALTIME - CLOCK_MONOTONIC` at the start, in ns: for wall-clock times.
    pub boot_offset_ns: i64,
    /// Which figures the recording can have.
    pub coverage: Coverage,
}

impl Source {
    pub fn of(header: &SessionHeader) -> Self {
        Source {
            kernel_release: header.kernel_release.clone(),
            tier: header.tier.name().to_owned(),
            start_ts: header.start_ts,
            boot_offset_ns: header.boot_offset_ns,
            coverage: Coverage::of(&SessionInfo::of_session(header, None, header.start_ts)),
        }
    }

    /// Intervals of `width` from the recording's start.
    fn timeline(&self, width: Duration) -> uprof_analysis::intervals::Timeline {
        let width_ns = u64::try_from(width.as_nanos()).unwrap_or(u64::MAX).max(1);
        uprof_analysis::intervals::Timeline::new(self.start_ts, width_ns)
    }
}

/// Per-interval figures (`--interval`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Intervals {
    /// Length of an interval: `None` gives no interval rows in the table and JSON, and
    /// [`DEFAULT_INTERVAL`] in the hdrlog.
    pub width: Option<Duration>,
}

/// The hdrlog's interval when none is asked for.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// One output being produced from a recording's event stream.
pub trait Printer: Consumer {
    /// The stream has ended: write whatever is left. `session` is what the recording says of
    /// itself, complete now that its end is known. A write error during the stream is returned
    /// here.
    fn finish(self: Box<Self>, session: &SessionInfo) -> io::Result<()>;

    /// Whether writing has failed already (the reader went away): a live producer can stop.
    fn failed(&self) -> bool {
        false
    }
}

/// Two outputs made from one stream (`uprof record --interval 1s --metrics ADDR`).
pub struct Both<'w>(pub Box<dyn Printer + 'w>, pub Box<dyn Printer + 'w>);

impl Consumer for Both<'_> {
    fn event(&mut self, event: &uprof_analysis::stream::Event<'_>) {
        self.0.event(event);
        self.1.event(event);
    }

    fn advance(&mut self, ts: u64) {
        self.0.advance(ts);
        self.1.advance(ts);
    }
}

impl Printer for Both<'_> {
    fn finish(self: Box<Self>, session: &SessionInfo) -> io::Result<()> {
        let first = self.0.finish(session);
        first.and(self.1.finish(session))
    }

    fn failed(&self) -> bool {
        self.0.failed() || self.1.failed()
    }
}

impl Format {
    /// Whether the output is binary (not for a terminal).
    pub fn is_binary(self) -> bool {
        matches!(self, Format::Perfetto)
    }

    /// Whether the output is a web page (not for a terminal either).
    pub fn is_page(self) -> bool {
        matches!(self, Format::Html)
    }

    /// A printer of this format writing to `out`.
    pub fn printer<'w>(self, options: &Options, out: Box<dyn Write + 'w>) -> Box<dyn Printer + 'w> {
        let source = &options.source;
        match (self, options.intervals.width) {
            (Format::Table, Some(width)) => Box::new(intervals::IntervalPrinter::table(
                source,
                width,
                options.text,
                Some(&options.findings),
                out,
            )),
            (Format::Json, Some(width)) => Box::new(intervals::IntervalPrinter::json(
                source,
                width,
                Some(&options.findings),
                out,
            )),
            (Format::Table, None) => Box::new(summary::SummaryPrinter::table(
                options.text,
                &options.findings,
                out,
            )),
            (Format::Json, None) => Box::new(summary::SummaryPrinter::json(&options.findings, out)),
            (Format::Perfetto, _) => Box::new(perfetto::PerfettoPrinter::new(
                &options.source,
                &options.findings,
                out,
            )),
            (Format::Hdrlog, width) => Box::new(hdrlog::HdrlogPrinter::new(
                source,
                width.unwrap_or(DEFAULT_INTERVAL),
                out,
            )),
            (Format::Html, width) => Box::new(html::HtmlPrinter::new(
                source,
                width,
                &options.findings,
                out,
            )),
        }
    }

    /// What `uprof record` writes while it records, if anything: with an interval, the table's
    /// interval blocks, or one JSON object per interval and line (JSON Lines); the hdrlog
    /// whole. The end-of-recording report (table, JSON) is not part of it.
    pub fn live<'w>(
        self,
        options: &Options,
        out: Box<dyn Write + 'w>,
    ) -> Option<Box<dyn Printer + 'w>> {
        let source = &options.source;
        match (self, options.intervals.width) {
            (Format::Table, Some(width)) => Some(Box::new(intervals::IntervalPrinter::table(
                source,
                width,
                options.text,
                None,
                out,
            ))),
            (Format::Json, Some(width)) => Some(Box::new(intervals::IntervalPrinter::json(
                source, width, None, out,
            ))),
            (Format::Hdrlog, _) => Some(self.printer(options, out)),
            (Format::Table | Format::Json, None) | (Format::Perfetto | Format::Html, _) => None,
        }
    }
}
