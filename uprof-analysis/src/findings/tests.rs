//! Every rule on synthetic record streams, just below and just above its thresholds.
use uprof_common::{
    EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD, EPOLLHUP, EPOLLIN, Record, WaitSyscall,
};

use super::*;
use crate::stream::Reconstructor;
use crate::synth::Task;

const MS: u64 = 1_000_000;

fn session(tier: &str, wakeups: bool) -> SessionInfo {
    SessionInfo {
        tier: tier.into(),
        probes: if wakeups {
            vec!["tp_btf:sched_waking".into()]
        } else {
            Vec::new()
        },
        ..SessionInfo::default()
    }
}

fn judge(records: &[Record], info: &SessionInfo) -> (Vec<Finding>, Vec<Skipped>) {
    let mut stream = Reconstructor::new();
    let mut findings = Findings::default();
    for r in records {
        stream.push(r, &mut findings);
    }
    stream.finish(&mut findings);
    let judged = findings.finish(info);
    (judged.findings, judged.skipped)
}

/// The kinds found in `records` by a callback-tier recording with wake-ups.
fn kinds(records: &[Record]) -> Vec<Kind> {
    judge(records, &session("callback", true))
        .0
        .iter()
        .map(|f| f.kind)
        .collect()
}

fn only(records: &[Record], kind: Kind) -> Finding {
    let (found, _) = judge(records, &session("callback", true));
    assert_eq!(
        found.iter().map(|f| f.kind).collect::<Vec<_>>(),
        vec![kind],
        "{found:#?}"
    );
    found.into_iter().next().unwrap()
}

fn evidence(f: &Finding, name: &str) -> f64 {
    f.evidence
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("no {name}"))
        .value
}

/// A wait with a timeout of `timeout_ns` (0: a poll) that returned `ret`.
fn timed(t: Task, enter: u64, exit: u64, timeout_ns: i64, ret: i64) -> Record {
    Record::Wait(uprof_common::Wait {
        timeout_ns,
        ..t.wait(WaitSyscall::EpollWait, enter, exit, 3, 64, ret)
    })
}

#[test]
fn lost_records_are_always_reported() {
    let t = Task::new(1, 1);
    assert!(kinds(&[t.lost(5, 0), t.epoll_wait(1, 2, 3, 0)]).is_empty());
    let f = only(&[t.lost(5, 1)], Kind::LostRecords);
    assert_eq!((f.severity, evidence(&f, "lost")), (Severity::Warn, 1.0));
}

/// One loop on epoll 3 watching fd 5: a first wait returns at 1 ms, then `count` times a tick
/// of `tick` ns during which fd 5 becomes ready (or not), then a wait that delivers it.
fn ticks(tick: u64, count: u64, ready_during: bool) -> Vec<Record> {
    let (t, waker) = (Task::new(10, 11), Task::new(99, 99));
    let mut r = vec![
        t.epoll_create(0, 3),
        t.epoll_ctl(1, 3, EPOLL_CTL_ADD, 5, 5, 0),
        t.epoll_wait(2, MS, 3, 0),
    ];
    let mut start = MS;
    for _ in 0..count {
        let enter = start + tick;
        if ready_during {
            r.push(waker.ready(start + 10, 10, 3, 5, 7));
        }
        r.push(t.epoll_wait(enter, enter + 1_000, 3, 1));
        r.extend(t.events(enter + 1_000, &[(EPOLLIN, 5)]));
        start = enter + 1_000;
    }
    r
}

fn tick(tick: u64, ready_during: bool) -> Vec<Record> {
    ticks(tick, 1, ready_during)
}

#[test]
fn long_tick_needs_a_tick_at_the_threshold_with_an_fd_waiting() {
    let limit = Thresholds::default().long_tick_ns;
    let count = Thresholds::default().long_tick_count;
    assert!(kinds(&ticks(limit - 1, count, true)).is_empty());
    assert!(
        kinds(&ticks(limit, count, false)).is_empty(),
        "nothing waited for it"
    );
    let f = only(&ticks(limit, count, true), Kind::LongTick);
    assert_eq!(
        (f.severity, f.at.tid, f.at.fd, f.at.epfd),
        (Severity::Warn, Some(11), Some(5), Some(3))
    );
    assert_eq!(evidence(&f, "long_ticks"), count as f64);
    assert_eq!(evidence(&f, "longest_tick"), limit as f64);
    assert_eq!(evidence(&f, "longest_fd_wait"), (limit + 1_000 - 10) as f64);
    assert_eq!(f.when.ranges.len(), count as usize);
    assert_eq!(
        f.when.ranges[0],
        Range {
            start_ns: MS,
            end_ns: MS + limit
        }
    );
    // Fewer long ticks are noted, not an alarm; one of the error length is an error.
    assert_eq!(
        only(&ticks(limit, count - 1, true), Kind::LongTick).severity,
        Severity::Info
    );
    let error = Thresholds::default().long_tick_error_ns;
    assert_eq!(
        only(&tick(error, true), Kind::LongTick).severity,
        Severity::Error
    );
}

#[test]
fn long_tick_is_skipped_not_guessed_without_readiness() {
    let (found, skipped) = judge(
        &tick(Thresholds::default().long_tick_ns, true),
        &session("syscall", false),
    );
    assert!(found.is_empty());
    let skipped: Vec<Kind> = skipped.iter().map(|s| s.kind).collect();
    assert_eq!(
        skipped,
        vec![Kind::LongTick, Kind::ThunderingHerd, Kind::SpuriousWakeups]
    );
}

/// `polls` zero-timeout empty polls in a row, then `blocking` waits that block and find events.
fn spin(polls: u64, blocking: u64) -> Vec<Record> {
    let t = Task::new(10, 10);
    let mut ts = 0;
    let mut r = Vec::new();
    for _ in 0..polls {
        r.push(timed(t, ts, ts + 100, 0, 0));
        ts += 200;
    }
    for _ in 0..blocking {
        r.push(timed(t, ts, ts + 100_000, -1, 1));
        ts += 200_000;
    }
    r
}

#[test]
fn busy_poll_counts_polls_in_a_row_not_one_poll_before_blocking() {
    // Half of the waits are polls right after a poll.
    assert_eq!(only(&spin(101, 99), Kind::BusyPoll).at.tid, Some(10));
    assert!(kinds(&spin(100, 100)).is_empty());
    // libuv: one poll before each blocking wait.
    let t = Task::new(10, 10);
    let libuv: Vec<Record> = (0..500)
        .flat_map(|i| {
            let ts = i * 1_000_000;
            [
                timed(t, ts, ts + 100, 0, 0),
                timed(t, ts + 200, ts + 900_000, -1, 1),
            ]
        })
        .collect();
    assert!(kinds(&libuv).is_empty());
}

/// `rounds` readiness events of socket 77 (fd 5 of epoll 3 in two processes), each waking
/// both waiters (or only the first: `exclusive`).
fn herd(rounds: u64, exclusive: bool) -> Vec<Record> {
    let (a, b, sender) = (Task::new(10, 10), Task::new(20, 20), Task::new(40, 41));
    let mut r = Vec::new();
    for w in [a, b] {
        r.push(w.socket(0, 5, 77));
        r.push(w.epoll_ctl(1, 3, EPOLL_CTL_ADD, 5, 5, 0));
    }
    let mut enter = 10;
    for round in 0..rounds {
        let base = (round + 1) * MS;
        r.push(sender.sock_ready(base, 77));
        let woken: &[Task] = if exclusive { &[a] } else { &[a, b] };
        for (i, w) in woken.iter().enumerate() {
            r.push(w.wake(base + 100 + i as u64, enter, 3, sender));
        }
        for w in woken {
            r.push(w.woken_epoll_wait(enter, base + 2_000, 3, 1, 100));
            r.extend(w.events(base + 2_000, &[(EPOLLIN, 5)]));
        }
        enter = base + 3_000;
    }
    r
}

#[test]
fn thundering_herd_needs_enough_herds_and_not_exclusive_wakeups() {
    let limit = Thresholds::default().herd_events;
    let info = session("socket", true);
    assert!(judge(&herd(limit - 1, false), &info).0.is_empty());
    let (found, _) = judge(&herd(limit, false), &info);
    assert_eq!(found.len(), 1, "{found:#?}");
    let f = &found[0];
    assert_eq!(
        (f.kind, f.at.fd, f.tier.as_str()),
        (Kind::ThunderingHerd, Some(5), "socket")
    );
    assert_eq!(
        f.at.threads,
        vec![ThreadAt { pid: 10, tid: 10 }, ThreadAt { pid: 20, tid: 20 }]
    );
    assert_eq!(
        (evidence(f, "herds"), evidence(f, "waiters_per_herd")),
        (limit as f64, 2.0)
    );
    assert!(judge(&herd(limit * 10, true), &info).0.is_empty());
}

/// `events` waits on epoll 3 each delivering fd 5, with `mods` MODs of fd 5 among them.
fn churn(events: u64, mods: u64) -> Vec<Record> {
    let t = Task::new(10, 10);
    let mut r = vec![
        t.epoll_create(0, 3),
        t.epoll_ctl(1, 3, EPOLL_CTL_ADD, 5, 5, 0),
    ];
    for i in 0..events {
        let ts = 10 + i * 1_000;
        r.push(t.epoll_wait(ts, ts + 100, 3, 1));
        r.extend(t.events(ts + 100, &[(EPOLLIN, 5)]));
        if i < mods {
            r.push(t.epoll_ctl(ts + 200, 3, EPOLL_CTL_MOD, 5, 5, 0));
        }
    }
    r
}

#[test]
fn ctl_churn_is_interest_changes_per_delivered_event() {
    assert!(kinds(&churn(200, 199)).is_empty());
    let f = only(&churn(200, 200), Kind::CtlChurn);
    assert_eq!((f.at.tid, f.at.epfd, f.at.fd), (Some(10), Some(3), Some(5)));
    assert_eq!(evidence(&f, "changes_per_event"), 1.0);
    // Too few changes to judge, whatever the ratio.
    assert!(kinds(&churn(10, 10)).is_empty());
    // DEL then ADD of the same fd counts; a first ADD does not.
    let t = Task::new(10, 10);
    let mut r = churn(100, 0);
    for i in 0..100 {
        r.push(t.epoll_ctl(1_000_000 + 2 * i, 3, EPOLL_CTL_DEL, 5, 5, 0));
        r.push(t.epoll_ctl(1_000_001 + 2 * i, 3, EPOLL_CTL_ADD, 5, 5, 0));
    }
    assert_eq!(evidence(&only(&r, Kind::CtlChurn), "changes"), 100.0);
}

/// `waits` ready returns of `epoll_wait(maxevents 4)`, the first `full` of them with 4 events.
fn fill(waits: u64, full: u64) -> Vec<Record> {
    let t = Task::new(10, 10);
    let mut r = vec![t.epoll_create(0, 3)];
    for i in 0..waits {
        let ts = 10 + i * 1_000;
        let n = if i < full { 4 } else { 3 };
        r.push(Record::Wait(t.wait(
            WaitSyscall::EpollWait,
            ts,
            ts + 100,
            3,
            4,
            n,
        )));
        r.extend(t.events(ts + 100, &vec![(EPOLLIN, 9); n as usize]));
    }
    r
}

#[test]
fn maxevents_saturated_is_a_share_of_full_returns() {
    assert!(kinds(&fill(200, 99)).is_empty());
    let f = only(&fill(200, 100), Kind::MaxeventsSaturated);
    assert_eq!((evidence(&f, "maxevents"), f.at.epfd), (4.0, Some(3)));
    assert!(kinds(&fill(99, 99)).is_empty(), "too few to judge");
}

/// `twice` waits woken twice (once for nothing) and `once` waits woken once.
fn woken(twice: u64, once: u64) -> Vec<Record> {
    let (t, waker) = (Task::new(10, 10), Task::new(0, 0));
    let mut r = Vec::new();
    for i in 0..twice + once {
        let ts = 10 + i * 10_000;
        r.push(t.wake(ts + 100, ts, 3, waker));
        if i < twice {
            r.push(t.wake(ts + 200, ts, 3, waker));
        }
        r.push(t.woken_epoll_wait(ts, ts + 1_000, 3, 0, 10));
    }
    r
}

#[test]
fn spurious_wakeups_are_wakeups_that_did_not_end_the_wait() {
    assert!(kinds(&woken(49, 102)).is_empty());
    let f = only(&woken(50, 100), Kind::SpuriousWakeups);
    assert_eq!(
        (evidence(&f, "spurious"), evidence(&f, "share")),
        (50.0, 0.25)
    );
    // Herd losers are the herd's: no spurious-wakeups finding beside it.
    let herd = judge(&herd(100, false), &session("socket", true)).0;
    assert!(herd.iter().all(|f| f.kind != Kind::SpuriousWakeups));
}

/// `short` waits whose `timeout` expired, then `ready` waits that returned an event, each 1 ms.
fn expiries(short: u64, timeout: i64, ready: u64) -> Vec<Record> {
    let t = Task::new(10, 10);
    (0..short + ready)
        .map(|i| {
            let ts = i * MS;
            if i < short {
                timed(t, ts, ts + MS - 1, timeout, 0)
            } else {
                timed(t, ts, ts + 10, -1, 1)
            }
        })
        .collect()
}

#[test]
fn timer_wakeups_are_short_timeouts_expiring_often() {
    let short = Thresholds::default().short_timer_ns as i64;
    let f = only(&expiries(100, short, 100), Kind::TimerWakeups);
    assert_eq!(
        (
            evidence(&f, "short_timeouts"),
            evidence(&f, "timeouts_le_10ms")
        ),
        (100.0, 100.0)
    );
    assert!(kinds(&expiries(99, short, 101)).is_empty());
    assert!(
        kinds(&expiries(200, short + 1, 0)).is_empty(),
        "not a short timer"
    );
    // Rare wake-ups are not a problem: 100 waits over 4 s (the loop is busy in between).
    let t = Task::new(10, 10);
    let rare: Vec<Record> = (0..100)
        .map(|i| timed(t, i * 40 * MS, i * 40 * MS + MS, MS as i64, 0))
        .collect();
    assert_eq!(kinds(&rare), vec![Kind::SaturatedLoop]);
}

/// A loop busy `busy` µs then blocked `1000 - busy` µs, for `ms` milliseconds.
fn load(busy: u64, ms: u64) -> Vec<Record> {
    let t = Task::new(10, 10);
    (0..ms)
        .map(|i| {
            let enter = i * MS + busy * 1_000;
            timed(t, enter, (i + 1) * MS, -1, 1)
        })
        .collect()
}

#[test]
fn saturated_loop_needs_several_saturated_intervals_in_a_row() {
    let f = only(&load(950, 3_000), Kind::SaturatedLoop);
    assert_eq!(evidence(&f, "longest_run"), 3.0);
    assert!((evidence(&f, "utilization") - 0.95).abs() < 0.01);
    assert_eq!(
        f.when.ranges,
        vec![Range {
            start_ns: 0,
            end_ns: 3 * 1_000 * MS
        }]
    );
    assert!(kinds(&load(950, 2_000)).is_empty(), "two intervals");
    assert!(kinds(&load(890, 3_000)).is_empty(), "89 % busy");
    // A spinning thread is busy-poll's, not saturated-loop's.
    let t = Task::new(10, 10);
    let spinning: Vec<Record> = (0..30_000)
        .map(|i| timed(t, i * 100_000 + 99_000, (i + 1) * 100_000, 0, 0))
        .collect();
    assert_eq!(kinds(&spinning), vec![Kind::BusyPoll]);
}

/// Two threads named `worker`, `a` delivering `busy` events and `b` `quiet` (one per wait).
fn workers_of(a: Task, b: Task, busy: u64, quiet: u64) -> Vec<Record> {
    let mut r = vec![a.task_info(0, "worker"), b.task_info(0, "worker")];
    for (t, n) in [(a, busy), (b, quiet)] {
        for i in 0..n {
            let ts = 10 + i * 10_000;
            r.push(timed(t, ts, ts + 5_000, -1, 1));
        }
    }
    r
}

/// Two pre-forked worker processes (each its main thread).
fn workers(busy: u64, quiet: u64) -> Vec<Record> {
    workers_of(Task::new(10, 10), Task::new(20, 20), busy, quiet)
}

#[test]
fn imbalanced_workers_compares_the_busiest_with_the_quietest_of_a_name() {
    let f = only(&workers(500, 100), Kind::ImbalancedWorkers);
    assert_eq!((f.at.tid, f.at.threads.len()), (Some(10), 2));
    assert_eq!(
        (evidence(&f, "busiest"), evidence(&f, "quietest")),
        (500.0, 100.0)
    );
    assert!(kinds(&workers(500, 101)).is_empty());
}

#[test]
fn imbalanced_workers_compares_a_thread_pool_but_not_a_main_thread_with_its_helpers() {
    let pool = workers_of(Task::new(10, 11), Task::new(10, 12), 500, 100);
    assert_eq!(only(&pool, Kind::ImbalancedWorkers).at.tid, Some(11));
    // node: the main loop, and the platform's nearly idle loop of the same name.
    let helper = workers_of(Task::new(10, 10), Task::new(10, 11), 500, 100);
    assert!(kinds(&helper).is_empty());
}

/// `calls` polls over 64 fds returning 4 ready fds each, and one more ready fd in all.
fn scans(calls: u64, extra: bool) -> Vec<Record> {
    let t = Task::new(10, 10);
    (0..calls)
        .map(|i| {
            let ret = if extra && i == 0 { 5 } else { 4 };
            t.poll(i * 10_000, i * 10_000 + 1_000, 64, ret)
        })
        .collect()
}

#[test]
fn linear_scan_is_fds_scanned_per_ready_fd() {
    let f = only(&scans(100, false), Kind::LinearScan);
    assert_eq!(evidence(&f, "scanned_per_ready"), 16.0);
    assert!(kinds(&scans(100, true)).is_empty());
    assert!(kinds(&scans(99, false)).is_empty(), "too few calls");
}

/// `n` waits delivering EPOLLHUP on fd 5.
fn hangups(n: u64) -> Vec<Record> {
    let t = Task::new(10, 10);
    let mut r = vec![
        t.epoll_create(0, 3),
        t.epoll_ctl(1, 3, EPOLL_CTL_ADD, 5, 5, 0),
    ];
    for i in 0..n {
        let ts = 10 + i * 1_000;
        r.push(t.epoll_wait(ts, ts + 100, 3, 1));
        r.extend(t.events(ts + 100, &[(EPOLLIN | EPOLLHUP, 5)]));
    }
    r
}

#[test]
fn stale_interest_is_an_fd_hanging_up_again_and_again() {
    assert!(kinds(&hangups(99)).is_empty());
    let f = only(&hangups(100), Kind::StaleInterest);
    assert_eq!((f.at.fd, f.at.tid), (Some(5), Some(10)));
}

/// Thread 10 of process 10 registers `fds` fds (20, 21, ...) on epoll 3 at 1 ms, 2 ms, ...,
/// serves fd 5 with a wait every 10 ms, and closes the fds still registered in reverse order
/// so that the first is idle longest, `idle` ns after its registration. `twist` changes one
/// registration: delivered once, or removed (DEL) before its close.
fn leaked(fds: u64, idle: u64, twist: Option<CtlOrEvent>) -> Vec<Record> {
    let t = Task::new(10, 10);
    let mut r = vec![
        t.epoll_create(0, 3),
        t.epoll_ctl(1, 3, EPOLL_CTL_ADD, 5, 5, 0),
    ];
    for i in 0..fds {
        let fd = 20 + i as i32;
        r.push(t.epoll_ctl((i + 1) * MS, 3, EPOLL_CTL_ADD, fd, fd as u64, 0));
    }
    let last = fds * MS;
    let mut ts = last + MS;
    while ts < MS + idle {
        r.push(t.epoll_wait(ts, ts + 100, 3, 1));
        let fd = if ts == last + MS && twist == Some(CtlOrEvent::Event) {
            20
        } else {
            5
        };
        r.extend(t.events(ts + 100, &[(EPOLLIN, fd)]));
        ts += 10 * MS;
    }
    if twist == Some(CtlOrEvent::Ctl) {
        r.push(t.epoll_ctl(MS + idle - 1, 3, EPOLL_CTL_DEL, 20, 0, 0));
    }
    // fd 20 + i registered at (i + 1) ms, closed at 1 ms + idle + (fds - 1 - i) µs.
    for i in (0..fds).rev() {
        r.push(t.close(MS + idle + (fds - 1 - i) * 1_000, 20 + i as i32, 0));
    }
    r
}

#[derive(Clone, Copy, PartialEq)]
enum CtlOrEvent {
    Ctl,
    Event,
}

#[test]
fn stale_interest_is_many_fds_idle_while_registered_then_closed() {
    let limits = Thresholds::default();
    let (n, idle) = (limits.leak_fds, limits.leak_idle_ns);
    // The last registered, the least idle: (n - 1) ms later than the first, closed n - 1 µs
    // sooner. Every fd is idle at least the threshold when the last one is.
    let least = |i: u64| idle + (n - 1) * MS - (n - 1 - i) * 1_000 - i * MS;
    let enough = idle + (n - 1) * MS;
    assert!(least(n - 1) >= idle && least(n - 1) < idle + MS);
    let f = only(&leaked(n, enough, None), Kind::StaleInterest);
    assert_eq!(
        (f.severity, f.at.tid, f.at.epfd, f.at.fd),
        (Severity::Warn, Some(10), Some(3), Some(20))
    );
    assert_eq!(evidence(&f, "idle_fds"), n as f64);
    assert_eq!(
        evidence(&f, "longest_idle"),
        (enough + (n - 1) * 1_000) as f64
    );
    assert_eq!(f.when.ranges.len(), 5, "the longest few idle spans");
    assert!(f.summary.contains("fds 20, 21, 22, ..."), "{}", f.summary);

    assert!(
        kinds(&leaked(n - 1, enough, None)).is_empty(),
        "too few fds"
    );
    // The last registered fd a nanosecond short of idle: n - 1 idle fds.
    let short = enough - (least(n - 1) - idle) - 1;
    assert!(
        kinds(&leaked(n, short, None)).is_empty(),
        "one not idle long enough"
    );
    assert!(
        kinds(&leaked(n, enough, Some(CtlOrEvent::Event))).is_empty(),
        "one delivered an event"
    );
    assert!(
        kinds(&leaked(n, enough, Some(CtlOrEvent::Ctl))).is_empty(),
        "one removed before its close"
    );
    let f = only(&leaked(n + 1, enough + MS, None), Kind::StaleInterest);
    assert_eq!(evidence(&f, "idle_fds"), (n + 1) as f64);
}

#[test]
fn silenced_kinds_and_thresholds_apply() {
    let mut limits = Thresholds::default();
    limits.set("hangup-deliveries=50").unwrap();
    let mut stream = Reconstructor::new();
    let mut findings = Findings::new(limits.clone());
    for r in &hangups(50) {
        stream.push(r, &mut findings);
    }
    stream.finish(&mut findings);
    assert_eq!(
        findings.finish(&session("callback", true)).findings.len(),
        1
    );
    limits.silenced.push(Kind::StaleInterest);
    let mut stream = Reconstructor::new();
    let mut findings = Findings::new(limits);
    for r in &hangups(500) {
        stream.push(r, &mut findings);
    }
    stream.finish(&mut findings);
    assert!(
        findings
            .finish(&session("callback", true))
            .findings
            .is_empty()
    );
}

#[test]
fn findings_come_most_severe_first() {
    let t = Task::new(1, 1);
    let mut r = tick(Thresholds::default().long_tick_error_ns, true);
    r.push(t.lost(5, 3));
    let found: Vec<(Kind, Severity)> = judge(&r, &session("callback", true))
        .0
        .iter()
        .map(|f| (f.kind, f.severity))
        .collect();
    assert_eq!(
        found,
        vec![
            (Kind::LongTick, Severity::Error),
            (Kind::LostRecords, Severity::Warn)
        ]
    );
}

#[test]
fn past_a_few_of_a_kind_findings_are_counted_not_kept() {
    // 20 threads each hanging up on its own fd 5.
    let mut r = Vec::new();
    for tid in 0..20 {
        let t = Task::new(100 + tid, 100 + tid);
        r.push(t.epoll_create(0, 3));
        r.push(t.epoll_ctl(1, 3, EPOLL_CTL_ADD, 5, 5, 0));
        for i in 0..100 {
            let ts = 10 + i * 1_000;
            r.push(t.epoll_wait(ts, ts + 100, 3, 1));
            r.extend(t.events(ts + 100, &[(EPOLLIN | EPOLLHUP, 5)]));
        }
    }
    let mut stream = Reconstructor::new();
    let mut findings = Findings::default();
    for rec in &r {
        stream.push(rec, &mut findings);
    }
    stream.finish(&mut findings);
    let judged = findings.finish(&session("callback", true));
    assert_eq!(judged.findings.len(), KEPT_PER_KIND);
    assert_eq!(
        judged.omitted,
        vec![Omitted {
            kind: Kind::StaleInterest,
            count: 4
        }]
    );
}
