//! uprof's outputs: every way a recording is shown, chosen through one enum ([`Format`]).
//!
//! Each output is a [`Printer`]: a consumer of the reconstructed event stream
//! ([`uprof_analysis::stream`]) that writes its format as it goes or when the stream ends.
//! Adding an output is one new module here and one variant of [`Format`].
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
}

/// What the user asked of the output, beyond its format.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// What the table format prints.
    pub text: TextOptions,
}

/// One output being produced from a recording's event stream.
pub trait Printer: Consumer {
    /// The stream has ended: write whatever is left. `session` is what the recording says of
    /// itself, complete now that its end is known. A write error during the stream is returned
    /// here.
    fn finish(self: Box<Self>, session: &SessionInfo) -> io::Result<()>;
}

impl Format {
    /// A printer of this format writing to `out`.
    pub fn printer<'w>(self, options: &Options, out: Box<dyn Write + 'w>) -> Box<dyn Printer + 'w> {
        match self {
            Format::Table => Box::new(summary::SummaryPrinter::table(options.text, out)),
            Format::Json => Box::new(summary::SummaryPrinter::json(out)),
        }
    }
}
