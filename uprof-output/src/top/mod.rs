//! `uprof top`'s figures and screen: the stream cut into one-second intervals
//! ([`uprof_analysis::intervals::Windows`], the same intervals as `--interval 1s`), each closed
//! interval turned into a [`Snapshot`] (per thread: waits/s, utilization, blocked and busy p99;
//! per fd entry: deliveries/s and ready→delivered p99; herds and lost records so far) and handed
//! to the screen ([`view`]) through a channel.
//!
//! Herds are known up to 2 s after they start, so a live view cannot wait for them per
//! interval (as `--interval` does): each thread's herds are counted since the start, as they
//! become known.
pub mod view;

use std::io;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

use rustc_hash::FxHashMap;
use uprof_analysis::intervals::{IntervalThread, Timeline, Window, Windows, sort_by_activity};
use uprof_analysis::stream::{Consumer, EntryKey, Event, ThreadId};
use uprof_analysis::{Coverage, DurationSummary, SessionInfo};
use uprof_common::FdKind;

use crate::{Printer, Source};

/// How often the screen gets new figures.
pub const REFRESH: Duration = Duration::from_secs(1);

/// What one fd entry did in one interval.
#[derive(Clone, Debug, PartialEq)]
pub struct FdRow {
    pub pid: u32,
    pub epfd: i32,
    /// `None` for returned events whose `data` matched no known fd.
    pub fd: Option<i32>,
    pub kind: FdKind,
    /// Events delivered per second.
    pub deliveries_per_s: f64,
    /// Of the deliveries whose readiness was observed; `None` in the syscall tier.
    pub ready_to_delivered_ns: Option<DurationSummary>,
}

/// What one thread did in one interval, per second where it is a count.
#[derive(Clone, Debug)]
pub struct ThreadRow {
    pub figures: IntervalThread,
    pub waits_per_s: f64,
    pub events_per_s: f64,
    /// `None` without wake-up probes.
    pub wakeups_per_s: Option<f64>,
    /// Herds that woke it since the start; `None` without wake-up probes.
    pub herds: Option<u64>,
}

/// The figures of the last interval that closed.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// Of the interval, from the recording's start.
    pub start_ns: u64,
    pub duration_ns: u64,
    /// `CLOCK_MONOTONIC` ns of the interval's end.
    pub end_ts: u64,
    /// `CLOCK_REALTIME - CLOCK_MONOTONIC`, ns: for the wall-clock time.
    pub boot_offset_ns: i64,
    /// Active threads, busiest first (by busy time, then calls).
    pub threads: Vec<ThreadRow>,
    /// Fd entries delivered to, most deliveries first.
    pub fds: Vec<FdRow>,
    /// Herds since the start (with wake-up probes).
    pub herds: u64,
    /// Records the kernel could not deliver, since the start.
    pub lost: u64,
    pub coverage: Coverage,
}

/// The consumer behind `uprof top`: a [`Printer`] that sends a [`Snapshot`] down its channel
/// as each interval closes.
pub struct Feed {
    windows: Windows,
    known: Known,
}

/// What the feed knows besides the open interval.
struct Known {
    source: Source,
    to_screen: Sender<Snapshot>,
    /// Fd kinds learned, by `(pid, fd, generation)`; dropped when the generation ends.
    kinds: FxHashMap<(u32, i32, u32), FdKind>,
    /// Herds per woken thread since the start.
    herds_by_thread: FxHashMap<ThreadId, u64>,
    herds: u64,
    lost: u64,
    /// The screen has gone: nothing more to send.
    closed: bool,
}

impl Feed {
    /// A feed for the recording `source` describes, and the screen's end of its channel.
    pub fn new(source: &Source) -> (Feed, Receiver<Snapshot>) {
        let width_ns = REFRESH.as_nanos() as u64;
        let (to_screen, from_feed) = channel();
        let feed = Feed {
            windows: Windows::with_fds(Timeline::new(source.start_ts, width_ns)),
            known: Known {
                source: source.clone(),
                to_screen,
                kinds: FxHashMap::default(),
                herds_by_thread: FxHashMap::default(),
                herds: 0,
                lost: 0,
                closed: false,
            },
        };
        (feed, from_feed)
    }
}

impl Known {
    fn learn(&mut self, event: &Event<'_>) {
        match event {
            Event::FdKind(k) => {
                self.kinds.insert((k.pid, k.fd, k.generation), k.kind);
            }
            Event::FdEnded(e) => {
                self.kinds.remove(&(e.pid, e.fd, e.generation));
            }
            Event::Herd(h) => {
                self.herds += 1;
                for t in &h.woken {
                    *self.herds_by_thread.entry(t.id).or_default() += 1;
                }
            }
            Event::Lost(l) => self.lost = l.total,
            _ => {}
        }
    }

    /// Sends the figures of a closed interval (a run of idle ones too: time passes on screen).
    fn close(&mut self, w: &Window) {
        if let Some(snapshot) = self.snapshot(w) {
            self.closed |= self.to_screen.send(snapshot).is_err();
        }
    }

    fn snapshot(&self, w: &Window) -> Option<Snapshot> {
        let seconds = w.end_ts.saturating_sub(w.start_ts) as f64 / 1e9;
        if seconds <= 0.0 {
            return None;
        }
        let coverage = self.source.coverage;
        let mut figures: Vec<IntervalThread> = w
            .threads
            .iter()
            .map(|t| IntervalThread::new(t, w.comm(t.thread.id), coverage))
            .collect();
        sort_by_activity(&mut figures);
        let ids: FxHashMap<(u32, u32), ThreadId> = w
            .threads
            .iter()
            .map(|t| ((t.thread.pid, t.thread.tid), t.thread.id))
            .collect();
        let threads = figures
            .into_iter()
            .map(|f| {
                let herds = ids
                    .get(&(f.pid, f.tid))
                    .and_then(|id| self.herds_by_thread.get(id))
                    .copied()
                    .unwrap_or(0);
                ThreadRow {
                    waits_per_s: f.calls as f64 / seconds,
                    events_per_s: f.events as f64 / seconds,
                    wakeups_per_s: f.wakeups.map(|n| n as f64 / seconds),
                    herds: coverage.wakeups.then_some(herds),
                    figures: f,
                }
            })
            .collect();
        let mut fds: Vec<FdRow> = w
            .fds
            .iter()
            .map(|f| {
                let (fd, kind) = match f.entry.key {
                    EntryKey::Fd { fd, generation } => {
                        let kind = self.kinds.get(&(f.epoll.pid, fd, generation));
                        (Some(fd), kind.copied().unwrap_or(FdKind::Unknown))
                    }
                    EntryKey::Unmapped { .. } => (None, FdKind::Unknown),
                };
                FdRow {
                    pid: f.epoll.pid,
                    epfd: f.epoll.epfd,
                    fd,
                    kind,
                    deliveries_per_s: f.deliveries as f64 / seconds,
                    ready_to_delivered_ns: coverage.readiness.then(|| f.ready_to_delivered()),
                }
            })
            .collect();
        fds.sort_by(|a, b| {
            b.deliveries_per_s
                .total_cmp(&a.deliveries_per_s)
                .then((a.pid, a.epfd, a.fd).cmp(&(b.pid, b.epfd, b.fd)))
        });
        Some(Snapshot {
            start_ns: w.start_ts.saturating_sub(self.source.start_ts),
            duration_ns: w.end_ts.saturating_sub(w.start_ts),
            end_ts: w.end_ts,
            boot_offset_ns: self.source.boot_offset_ns,
            threads,
            fds,
            herds: self.herds,
            lost: self.lost,
            coverage,
        })
    }
}

impl Consumer for Feed {
    fn event(&mut self, event: &Event<'_>) {
        if self.known.closed {
            return;
        }
        self.known.learn(event);
        let known = &mut self.known;
        self.windows.event(event, &mut |w| known.close(w));
    }

    fn advance(&mut self, ts: u64) {
        if self.known.closed {
            return;
        }
        let known = &mut self.known;
        self.windows.advance(ts, &mut |w| known.close(w));
    }
}

impl Printer for Feed {
    fn finish(self: Box<Self>, _session: &SessionInfo) -> io::Result<()> {
        Ok(())
    }
}
