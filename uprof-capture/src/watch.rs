//! An output written while recording (`--interval` rows, a streamed hdrlog): the recorder's
//! records fed through a reconstruction of their own into a printer, which is told how time
//! passes even when nothing happens.
use std::time::Duration;

use uprof_analysis::SessionInfo;
use uprof_analysis::stream::Reconstructor;
use uprof_common::Record;
use uprof_output::Printer;

/// How far behind the clock the output stays (the reconstruction's reorder window comes on
/// top): a record is stamped a little before it reaches the ring buffer, which is drained just
/// before the clock is read.
const LAG: Duration = Duration::from_millis(100);

pub struct Watch {
    stream: Reconstructor,
    printer: Box<dyn Printer>,
}

impl Watch {
    pub fn new(printer: Box<dyn Printer>) -> Self {
        Watch {
            stream: Reconstructor::new(),
            printer,
        }
    }

    pub fn push(&mut self, record: &Record) {
        self.stream.push(record, &mut *self.printer);
    }

    /// The clock reads `now` (`CLOCK_MONOTONIC` ns): what ended [`LAG`] before is final.
    pub fn advance(&mut self, now: u64) {
        let lag = LAG.as_nanos() as u64;
        self.stream
            .advance(now.saturating_sub(lag), &mut *self.printer);
    }

    /// Writing has failed (the reader went away).
    pub fn failed(&self) -> bool {
        self.printer.failed()
    }

    pub fn finish(mut self, session: &SessionInfo) -> std::io::Result<()> {
        self.stream.finish(&mut *self.printer);
        self.printer.finish(session)
    }
}
