//! The end-of-recording report (table and JSON): the [`Summary`] of the stream, rendered.
use std::io::{self, Write};

use uprof_analysis::findings::Thresholds;
use uprof_analysis::stream::{Consumer, Event};
use uprof_analysis::{Report, SessionInfo, Summary, TextOptions};

use crate::Printer;

#[derive(Clone, Copy)]
pub(crate) enum Rendering {
    Table(TextOptions),
    Json,
}

impl Rendering {
    /// Writes `report`.
    pub(crate) fn write(self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        match self {
            Rendering::Table(options) => report.render_text(&mut &mut *out, options),
            Rendering::Json => {
                serde_json::to_writer_pretty(&mut *out, &report.to_json())?;
                writeln!(out)
            }
        }
    }
}

pub(crate) struct SummaryPrinter<'w> {
    summary: Summary,
    rendering: Rendering,
    out: Box<dyn Write + 'w>,
}

impl<'w> SummaryPrinter<'w> {
    pub(crate) fn table(
        options: TextOptions,
        findings: &Thresholds,
        out: Box<dyn Write + 'w>,
    ) -> Self {
        Self {
            summary: Summary::with_thresholds(findings.clone()),
            rendering: Rendering::Table(options),
            out,
        }
    }

    pub(crate) fn json(findings: &Thresholds, out: Box<dyn Write + 'w>) -> Self {
        Self {
            summary: Summary::with_thresholds(findings.clone()),
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
        rendering.write(&summary.finish(session), &mut out)?;
        out.flush()
    }
}
