//! The reconstruction made while recording: one stream of events feeding the end-of-recording
//! summary (no `-o`) and the output made while recording (`--interval` rows, a streamed
//! hdrlog, `uprof top`: a printer, told how time passes even when nothing happens), whichever
//! are asked for. Both share it: the records are reconstructed once.
use std::time::Duration;

use uprof_analysis::stream::{Consumer, Event, Reconstructor};
use uprof_analysis::{Report, SessionInfo, Summary};
use uprof_common::Record;
use uprof_output::Printer;

/// How far behind the clock the output stays (the reconstruction's reorder window comes on
/// top): a record is stamped a little before it reaches the ring buffer, which is drained just
/// before the clock is read.
const LAG: Duration = Duration::from_millis(100);

pub struct Live {
    stream: Reconstructor,
    consumers: Consumers,
}

/// What the stream feeds.
struct Consumers {
    summary: Option<Summary>,
    printer: Option<Box<dyn Printer>>,
}

impl Consumer for Consumers {
    fn event(&mut self, event: &Event<'_>) {
        if let Some(summary) = &mut self.summary {
            summary.event(event);
        }
        if let Some(printer) = &mut self.printer {
            printer.event(event);
        }
    }

    fn advance(&mut self, ts: u64) {
        if let Some(printer) = &mut self.printer {
            printer.advance(ts);
        }
    }
}

/// How the live reconstruction ended.
pub struct Ended {
    /// The summary's report, if it had one.
    pub report: Option<Report>,
    /// How writing the printer's output ended, if it had one.
    pub watched: Option<std::io::Result<()>>,
}

impl Live {
    /// A reconstruction for the end-of-recording `summary` and `printer`, or none when neither
    /// is wanted.
    pub fn new(summary: bool, printer: Option<Box<dyn Printer>>) -> Option<Self> {
        let summary = summary.then(Summary::new);
        (summary.is_some() || printer.is_some()).then(|| Live {
            stream: Reconstructor::new(),
            consumers: Consumers { summary, printer },
        })
    }

    pub fn push(&mut self, record: &Record) {
        self.stream.push(record, &mut self.consumers);
    }

    /// Whether an output is made while recording (it must be told how time passes).
    pub fn watched(&self) -> bool {
        self.consumers.printer.is_some()
    }

    /// The clock reads `now` (`CLOCK_MONOTONIC` ns): what ended [`LAG`] before is final.
    pub fn advance(&mut self, now: u64) {
        let lag = LAG.as_nanos() as u64;
        self.stream
            .advance(now.saturating_sub(lag), &mut self.consumers);
    }

    /// Writing the output has failed (the reader went away).
    pub fn failed(&self) -> bool {
        self.consumers.printer.as_ref().is_some_and(|p| p.failed())
    }

    pub fn finish(mut self, session: &SessionInfo) -> Ended {
        self.stream.finish(&mut self.consumers);
        let Consumers { summary, printer } = self.consumers;
        Ended {
            report: summary.map(|s| s.finish(session)),
            watched: printer.map(|p| p.finish(session)),
        }
    }
}
