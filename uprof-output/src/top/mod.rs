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

#[cfg(test)]
mod tests {
    use uprof_analysis::stream::Reconstructor;
    use uprof_analysis::synth::Task;
    use uprof_common::{EPOLL_CTL_ADD, EPOLLIN, Record};

    use super::*;

    const START: u64 = 1_000_000_000;
    const MS: u64 = 1_000_000;

    fn source() -> Source {
        Source {
            start_ts: START,
            tier: "socket".into(),
            coverage: Coverage {
                readiness: true,
                wakeups: true,
            },
            ..Source::default()
        }
    }

    /// The snapshots a stream of `records` gives, ending with time advanced to `until`.
    fn snapshots(records: &[Record], until: u64) -> Vec<Snapshot> {
        let (mut feed, screen) = Feed::new(&source());
        let mut stream = Reconstructor::new();
        for r in records {
            stream.push(r, &mut feed);
        }
        stream.advance(until, &mut feed);
        screen.try_iter().collect()
    }

    /// One second of a loop: `waits` waits of thread 10 on epoll 3, each returning fd 5 (a
    /// socket, ready 2 ms before), and a worker thread waiting on its own instance.
    fn second(waits: u64) -> Vec<Record> {
        let main = Task::new(10, 10);
        let worker = Task::new(10, 11);
        let waker = Task::new(40, 41);
        let mut records = vec![
            main.task_info(START, "server"),
            worker.task_info(START, "worker"),
            main.socket(START, 5, 77),
            main.epoll_ctl(START, 3, EPOLL_CTL_ADD, 5, 5, 0),
            main.fd_info(START, 5, FdKind::Socket),
        ];
        let step = 1_000 * MS / waits;
        for i in 0..waits {
            let exit = START + i * step + step / 2;
            records.push(waker.sock_ready(exit - 2 * MS, 77));
            records.push(main.epoll_wait(exit - 3 * MS, exit, 3, 1));
            records.extend(main.events(exit, &[(EPOLLIN, 5)]));
        }
        records.push(worker.epoll_wait(START + 100 * MS, START + 400 * MS, 8, 0));
        records
    }

    #[test]
    fn a_closed_second_gives_rates_per_thread_and_fd() {
        let shots = snapshots(&second(100), START + 2_000 * MS);
        let first = &shots[0];
        assert_eq!((first.start_ns, first.duration_ns), (0, 1_000 * MS));
        let server = &first.threads[0];
        assert_eq!(server.figures.comm.as_deref(), Some("server"));
        assert_eq!(server.waits_per_s, 100.0);
        assert_eq!(server.events_per_s, 100.0);
        assert_eq!(server.herds, Some(0));
        let worker = &first.threads[1];
        assert_eq!((worker.figures.tid, worker.waits_per_s), (11, 1.0));
        assert_eq!(first.fds.len(), 1);
        let fd = &first.fds[0];
        assert_eq!(
            (fd.pid, fd.epfd, fd.fd, fd.kind),
            (10, 3, Some(5), FdKind::Socket)
        );
        assert_eq!(fd.deliveries_per_s, 100.0);
        let rd = fd.ready_to_delivered_ns.unwrap();
        assert_eq!((rd.count, rd.p99), (100, 2 * MS));
    }

    #[test]
    fn idle_seconds_still_come_and_herds_and_lost_records_count_since_the_start() {
        let mut records = second(10);
        let waiters = [Task::new(10, 10), Task::new(20, 20)];
        let sender = Task::new(40, 41);
        let at = START + 1_500 * MS;
        records.push(waiters[1].socket(START, 5, 77));
        records.push(waiters[1].epoll_ctl(START, 3, EPOLL_CTL_ADD, 5, 5, 0));
        records.push(sender.sock_ready(at, 77));
        for (i, w) in waiters.into_iter().enumerate() {
            records.push(w.wake(at + 100 + i as u64, at - MS, 3, sender));
            records.push(w.woken_epoll_wait(at - MS, at + 1_000, 3, 1, 400));
            records.extend(w.events(at + 1_000, &[(EPOLLIN, 5)]));
        }
        records.push(sender.lost(at + 2 * MS, 7));
        // Records up to 1.5 s, then nothing until 6 s: the herd is known 2 s after it started.
        let shots = snapshots(&records, START + 6_000 * MS);
        assert!(shots.len() >= 2, "{shots:#?}");
        let last = shots.last().unwrap();
        assert_eq!((last.herds, last.lost), (1, 7));
        assert!(last.threads.is_empty(), "an idle second: {last:#?}");
        let herd_second = &shots[1];
        assert_eq!(herd_second.lost, 7);
        assert_eq!(herd_second.threads.len(), 2);
    }

    #[test]
    fn the_screen_shows_the_rows_and_follows_the_choices() {
        use ratatui::Terminal;
        use ratatui::backend::TestBackend;

        use view::{Action, Choices, Status};

        let shots = snapshots(&second(100), START + 2_000 * MS);
        let status = Status {
            target: "pid 10".into(),
            tier: "socket".into(),
            records: 412,
            records_per_s: 206.0,
            file: None,
        };
        let text = |choices: &Choices| {
            let mut terminal = Terminal::new(TestBackend::new(120, 24)).unwrap();
            terminal
                .draw(|f| view::draw(f, &status, Some(&shots[0]), choices))
                .unwrap();
            let buffer = terminal.backend().buffer();
            (0..buffer.area.height)
                .map(|y| {
                    (0..buffer.area.width)
                        .map(|x| buffer[(x, y)].symbol())
                        .collect::<String>()
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        let mut choices = Choices::default();
        let screen = text(&choices);
        assert!(
            screen.contains("uprof top: pid 10  socket tier"),
            "{screen}"
        );
        assert!(screen.contains("412 records (206/s)"), "{screen}");
        let row = |name: &str| {
            let mut rows = screen.lines().filter(|l| l.starts_with('│'));
            rows.find(|l| l.contains(name)).map(str::to_owned)
        };
        let server = row("server").unwrap_or_else(|| panic!("{screen}"));
        assert!(server.contains(" 100 "), "{server}");
        let socket = row("socket ").unwrap_or_else(|| panic!("{screen}"));
        assert!(socket.contains("2.00ms"), "{socket}");
        // Waits/s first puts the server above the worker; scrolling hides the first row.
        choices.apply(Action::NextOrder);
        choices.apply(Action::Scroll(1));
        let scrolled = text(&choices);
        assert!(scrolled.contains("(now: waits/s)"), "{scrolled}");
        assert!(!scrolled.contains("server"), "{scrolled}");
        assert!(scrolled.contains("worker"), "{scrolled}");
        assert!(scrolled.contains("threads (1 of 2)"), "{scrolled}");
    }
}
