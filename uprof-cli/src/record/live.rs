//! What `uprof record` writes on stdout while it records (`--interval` rows, the hdrlog): the
//! recorder's records streamed through a reconstruction of their own into that output.
use std::time::Duration;

use anyhow::{Context as _, Result};
use uprof_analysis::SessionInfo;
use uprof_analysis::stream::Reconstructor;
use uprof_common::Record;
use uprof_output::Printer;
use uprof_record::SessionHeader;

use crate::{cli::OutputArgs, report};

/// How far behind the clock the output stays (the reconstruction's reorder window comes on
/// top): a record is stamped a little before it reaches the ring buffer, which is drained
/// just before the clock is read.
pub const LAG: Duration = Duration::from_millis(100);

pub struct LiveOutput {
    stream: Reconstructor,
    printer: Box<dyn Printer>,
}

impl LiveOutput {
    /// The live output `output` asks for, if any.
    pub fn new(output: &OutputArgs, header: &SessionHeader) -> Option<LiveOutput> {
        let options = output.options(report::recording_start(header));
        let printer = output
            .format()
            .live(&options, Box::new(std::io::stdout()))?;
        Some(LiveOutput {
            stream: Reconstructor::new(),
            printer,
        })
    }

    pub fn push(&mut self, record: &Record) {
        self.stream.push(record, &mut *self.printer);
    }

    /// The clock reads `now` (`CLOCK_MONOTONIC` ns): intervals that ended [`LAG`] before are
    /// written, even if nothing happened.
    pub fn advance(&mut self, now: u64) {
        let lag = LAG.as_nanos() as u64;
        self.stream
            .advance(now.saturating_sub(lag), &mut *self.printer);
    }

    /// Writing failed (the reader of stdout went away).
    pub fn failed(&self) -> bool {
        self.printer.failed()
    }

    pub fn finish(mut self, info: &SessionInfo) -> Result<()> {
        self.stream.finish(&mut *self.printer);
        self.printer
            .finish(info)
            .context("cannot write the live output")
    }
}
