//! Intervals of the stream on synthetic records: which interval each figure lands in, idle
//! runs, herds counted where they started, and intervals adding up to the whole report.
use uprof_analysis::intervals::{IntervalReport, IntervalRows, Metric, Timeline, Window, Windows};
use uprof_analysis::stream::{Consumer, Event, HERD_LATENESS_NS, Reconstructor};
use uprof_analysis::synth::Task;
use uprof_analysis::{Coverage, SessionInfo};
use uprof_common::{EINTR, EPOLL_CTL_ADD, EPOLLIN, Record, WaitSyscall};

const MS: u64 = 1_000_000;
const SECOND: u64 = 1_000 * MS;
/// The recording's start: intervals are aligned on it, not on zero.
const START: u64 = 7 * SECOND + 123;

fn all_coverage() -> Coverage {
    Coverage {
        readiness: true,
        wakeups: true,
    }
}

/// Streams `records` into interval rows of `width`; returns every interval, in order.
fn rows(records: &[Record], width: u64, coverage: Coverage) -> Vec<IntervalReport> {
    let mut rows = IntervalRows::new(Timeline::new(START, width), coverage);
    let mut stream = Reconstructor::new();
    let mut out = Vec::new();
    for r in records {
        stream.push(r, &mut rows);
        out.extend(std::iter::from_fn(|| rows.next_ready()));
    }
    stream.finish(&mut rows);
    out.extend(std::iter::from_fn(|| rows.next_ready()));
    out
}

/// `(start_ns, duration_ns, [(tid, waits)])` of an interval.
type Shape = (u64, u64, Vec<(u32, u64)>);

fn shape(rows: &[IntervalReport]) -> Vec<Shape> {
    rows.iter()
        .map(|r| {
            let threads = r.threads.iter().map(|t| (t.tid, t.calls)).collect();
            (r.start_ns, r.duration_ns, threads)
        })
        .collect()
}

#[test]
fn each_wait_counts_in_the_interval_it_returned_in_and_idle_intervals_form_one_run() {
    let t = Task::new(10, 10);
    let records = vec![
        // Entered in interval 0, returned in interval 1: all of it is interval 1's.
        t.epoll_wait(START + 900 * MS, START + 1_100 * MS, 3, 0),
        t.epoll_wait(START + 1_200 * MS, START + 1_300 * MS, 3, 0),
        // Nothing in intervals 2 to 4, then one wait in 5 and the end.
        t.epoll_wait(START + 5_100 * MS, START + 5_200 * MS, 3, 0),
    ];
    let rows = rows(&records, SECOND, Coverage::default());
    assert_eq!(
        shape(&rows),
        vec![
            (0, SECOND, vec![]),
            (SECOND, SECOND, vec![(10, 2)]),
            (2 * SECOND, 3 * SECOND, vec![]),
            // The last interval ends with the stream.
            (5 * SECOND, 200 * MS, vec![(10, 1)]),
        ]
    );
    let t1 = &rows[1].threads[0];
    // Blocked 200 ms and 100 ms; one tick of 100 ms between them.
    assert_eq!(
        (t1.blocked_ns.count, t1.blocked_ns.total, t1.blocked_ns.max),
        (2, 300 * MS, 200 * MS)
    );
    assert_eq!((t1.busy_ns.count, t1.busy_ns.total), (1, 100 * MS));
    assert_eq!(t1.utilization, 0.25);
    // The syscall tier: no readiness, no wake-ups.
    assert_eq!(
        (t1.ready_to_delivered_ns, t1.wakeups, t1.herds),
        (None, None, None)
    );
}

#[test]
fn threads_come_busiest_first_and_an_inactive_thread_has_no_row() {
    let [quiet, busy, ctl_only] = [Task::new(1, 1), Task::new(1, 2), Task::new(1, 3)];
    let mut records = vec![
        ctl_only.epoll_ctl(START + MS, 4, EPOLL_CTL_ADD, 5, 5, 0),
        quiet.epoll_wait(START, START + 10 * MS, 3, 0),
        quiet.epoll_wait(START + 11 * MS, START + 20 * MS, 3, 0),
        quiet.epoll_wait(START + 21 * MS, START + 30 * MS, 3, 0),
    ];
    records.push(busy.epoll_wait(START, START + MS, 3, 1));
    records.extend(busy.events(START + MS, &[(EPOLLIN, 7)]));
    records.push(busy.epoll_wait(START + 50 * MS, START + 60 * MS, 3, 0));
    records.sort_by_key(|r| r.header().ts);
    let rows = rows(&records, SECOND, Coverage::default());
    let tids: Vec<(u32, u64, u64)> = rows[0]
        .threads
        .iter()
        .map(|t| (t.tid, t.calls, t.events))
        .collect();
    // busy: one 49 ms tick; quiet: two 1 ms ticks, more waits but less work.
    assert_eq!(tids, vec![(2, 2, 1), (1, 3, 0)]);
}

#[test]
fn intervals_add_up_to_the_report() {
    let mut records = Vec::new();
    let tasks = [Task::new(5, 5), Task::new(5, 6)];
    for (n, t) in tasks.iter().enumerate() {
        records.push(t.epoll_ctl(START, 3, EPOLL_CTL_ADD, 9, 9, 0));
        let mut ts = START + n as u64;
        for i in 0..3_000u64 {
            let (enter, exit) = (ts + (i % 7) * 1_000, ts + (i % 7) * 1_000 + i * 997);
            records.push(t.epoll_wait(enter, exit, 3, i64::from(i % 3 == 0)));
            if i % 3 == 0 {
                records.extend(t.events(exit, &[(EPOLLIN, 9)]));
            }
            ts = exit;
        }
    }
    records.sort_by_key(|r| r.header().ts);
    let rows = rows(&records, 100 * MS, Coverage::default());
    assert!(rows.len() > 20, "{} intervals", rows.len());
    let mut analyzer = uprof_analysis::Analyzer::new();
    for r in &records {
        analyzer.push(r);
    }
    let report = analyzer.finish(&SessionInfo::default());
    for t in &report.threads {
        let ours = rows
            .iter()
            .flat_map(|r| &r.threads)
            .filter(|r| r.tid == t.tid);
        let sum = |f: &dyn Fn(&uprof_analysis::intervals::IntervalThread) -> u64| {
            ours.clone().map(f).sum::<u64>()
        };
        assert_eq!(sum(&|r| r.calls), t.waits.calls);
        assert_eq!(sum(&|r| r.events), t.waits.events);
        assert_eq!(sum(&|r| r.blocked_ns.count), t.waits.blocked_ns.count);
        assert_eq!(sum(&|r| r.blocked_ns.total), t.waits.blocked_ns.total);
        assert_eq!(sum(&|r| r.busy_ns.count), t.waits.busy_ns.count);
        assert_eq!(sum(&|r| r.busy_ns.total), t.waits.busy_ns.total);
    }
}

#[test]
fn ready_to_delivered_goes_to_the_thread_whose_wait_delivered() {
    let (owner, waker) = (Task::new(10, 11), Task::new(20, 21));
    let mut records = vec![
        owner.epoll_ctl(START, 3, EPOLL_CTL_ADD, 5, 5, 0),
        waker.ready(START + MS, 10, 3, 5, 1),
        owner.epoll_wait(START + 2 * MS, START + 4 * MS, 3, 1),
    ];
    records.extend(owner.events(START + 4 * MS, &[(EPOLLIN, 5)]));
    let rows = rows(&records, SECOND, all_coverage());
    let t = &rows[0].threads[0];
    let r = t.ready_to_delivered_ns.unwrap();
    assert_eq!((t.tid, r.count, r.max), (11, 1, 3 * MS));
}

/// Three waiters of socket 77 (fd 5 of each process's epoll 3), woken by one readiness at `at`.
fn herd_at(at: u64) -> Vec<Record> {
    let waiters = [Task::new(10, 10), Task::new(20, 20), Task::new(30, 30)];
    let sender = Task::new(40, 41);
    let mut records = Vec::new();
    for w in waiters {
        records.push(w.socket(START, 5, 77));
        records.push(w.epoll_ctl(START, 3, EPOLL_CTL_ADD, 5, 5, 0));
    }
    records.push(sender.sock_ready(at, 77));
    for (i, w) in waiters.into_iter().enumerate() {
        records.push(w.wake(at + 100 + i as u64, START, 3, sender));
        records.push(w.woken_epoll_wait(START, at + 1_000, 3, 1, 400));
        records.extend(w.events(at + 1_000, &[(EPOLLIN, 5)]));
    }
    records
}

#[test]
fn a_herd_counts_in_the_interval_it_started_in_and_holds_that_interval_until_known() {
    // The herd's wake-ups end interval 0; the waiters' next waits go on for three seconds.
    let at = START + SECOND - 50_000;
    let mut records = herd_at(at);
    let waiter = Task::new(10, 10);
    for i in 1..30u64 {
        records.push(waiter.epoll_wait(at + i * 100 * MS, at + i * 100 * MS + 1, 3, 0));
    }
    let mut rows = IntervalRows::new(Timeline::new(START, SECOND), all_coverage());
    let mut stream = Reconstructor::new();
    let mut released = Vec::new();
    for r in &records {
        stream.push(r, &mut rows);
        if let Some(row) = rows.next_ready() {
            released.push((r.header().ts, row));
        }
    }
    stream.finish(&mut rows);
    let (when, first) = &released[0];
    assert_eq!(first.start_ns, 0);
    assert!(
        *when >= START + SECOND + HERD_LATENESS_NS,
        "interval 0 released at {} before its herds were known",
        when - START
    );
    let herds: Vec<(u32, Option<u64>, Option<u64>)> = first
        .threads
        .iter()
        .map(|t| (t.tid, t.wakeups, t.herds))
        .collect();
    assert_eq!(herds.len(), 3);
    assert!(
        herds
            .iter()
            .all(|&(_, wakeups, herds)| wakeups == Some(1) && herds == Some(1)),
        "{herds:?}"
    );
}

#[test]
fn an_interval_without_attributed_wakeups_is_released_at_once() {
    let t = Task::new(1, 1);
    let mut rows = IntervalRows::new(Timeline::new(START, SECOND), all_coverage());
    let mut stream = Reconstructor::new();
    for r in [
        t.epoll_wait(START, START + MS, 3, 0),
        t.epoll_wait(START + 2 * MS, START + SECOND + 100 * MS, 3, 0),
    ] {
        stream.push(&r, &mut rows);
    }
    assert!(
        rows.next_ready().is_none(),
        "the reorder window holds the records"
    );
    stream.advance(START + SECOND + 200 * MS, &mut rows);
    let row = rows.next_ready().expect("interval 0 is final");
    assert_eq!((row.start_ns, row.threads[0].calls), (0, 1));
}

/// Records each event's kind and time.
#[derive(Default)]
struct Log(Vec<(&'static str, u64)>);

impl Consumer for Log {
    fn event(&mut self, event: &Event<'_>) {
        let kind = match event {
            Event::Herd(_) => "herd",
            Event::Wait(_) => "wait",
            Event::End(_) => "end",
            _ => return,
        };
        self.0.push((kind, event.ts()));
    }
}

#[test]
fn a_herd_is_passed_on_within_its_lateness_even_without_further_wakeups() {
    let at = START + 10 * MS;
    let mut records = herd_at(at);
    // Only waits afterwards, no wake-up record.
    let t = Task::new(50, 50);
    for i in 1..=30u64 {
        records.push(t.epoll_wait(at + i * 100 * MS, at + i * 100 * MS + 1, 3, 0));
    }
    let mut log = Log::default();
    let mut stream = Reconstructor::new();
    for r in &records {
        stream.push(r, &mut log);
    }
    stream.finish(&mut log);
    let herd = log
        .0
        .iter()
        .position(|&(k, _)| k == "herd")
        .expect("a herd");
    let before: Vec<u64> = log.0[..herd]
        .iter()
        .filter(|(k, _)| *k == "wait")
        .map(|&(_, ts)| ts)
        .collect();
    let latest = before.iter().max().copied().unwrap_or(0);
    assert!(
        latest <= at + HERD_LATENESS_NS,
        "the herd of {} came after a wait at {}",
        at - START,
        latest - START
    );
    assert!(
        log.0[herd + 1..].iter().any(|&(k, _)| k == "wait"),
        "not only at the end"
    );
}

#[test]
fn an_interrupted_wait_known_late_counts_in_the_open_interval() {
    let (t, other) = (Task::new(1, 1), Task::new(1, 2));
    let mut interrupted = t.wait(WaitSyscall::EpollWait, START, START + 10 * MS, 3, 64, 0);
    interrupted.ret = -EINTR;
    let records = vec![
        Record::Wait(interrupted),
        other.epoll_wait(START + 2 * SECOND, START + 2 * SECOND + 1, 3, 0),
        // t's next record tells the wait was a signal, not its death.
        t.epoll_wait(START + 3 * SECOND, START + 3 * SECOND + 1, 3, 0),
    ];
    let shape = shape(&rows(&records, SECOND, Coverage::default()));
    let waits_of_1: u64 = shape
        .iter()
        .flat_map(|(_, _, threads)| threads)
        .filter(|(tid, _)| *tid == 1)
        .map(|(_, n)| n)
        .sum();
    assert_eq!(waits_of_1, 2, "{shape:?}");
}

#[test]
fn windows_hand_over_histograms_that_hold_every_sample() {
    let t = Task::new(3, 4);
    let records: Vec<Record> = (0..5_000u64)
        .map(|i| t.epoll_wait(START + i * 20_000, START + i * 20_000 + i, 3, 0))
        .collect();
    let mut windows = Windows::new(Timeline::new(START, 50 * MS));
    let mut stream = Reconstructor::new();
    let mut counts = Vec::new();
    struct Feed<'a, F: FnMut(&Window)>(&'a mut Windows, F);
    impl<F: FnMut(&Window)> Consumer for Feed<'_, F> {
        fn event(&mut self, event: &Event<'_>) {
            self.0.event(event, &mut self.1);
        }
    }
    let mut feed = Feed(&mut windows, |w: &Window| {
        let mut hist = uprof_analysis::intervals::empty_histogram();
        for thread in w.threads {
            thread.add_to(Metric::Blocked, &mut hist);
            assert_eq!(hist.len(), thread.count(Metric::Blocked));
        }
        counts.push(hist.len());
    });
    for r in &records {
        stream.push(r, &mut feed);
    }
    stream.finish(&mut feed);
    assert_eq!(counts.iter().sum::<u64>(), 5_000);
    assert_eq!(counts.len(), 2, "100 ms of waits in 50 ms intervals");
}
