//! The end-of-recording report (table and JSON): the [`Summary`] of the stream, rendered.
use std::io::{self, Write};

use uprof_analysis::stream::{Consumer, Event};
use uprof_analysis::{SessionInfo, Summary, View};

use crate::Printer;

enum Rendering {
    Table(View),
    Json,
}

pub(crate) struct SummaryPrinter<'w> {
    summary: Summary,
    rendering: Rendering,
    out: Box<dyn Write + 'w>,
}

impl<'w> SummaryPrinter<'w> {
    pub(crate) fn table(view: View, out: Box<dyn Write + 'w>) -> Self {
        Self {
            summary: Summary::new(),
            rendering: Rendering::Table(view),
            out,
        }
    }

    pub(crate) fn json(out: Box<dyn Write + 'w>) -> Self {
        Self {
            summary: Summary::new(),
            rendering: Rendering::Json,
            out,
        }
    }
}

impl Consumer for SummaryPrinter<'_> {
    fn event(&mut self, event: &Event<'_>) {
        self.summary.event(event);
    }
}

impl Printer for SummaryPrinter<'_> {
    fn finish(self: Box<Self>, session: &SessionInfo) -> io::Result<()> {
        let SummaryPrinter {
            summary,
            rendering,
            mut out,
        } = *self;
        let report = summary.finish(session);
        match rendering {
            Rendering::Table(view) => report.render_text(&mut out, view)?,
            Rendering::Json => {
                serde_json::to_writer_pretty(&mut out, &report.to_json())?;
                writeln!(out)?;
            }
        }
        out.flush()
    }
}
