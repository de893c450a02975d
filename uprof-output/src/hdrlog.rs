//! The HdrHistogram interval log (`--format hdrlog`): per interval, one histogram per thread
//! and metric, tagged `tid=TID:METRIC`, in the Java implementation's log format (compressed V2
//! histograms, base64), written by the `hdrhistogram` crate's `interval_log`. Values are
//! nanoseconds. Intervals are written as they close.
use std::io::{self, Write};
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{
    IntervalLogWriterBuilder, IntervalLogWriterError, Tag,
};
use uprof_analysis::intervals::{Metric, Timeline, Window, Windows, empty_histogram};
use uprof_analysis::stream::{Consumer, Event, ThreadId};
use uprof_analysis::{SessionInfo, human_duration, terminal_safe};

use crate::{Printer, Source};

pub(crate) struct HdrlogPrinter<'w> {
    windows: Windows,
    log: Log<'w>,
}

/// Where windows go: everything but the stream's bookkeeping.
struct Log<'w> {
    out: Box<dyn Write + 'w>,
    serializer: V2DeflateSerializer,
    /// Reused for every histogram written.
    scratch: Histogram<u64>,
    header: Option<Header>,
    /// Threads described in a comment line already, by [`ThreadId`].
    described: Vec<bool>,
    /// The first write error: nothing more is written, it is returned at the end.
    error: Option<io::Error>,
}

/// What the log's first lines say.
struct Header {
    /// Wall-clock time of the recording's start.
    start: SystemTime,
    width_ns: u64,
}

impl<'w> HdrlogPrinter<'w> {
    pub(crate) fn new(source: &Source, width: Duration, out: Box<dyn Write + 'w>) -> Self {
        let timeline: Timeline = source.timeline(width);
        let realtime = i128::from(source.start_ts) + i128::from(source.boot_offset_ns);
        let since_epoch = Duration::from_nanos(u64::try_from(realtime).unwrap_or(0));
        Self {
            windows: Windows::new(timeline),
            log: Log {
                out,
                serializer: V2DeflateSerializer::new(),
                scratch: empty_histogram(),
                header: Some(Header {
                    start: SystemTime::UNIX_EPOCH + since_epoch,
                    width_ns: timeline.width_ns,
                }),
                described: Vec::new(),
                error: None,
            },
        }
    }
}

impl Log<'_> {
    fn window(&mut self, timeline: Timeline, w: &Window) {
        if self.error.is_some() || w.threads.is_empty() {
            return;
        }
        if let Err(e) = self.write_window(timeline, w) {
            self.error = Some(e);
        }
    }

    /// The log's first lines: what it holds, its start, the legend.
    fn write_header(&mut self, header: &Header) -> io::Result<()> {
        let mut builder = IntervalLogWriterBuilder::new();
        builder
            .add_comment(concat!(
                "[Logged with uprof ",
                env!("CARGO_PKG_VERSION"),
                "]"
            ))
            .add_comment("[Histogram log format version 1.3]")
            .add_comment(&format!(
                "uprof: per-thread event-loop times in ns, one histogram per thread and metric \
                 per {} interval, tagged tid=TID:METRIC; METRIC is blocked (time inside a \
                 wait), busy (a tick: from a wait's return to the next wait) or \
                 ready_to_delivered (an fd's readiness to the return of the wait that \
                 delivered it); each figure counts in the interval its wait returned in",
                human_duration(header.width_ns)
            ))
            .with_start_time(header.start)
            .with_base_time(header.start);
        builder
            .begin_log_with(&mut self.out, &mut self.serializer)
            .map(|_| ())?;
        writeln!(
            self.out,
            "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""
        )
    }

    fn write_window(&mut self, timeline: Timeline, w: &Window) -> io::Result<()> {
        if let Some(header) = self.header.take() {
            self.write_header(&header)?;
        }
        let mut threads: Vec<_> = w.threads.iter().collect();
        threads.sort_by_key(|t| (t.thread.tid, t.thread.id));
        for t in &threads {
            self.describe(t.thread.id, t.thread.pid, t.thread.tid, w.comm(t.thread.id))?;
        }
        let start = Duration::from_nanos(w.start_ts.saturating_sub(timeline.start_ts));
        let length = Duration::from_nanos(w.end_ts.saturating_sub(w.start_ts));
        let mut log =
            IntervalLogWriterBuilder::new().begin_log_with(&mut self.out, &mut self.serializer)?;
        for t in threads {
            for metric in Metric::ALL {
                if t.count(metric) == 0 {
                    continue;
                }
                self.scratch.reset();
                t.add_to(metric, &mut self.scratch);
                let tag = format!("tid={}:{}", t.thread.tid, metric.name());
                let tag = Tag::new(&tag).expect("digits, letters, '=', ':' and '_' make a tag");
                log.write_histogram(&self.scratch, start, length, Some(tag))
                    .map_err(|e| match e {
                        IntervalLogWriterError::IoError(e) => e,
                        IntervalLogWriterError::SerializeError(e) => {
                            io::Error::other(format!("cannot encode a histogram: {e:?}"))
                        }
                    })?;
            }
        }
        Ok(())
    }

    /// A comment line naming a thread, before its first histogram.
    fn describe(&mut self, id: ThreadId, pid: u32, tid: u32, comm: Option<&str>) -> io::Result<()> {
        let i = id.0 as usize;
        if self.described.len() <= i {
            self.described.resize(i + 1, false);
        }
        if std::mem::replace(&mut self.described[i], true) {
            return Ok(());
        }
        let comm = comm.map_or_else(|| "?".into(), terminal_safe);
        writeln!(self.out, "#thread tid={tid} pid={pid} comm={comm}")
    }
}

impl Consumer for HdrlogPrinter<'_> {
    fn event(&mut self, event: &Event<'_>) {
        let timeline = self.windows.timeline();
        let log = &mut self.log;
        self.windows.event(event, &mut |w| log.window(timeline, w));
    }

    fn advance(&mut self, ts: u64) {
        let timeline = self.windows.timeline();
        let log = &mut self.log;
        self.windows.advance(ts, &mut |w| log.window(timeline, w));
    }
}

impl Printer for HdrlogPrinter<'_> {
    fn finish(self: Box<Self>, session: &SessionInfo) -> io::Result<()> {
        let mut log = self.log;
        if let Some(e) = log.error {
            return Err(e);
        }
        if let Some(header) = log.header.take() {
            // Nothing was active: the log still says what it is.
            log.write_header(&header)?;
        }
        if let Some(incomplete) = &session.incomplete {
            writeln!(
                log.out,
                "#uprof: warning: {}",
                terminal_safe(&incomplete.why)
            )?;
        }
        log.out.flush()
    }

    fn failed(&self) -> bool {
        self.log.error.is_some()
    }
}
