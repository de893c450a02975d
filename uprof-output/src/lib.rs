//! uprof's outputs: every way a recording is shown, chosen through one enum ([`Format`]).
//!
//! Each output is a [`Printer`]: a consumer of the reconstructed event stream
//! ([`uprof_analysis::stream`]) that writes its format as it goes or when the stream ends.
//! Adding an output is one new module here and one variant of [`Format`].
mod perfetto;
mod summary;

use std::io::{self, Write};

use uprof_analysis::SessionInfo;
use uprof_analysis::stream::Consumer;

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
}

/// What the output needs beyond its format: what the user asked, and what the recording says
/// of itself.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// What the table format prints.
    pub text: TextOptions,
    pub source: Source,
}

/// What a recording says of itself before its first record (its session header), for the
/// outputs that describe where they come from.
#[derive(Clone, Debug, Default)]
pub struct Source {
    /// `uname -r` of the recording machine.
    pub kernel_release: String,
    /// The tracing tier the recording used.
    pub tier: String,
    /// `CLOCK_MONOTONIC` ns when recording started (every timestamp is on that clock).
    pub start_ts: u64,
    /// `CLOCK_REALTIME - CLOCK_MONOTONIC` at the start, in ns.
    pub boot_offset_ns: i64,
}

/// One output being produced from a recording's event stream.
pub trait Printer: Consumer {
    /// The recording is damaged or unfinished: the stream stops at its last complete chunk.
    /// `why` says so in one sentence; an output that can carry it says it inside itself.
    fn recording_incomplete(&mut self, _why: &str) {}

    /// The stream has ended: write whatever is left. `session` is what the recording says of
    /// itself, complete now that its end is known. A write error during the stream is returned
    /// here.
    fn finish(self: Box<Self>, session: &SessionInfo) -> io::Result<()>;
}

impl Format {
    /// Whether the output is binary (not for a terminal).
    pub fn is_binary(self) -> bool {
        matches!(self, Format::Perfetto)
    }

    /// A printer of this format writing to `out`.
    pub fn printer<'w>(self, options: &Options, out: Box<dyn Write + 'w>) -> Box<dyn Printer + 'w> {
        match self {
            Format::Table => Box::new(summary::SummaryPrinter::table(options.text, out)),
            Format::Json => Box::new(summary::SummaryPrinter::json(out)),
            Format::Perfetto => Box::new(perfetto::PerfettoPrinter::new(&options.source, out)),
        }
    }
}
