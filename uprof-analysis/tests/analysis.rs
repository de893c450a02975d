//! The analysis on synthetic record streams: exact results derived from the constructed input.
use serde_json::json;
use uprof_analysis::synth::Task;
use uprof_analysis::{
    Analyzer, EpollReport, FdReport, Incomplete, Report, SessionInfo, TextOptions, ThreadReport,
    View,
};
use uprof_common::{
    EINTR, EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD, EPOLLEXCLUSIVE, EPOLLHUP, EPOLLIN,
    EPOLLOUT, EPOLLRDHUP, FdKind, Record, WAIT_ABANDONED, WAIT_UNFINISHED, WaitSyscall,
};
use uprof_record::{ByteRange, DamageKind, PartialReason};

const MS: u64 = 1_000_000;

fn analyze(records: impl IntoIterator<Item = Record>) -> Report {
    analyze_with(records, &SessionInfo::default())
}

fn analyze_with(records: impl IntoIterator<Item = Record>, info: &SessionInfo) -> Report {
    let mut analyzer = Analyzer::new();
    for rec in records {
        analyzer.push(&rec);
    }
    analyzer.finish(info)
}

fn thread(report: &Report, tid: u32) -> &ThreadReport {
    report
        .threads
        .iter()
        .find(|t| t.tid == tid)
        .unwrap_or_else(|| panic!("thread {tid} not reported"))
}

fn epoll(report: &Report, pid: u32, epfd: i32) -> &EpollReport {
    let mut found = report
        .epolls
        .iter()
        .filter(|e| e.pid == pid && e.epfd == epfd);
    let e = found
        .next()
        .unwrap_or_else(|| panic!("epoll {pid}/{epfd} not reported"));
    assert!(
        found.next().is_none(),
        "epoll {pid}/{epfd} reported more than once"
    );
    e
}

/// The fd entries of `fd`, one per generation, oldest first.
fn fd_entries(e: &EpollReport, fd: i32) -> Vec<&FdReport> {
    e.fds.iter().filter(|f| f.fd == fd).collect()
}

fn flagged(task: Task, enter: u64, exit: u64, flags: u8) -> Record {
    let mut w = task.wait(WaitSyscall::EpollWait, enter, exit, 3, 64, 5);
    w.flags = flags;
    Record::Wait(w)
}

#[test]
fn a_wait_ended_by_its_threads_death_is_unfinished_not_interrupted() {
    let (dying, living) = (Task::new(12, 13), Task::new(12, 14));
    let report = analyze(vec![
        // exit_group from another thread: the blocked wait returns EINTR, then the thread exits.
        dying.epoll_wait(0, 100, 3, -EINTR),
        living.epoll_wait(10, 20, 4, -EINTR),
        living.epoll_wait(30, 40, 4, 0),
        dying.exit(101, "dying"),
    ]);
    let dying = &thread(&report, 13).waits;
    assert_eq!(
        (dying.calls, dying.interrupted, dying.unfinished),
        (1, 0, 1)
    );
    let living = &thread(&report, 14).waits;
    assert_eq!(
        (
            living.calls,
            living.interrupted,
            living.timeouts,
            living.unfinished
        ),
        (2, 1, 1, 0)
    );
}

#[test]
fn waits_are_classified_by_flags_and_return_value() {
    let t = Task::new(10, 11);
    let records = vec![
        t.epoll_wait(0, 10, 3, 3),
        t.epoll_wait(20, 30, 3, 1),
        t.epoll_wait(40, 50, 3, 0),
        t.epoll_wait(60, 70, 3, -EINTR),
        t.epoll_wait(80, 90, 3, -i64::from(libc::EBADF)),
        t.poll(100, 110, 4, 2),
        t.poll(120, 130, 6, 0),
        flagged(t, 140, 150, WAIT_ABANDONED),
        flagged(t, 160, 170, WAIT_UNFINISHED),
    ];
    let report = analyze(records);
    let w = &thread(&report, 11).waits;
    assert_eq!(w.calls, 9);
    assert_eq!(
        (w.ready, w.timeouts, w.interrupted, w.errors, w.unfinished),
        (3, 2, 1, 1, 2)
    );
    assert_eq!(w.events, 3 + 1 + 2);
    assert_eq!(
        serde_json::to_value(&w.by_syscall).unwrap(),
        json!({"epoll_wait": 7, "poll": 2})
    );
    // Ready returns: 3, 1 and 2 events.
    let buckets: Vec<_> = w
        .events_per_wakeup
        .buckets
        .iter()
        .map(|b| (b.lo, b.hi, b.count))
        .collect();
    assert_eq!(buckets, vec![(1, 1, 1), (2, 3, 2)]);
    assert_eq!(w.events_per_wakeup.mean, 2.0);
    // Every finished wait blocked 10 ns; unfinished ones add no sample.
    assert_eq!((w.blocked_ns.count, w.blocked_ns.total), (7, 70));
    // Poll family: two calls over 4 and 6 fds, one of which woke with 2 ready.
    let s = &w.fds_scanned;
    assert_eq!(
        (s.calls, s.total, s.per_call, s.per_wakeup, s.ready_per_call),
        (2, 10, 5.0, 4.0, 1.0)
    );
}

#[test]
fn zero_timeout_calls_that_find_nothing_are_polls_not_timeouts() {
    let t = Task::new(10, 11);
    let with_timeout = |enter, exit, timeout_ns, ret| {
        let mut w = t.wait(WaitSyscall::EpollWait, enter, exit, 3, 64, ret);
        w.timeout_ns = timeout_ns;
        Record::Wait(w)
    };
    let report = analyze(vec![
        // libuv: one poll with timeout 0, then a blocking wait.
        with_timeout(0, 5, 0, 0),
        with_timeout(10, 1_000, 5_000_000, 0),
        with_timeout(1_010, 1_015, 0, 0),
        with_timeout(1_020, 2_000, -1, 0),
        // A zero-timeout call that found something is a ready call like any other.
        with_timeout(2_010, 2_015, 0, 1),
    ]);
    let w = &thread(&report, 11).waits;
    assert_eq!((w.calls, w.polls, w.timeouts, w.ready), (5, 2, 2, 1));
}

#[test]
fn fds_are_added_up_by_kind_and_by_whether_they_were_closed() {
    let t = Task::new(20, 20);
    let mut records = vec![t.epoll_create(0, 3), t.fd_info(1, 4, FdKind::Socket)];
    records.push(t.epoll_ctl(1, 3, EPOLL_CTL_ADD, 4, 4, 0));
    // 50 short connections on fds 5 and 6 in turn, each delivering twice, then closed.
    for i in 0..50u64 {
        let (fd, ts) = (5 + (i % 2) as i32, 100 + i * 100);
        records.push(t.fd_info(ts, fd, FdKind::Socket));
        records.push(t.epoll_ctl(ts, 3, EPOLL_CTL_ADD, fd, 1_000 + i, 0));
        records.push(t.epoll_wait(ts + 1, ts + 2, 3, 2));
        records.extend(t.events(ts + 2, &[(EPOLLIN, 1_000 + i), (EPOLLIN, 4)]));
        records.push(t.close(ts + 3, fd, 0));
    }
    let report = analyze(records);
    let e = epoll(&report, 20, 3);
    let groups: Vec<_> = e
        .by_kind
        .iter()
        .map(|g| (g.kind, g.closed, g.fds, g.delivered, g.ctl.add))
        .collect();
    assert_eq!(
        groups,
        // Most delivered first; on a tie, the larger group.
        vec![("socket", true, 50, 50, 50), ("socket", false, 1, 50, 1)]
    );
    assert!(fd_entries(e, 4).iter().all(|f| !f.closed));
    assert!(fd_entries(e, 5).iter().all(|f| f.closed));
}

#[test]
fn busy_and_blocked_times_are_exact() {
    let t = Task::new(10, 10);
    let report = analyze(vec![
        t.epoll_wait(1_000, 3_000, 3, 1),
        t.epoll_wait(3_500, 4_000, 3, 1),
        t.epoll_wait(10_000, 10_100, 3, 0),
    ]);
    let w = &thread(&report, 10).waits;
    let blocked = &w.blocked_ns;
    assert_eq!(
        (blocked.count, blocked.total, blocked.mean, blocked.max),
        (3, 2_600, 866, 2_000)
    );
    assert_eq!((blocked.p50, blocked.p99), (500, 2_000));
    let busy = &w.busy_ns;
    assert_eq!(
        (busy.count, busy.total, busy.mean, busy.max),
        (2, 6_500, 3_250, 6_000)
    );
    assert_eq!((busy.p50, busy.p90), (500, 6_000));
    assert_eq!(w.utilization, 6_500.0 / (6_500.0 + 2_600.0));
}

#[test]
fn a_thread_exiting_mid_wait_leaves_no_bogus_samples() {
    let t = Task::new(10, 12);
    let report = analyze(vec![
        t.epoll_wait(0, 100, 3, 1),
        // Blocked from 300 until the thread died at 900_000.
        flagged(t, 300, 900_000, WAIT_ABANDONED),
        t.exit(900_000, "worker"),
    ]);
    let th = thread(&report, 12);
    assert_eq!(th.comm.as_deref(), Some("worker"));
    let w = &th.waits;
    assert_eq!((w.calls, w.ready, w.unfinished), (2, 1, 1));
    assert_eq!((w.blocked_ns.count, w.blocked_ns.max), (1, 100));
    assert_eq!(w.busy_ns.count, 0);
}

#[test]
fn a_wait_after_an_unfinished_one_has_no_busy_sample() {
    let t = Task::new(10, 10);
    let report = analyze(vec![
        t.epoll_wait(0, 100, 3, 1),
        flagged(t, 200, 300, WAIT_UNFINISHED),
        t.epoll_wait(1_000, 1_500, 3, 1),
        t.epoll_wait(1_700, 1_800, 3, 1),
    ]);
    let busy = &thread(&report, 10).waits.busy_ns;
    // Only 1_500 -> 1_700: the unfinished wait's exit is unknown.
    assert_eq!((busy.count, busy.total), (1, 200));
}

#[test]
fn events_map_to_fds_through_the_interest_list() {
    let t = Task::new(20, 20);
    let mut records = vec![
        t.epoll_create(0, 3),
        t.epoll_ctl(1, 3, EPOLL_CTL_ADD, 5, 500, 0),
        t.epoll_ctl(2, 3, EPOLL_CTL_ADD, 6, 600, 0),
        t.epoll_wait(10, 20, 3, 3),
    ];
    records.extend(t.events(
        20,
        &[(EPOLLIN, 500), (EPOLLIN | EPOLLRDHUP, 600), (EPOLLOUT, 500)],
    ));
    // 20 events in two WaitEvents chunks, and one with unknown data.
    let many: Vec<(u32, u64)> = (0..20)
        .map(|_| (EPOLLIN, 600))
        .chain([(EPOLLIN, 777)])
        .collect();
    records.push(t.epoll_wait(30, 40, 3, many.len() as i64));
    records.extend(t.events(40, &many));
    let report = analyze(records);

    let e = epoll(&report, 20, 3);
    assert_eq!((e.waits, e.delivered), (2, 24));
    let fd5 = fd_entries(e, 5);
    assert_eq!(fd5.len(), 1);
    assert_eq!(fd5[0].delivered, 2);
    assert_eq!((fd5[0].masks.input, fd5[0].masks.out), (1, 1));
    let fd6 = fd_entries(e, 6);
    assert_eq!(fd6[0].delivered, 21);
    assert_eq!((fd6[0].masks.input, fd6[0].masks.rdhup), (21, 1));
    let unmapped = fd_entries(e, -1);
    assert_eq!(unmapped.len(), 1);
    assert_eq!((unmapped[0].data, unmapped[0].delivered), (Some(777), 1));
    assert_eq!(thread(&report, 20).waits.events, 24);
}

#[test]
fn a_reused_fd_number_is_a_new_entry() {
    let t = Task::new(30, 30);
    let mut records = vec![
        t.epoll_create(0, 3),
        t.epoll_ctl(1, 3, EPOLL_CTL_ADD, 5, 5, 0),
        t.epoll_wait(2, 3, 3, 1),
    ];
    records.extend(t.events(3, &[(EPOLLIN, 5)]));
    records.push(t.close(4, 5, 0));
    // The closed fd is no longer in the interest list: its data is unmapped now.
    records.push(t.epoll_wait(5, 6, 3, 1));
    records.extend(t.events(6, &[(EPOLLIN, 5)]));
    // A new file gets number 5 and is registered with the same data.
    records.push(t.epoll_ctl(7, 3, EPOLL_CTL_ADD, 5, 5, 0));
    records.push(t.epoll_wait(8, 9, 3, 2));
    records.extend(t.events(9, &[(EPOLLIN, 5), (EPOLLOUT, 5)]));
    let report = analyze(records);

    let e = epoll(&report, 30, 3);
    let fd5 = fd_entries(e, 5);
    assert_eq!(fd5.len(), 2);
    assert!(fd5[0].generation < fd5[1].generation);
    assert_eq!((fd5[0].delivered, fd5[0].ctl.counts.add), (1, 1));
    assert_eq!(
        (fd5[1].delivered, fd5[1].ctl.counts.add, fd5[1].masks.out),
        (2, 1, 1)
    );
    let unmapped = fd_entries(e, -1);
    assert_eq!((unmapped[0].data, unmapped[0].delivered), (Some(5), 1));
}

#[test]
fn closing_an_epoll_fd_ends_its_instance() {
    let t = Task::new(40, 40);
    let report = analyze(vec![
        t.epoll_create(0, 3),
        t.epoll_ctl(1, 3, EPOLL_CTL_ADD, 5, 5, 0),
        t.close(2, 3, 0),
        t.epoll_create(3, 3),
        t.epoll_wait(4, 5, 3, 0),
        // A failed close changes nothing.
        t.close(6, 3, -libc::EBADF),
        t.epoll_wait(7, 8, 3, 0),
    ]);
    let instances: Vec<_> = report
        .epolls
        .iter()
        .map(|e| (e.epfd, e.ctl.add, e.waits))
        .collect();
    assert_eq!(instances, vec![(3, 1, 0), (3, 0, 2)]);
    assert!(report.epolls[0].generation < report.epolls[1].generation);
}

#[test]
fn dup2_over_an_fd_replaces_it() {
    let t = Task::new(45, 45);
    let mut records = vec![
        t.epoll_create(0, 3),
        t.fd_info(0, 7, FdKind::Pipe),
        t.epoll_ctl(1, 3, EPOLL_CTL_ADD, 5, 5, 0),
        t.dup2(2, 7, 5, 5),
        t.epoll_ctl(3, 3, EPOLL_CTL_ADD, 5, 5, 0),
        t.epoll_wait(4, 5, 3, 1),
    ];
    records.extend(t.events(5, &[(EPOLLIN, 5)]));
    let report = analyze(records);
    let fd5 = fd_entries(epoll(&report, 45, 3), 5);
    let summary: Vec<_> = fd5
        .iter()
        .map(|f| (f.kind, f.delivered, f.ctl.counts.add))
        .collect();
    // The new fd 5 is a copy of fd 7, a pipe.
    assert_eq!(summary, vec![("unknown", 0, 1), ("pipe", 1, 1)]);
}

#[test]
fn epoll_ctl_outcomes_are_counted_per_op_and_errno() {
    let t = Task::new(50, 51);
    let report = analyze(vec![
        t.epoll_ctl(1, 3, EPOLL_CTL_ADD, 5, 5, 0),
        t.epoll_ctl(2, 3, EPOLL_CTL_ADD, 5, 5, -libc::EEXIST),
        t.epoll_ctl(3, 3, EPOLL_CTL_MOD, 5, 6, 0),
        t.epoll_ctl(4, 3, EPOLL_CTL_DEL, 7, 0, -libc::ENOENT),
        t.epoll_ctl(5, 3, EPOLL_CTL_MOD, 7, 0, -libc::ENOENT),
        t.epoll_ctl(6, 3, EPOLL_CTL_ADD, 9, 0, -libc::EPERM),
        t.epoll_ctl(7, 3, EPOLL_CTL_DEL, 5, 0, 0),
    ]);
    let e = epoll(&report, 50, 3);
    assert_eq!(
        serde_json::to_value(e.ctl).unwrap(),
        json!({"add": 3, "mod": 2, "del": 2, "errors": 4}),
        "add/mod/del count every call, failed ones included"
    );
    let ctl = |fd| serde_json::to_value(&fd_entries(e, fd)[0].ctl).unwrap();
    assert_eq!(
        ctl(5),
        json!({"add": 2, "mod": 1, "del": 1, "errors": 1, "errors_by_errno": {"EEXIST": 1}})
    );
    assert_eq!(
        ctl(7),
        json!({"add": 0, "mod": 1, "del": 1, "errors": 2, "errors_by_errno": {"ENOENT": 2}})
    );
    assert_eq!(
        ctl(9),
        json!({"add": 1, "mod": 0, "del": 0, "errors": 1, "errors_by_errno": {"EPERM": 1}})
    );
    // The thread is listed for its epoll_ctl calls although it never waited.
    let th = thread(&report, 51);
    assert_eq!((th.epoll_ctl, th.waits.calls), (7, 0));
}

#[test]
fn a_child_process_inherits_the_interest_its_parent_had_at_fork() {
    let parent = Task::new(100, 100);
    let child = Task::new(200, 200);
    let sibling = Task::new(100, 101);
    let mut records = vec![
        parent.task_info(0, "server"),
        parent.epoll_create(1, 3),
        parent.epoll_ctl(2, 3, EPOLL_CTL_ADD, 5, 55, 0),
        parent.fork(3, 200, "server"),
        parent.fork(4, 101, "server"),
        // After the fork the parent drops fd 5; the child still has it.
        parent.close(5, 5, 0),
        child.epoll_wait(6, 7, 3, 1),
    ];
    records.extend(child.events(7, &[(EPOLLIN, 55)]));
    // A thread of the parent shares the parent's (now empty) interest list.
    records.push(sibling.epoll_wait(8, 9, 3, 1));
    records.extend(sibling.events(9, &[(EPOLLIN, 55)]));
    let report = analyze(records);

    let c = thread(&report, 200);
    assert_eq!((c.pid, c.comm.as_deref()), (200, Some("server")));
    let fd5 = fd_entries(epoll(&report, 200, 3), 5);
    assert_eq!((fd5.len(), fd5[0].delivered), (1, 1));
    assert_eq!(thread(&report, 101).pid, 100);
    let parent_epoll = epoll(&report, 100, 3);
    assert_eq!(fd_entries(parent_epoll, -1)[0].delivered, 1);
    assert_eq!(parent_epoll.waits, 1);
}

#[test]
fn interest_snapshots_map_events_of_pre_existing_registrations() {
    let t = Task::new(60, 61);
    let mut records = vec![
        t.interest(0, 4, 8, 0xdead),
        t.interest(0, 4, 9, 0xbeef),
        t.fd_info(0, 8, FdKind::Socket),
        t.epoll_wait(10, 20, 4, 2),
    ];
    records.extend(t.events(20, &[(EPOLLIN, 0xdead), (EPOLLIN, 0xdead)]));
    let report = analyze(records);
    let e = epoll(&report, 60, 4);
    let fds: Vec<_> = e.fds.iter().map(|f| (f.fd, f.kind, f.delivered)).collect();
    assert_eq!(fds, vec![(8, "socket", 2), (9, "unknown", 0)]);
}

/// Three threads' records, each thread's in order, delivered as if each thread's CPU buffer
/// were read `delay` late: records of different threads arrive out of timestamp order.
#[test]
fn out_of_order_delivery_across_cpus_gives_the_same_report() {
    let server = Task::new(70, 70);
    let workers = [Task::new(70, 71), Task::new(70, 72)];
    // (delivery delay, record) per record.
    let mut stream: Vec<(u64, Record)> = Vec::new();
    stream.push((0, server.epoll_create(0, 3)));
    for i in 0..200u64 {
        let base = i * MS;
        let fd = 10 + (i % 7) as i32;
        // The server (re-)registers an fd; a worker then gets its events; sometimes closes it.
        stream.push((
            0,
            server.epoll_ctl(base, 3, EPOLL_CTL_ADD, fd, fd as u64, 0),
        ));
        let w = workers[(i % 2) as usize];
        let delay = 3 * MS + (i % 2) * 4 * MS;
        stream.push((delay, w.epoll_wait(base + 100, base + 200, 3, 1)));
        for rec in w.events(base + 200, &[(EPOLLIN, fd as u64)]) {
            stream.push((delay, rec));
        }
        if i % 3 == 0 {
            stream.push((0, server.close(base + 300, fd, 0)));
        }
    }
    let in_order: Vec<Record> = stream.iter().map(|(_, r)| *r).collect();
    let mut delivered = stream.clone();
    delivered.sort_by_key(|(delay, r)| r.header().ts + delay);
    let delivered: Vec<Record> = delivered.into_iter().map(|(_, r)| r).collect();
    assert_ne!(
        delivered, in_order,
        "the delivery order must differ for this test to mean anything"
    );

    let expected = analyze(in_order).to_json();
    let got = analyze(delivered).to_json();
    assert_eq!(got, expected);
    // Every event mapped to its fd: none unmapped.
    assert!(
        expected["epolls"][0]["fds"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["fd"] != -1)
    );
    assert_eq!(expected["epolls"][0]["delivered"], 200);
}

#[test]
fn lost_events_take_the_larger_count() {
    let t = Task::new(1, 1);
    let info = SessionInfo {
        lost_events: 7,
        ..SessionInfo::default()
    };
    assert_eq!(
        analyze_with(vec![t.lost(1, 3), t.lost(2, 12)], &info).lost_events,
        12
    );
    assert_eq!(analyze_with(vec![t.lost(1, 3)], &info).lost_events, 7);
}

#[test]
fn threads_and_epolls_are_sorted_and_idle_threads_left_out() {
    let a = Task::new(9, 12);
    let b = Task::new(9, 10);
    let c = Task::new(2, 5);
    let idle = Task::new(2, 6);
    let report = analyze(vec![
        a.epoll_wait(0, 1, 8, 0),
        b.epoll_wait(0, 1, 4, 0),
        c.epoll_wait(0, 1, 6, 0),
        idle.task_info(0, "idle"),
        idle.close(1, 4, 0),
    ]);
    let threads: Vec<_> = report.threads.iter().map(|t| (t.pid, t.tid)).collect();
    assert_eq!(threads, vec![(2, 5), (9, 10), (9, 12)]);
    let epolls: Vec<_> = report.epolls.iter().map(|e| (e.pid, e.epfd)).collect();
    assert_eq!(epolls, vec![(2, 6), (9, 4), (9, 8)]);
}

#[test]
fn json_has_the_documented_fields() {
    let t = Task::new(80, 81);
    let mut records = vec![
        t.epoll_ctl(0, 3, EPOLL_CTL_ADD, 5, 5, 0),
        t.epoll_wait(1, 2, 3, 1),
    ];
    records.extend(t.events(2, &[(EPOLLIN, 5)]));
    let info = SessionInfo {
        duration_ns: 5 * MS,
        probes: vec!["epoll_wait".into()],
        tier: "full".into(),
        command: Some(vec!["srv".into()]),
        pids: vec![80],
        lost_events: 0,
        incomplete: Some(Incomplete {
            why: "the recording did not finish".into(),
            reason: PartialReason::Damaged(DamageKind::OutOfSequence),
            records_read: 3,
            damaged_bytes: Some(ByteRange {
                start: 100,
                end: 250,
            }),
        }),
    };
    let j = analyze_with(records, &info).to_json();
    assert_eq!(j["complete"], false);
    assert_eq!(
        j["incomplete"],
        json!({
            "why": "the recording did not finish",
            "reason": "out_of_sequence",
            "records_read": 3,
            "damaged_bytes": {"start": 100, "end": 250}
        })
    );
    assert_eq!(j["schema"], "uprof.report/4");
    assert_eq!(
        (j["duration_ns"].as_u64(), j["tier"].as_str()),
        (Some(5 * MS), Some("full"))
    );
    for key in ["lost_events", "probes", "threads", "epolls"] {
        assert!(j.get(key).is_some(), "missing {key}");
    }
    let waits = &j["threads"][0]["waits"];
    for key in [
        "calls",
        "by_syscall",
        "ready",
        "timeouts",
        "polls",
        "interrupted",
        "errors",
        "unfinished",
        "events",
        "events_per_wakeup",
        "blocked_ns",
        "busy_ns",
        "utilization",
        "fds_scanned",
    ] {
        assert!(waits.get(key).is_some(), "missing waits.{key}");
    }
    // An empty histogram is all zeros.
    assert_eq!(
        waits["busy_ns"],
        json!({"count": 0, "mean": 0, "total": 0, "p50": 0, "p90": 0, "p99": 0, "p999": 0, "max": 0})
    );
    let fd = &j["epolls"][0]["fds"][0];
    assert_eq!(
        fd["masks"],
        json!({"in": 1, "out": 0, "err": 0, "hup": 0, "rdhup": 0})
    );
    for key in ["fd", "kind", "closed", "delivered", "ctl"] {
        assert!(fd.get(key).is_some(), "missing fds[].{key}");
    }
}

#[test]
fn findings_are_in_the_json_with_kebab_case_kinds() {
    let t = Task::new(80, 81);
    let mut records = vec![t.epoll_ctl(0, 3, EPOLL_CTL_ADD, 5, 5, 0)];
    for i in 0..100 {
        records.push(t.epoll_wait(10 + i * 1_000, 100 + i * 1_000, 3, 1));
        records.extend(t.events(100 + i * 1_000, &[(EPOLLIN | EPOLLHUP, 5)]));
    }
    let info = SessionInfo {
        lost_events: 7,
        tier: "syscall".into(),
        ..SessionInfo::default()
    };
    let j = analyze_with(records, &info).to_json();
    let findings = j["findings"].as_array().unwrap();
    let kinds: Vec<&str> = findings
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["lost-records", "stale-interest"]);
    let stale = &findings[1];
    assert_eq!(
        (
            &stale["severity"],
            &stale["tier"],
            &stale["where"]["fd"],
            &stale["where"]["tid"]
        ),
        (&json!("warn"), &json!("syscall"), &json!(5), &json!(81))
    );
    assert_eq!(
        stale["evidence"][0],
        json!({"name": "hangups", "value": 100.0, "unit": "deliveries"})
    );
    for key in ["when", "summary", "advice"] {
        assert!(stale.get(key).is_some(), "missing findings[].{key}");
    }
    let skipped: Vec<&str> = j["findings_skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        skipped,
        ["long-tick", "thundering-herd", "spurious-wakeups"]
    );
}

#[test]
fn text_report_shows_tables_and_lost_events() {
    let t = Task::new(90, 91);
    let mut records = vec![
        t.task_info(0, "loop"),
        t.epoll_ctl(0, 3, EPOLL_CTL_ADD, 5, 5, 0),
    ];
    records.push(t.epoll_wait(1_000, 2_500_000, 3, 1));
    records.extend(t.events(2_500_000, &[(EPOLLIN, 5)]));
    let render = |info: &SessionInfo, view| {
        let mut out = Vec::new();
        analyze_with(records.clone(), info)
            .render_text(&mut out, view)
            .unwrap();
        String::from_utf8(out).unwrap()
    };
    let info = SessionInfo {
        duration_ns: 2_000_000_000,
        tier: "full".into(),
        ..SessionInfo::default()
    };
    let all = render(&info, View::All);
    assert!(all.starts_with("uprof: 2.00s traced, tier full"), "{all}");
    assert!(all.contains("lost events: 0"), "{all}");
    let thread_row = all
        .lines()
        .find(|l| l.contains(" loop "))
        .expect("a row for thread 91");
    assert!(
        thread_row.contains("2.50ms"),
        "blocked time in human units: {thread_row}"
    );
    assert!(all.contains("epoll pid 90 epfd 3"), "{all}");

    let lossy = SessionInfo {
        lost_events: 42,
        ..info
    };
    let threads_only = render(&lossy, View::Threads);
    assert!(
        threads_only.contains("WARNING: 42 EVENTS LOST"),
        "{threads_only}"
    );
    assert!(!threads_only.contains("epoll pid"), "{threads_only}");
    let fds_only = render(&lossy, View::Fds);
    assert!(!fds_only.contains("THREADS"), "{fds_only}");
}

/// A server loop: a listening socket (fd 4) accepting `connections` short connections, each
/// read once and closed, plus `helpers` idle threads that each wait once.
fn busy_server(connections: u64, helpers: u32) -> Vec<Record> {
    let t = Task::new(70, 70);
    let mut records = vec![
        t.task_info(0, "server"),
        t.epoll_create(0, 3),
        t.fd_info(1, 4, FdKind::Listener),
        t.epoll_ctl(1, 3, EPOLL_CTL_ADD, 4, 4, 0),
    ];
    for i in 0..connections {
        let (fd, ts) = (5 + (i % 500) as i32, 10 + i * 100);
        records.push(t.epoll_wait(ts, ts + 10, 3, 1));
        records.extend(t.events(ts + 10, &[(EPOLLIN, 4)]));
        records.push(t.fd_info(ts + 20, fd, FdKind::Socket));
        records.push(t.epoll_ctl(ts + 20, 3, EPOLL_CTL_ADD, fd, 10_000 + i, 0));
        records.push(t.epoll_wait(ts + 30, ts + 40, 3, 1));
        records.extend(t.events(ts + 40, &[(EPOLLIN, 10_000 + i)]));
        records.push(t.close(ts + 50, fd, 0));
    }
    for h in 0..helpers {
        records.push(Task::new(70, 1_000 + h).epoll_wait(1, 2, 10 + h as i32, 0));
    }
    records
}

#[test]
fn the_table_of_a_busy_server_shows_the_busiest_rows_and_adds_up_the_rest() {
    let report = analyze(busy_server(20_000, 100));
    let render = |all| {
        let mut out = Vec::new();
        report
            .render_text(
                &mut out,
                TextOptions {
                    view: View::All,
                    all,
                },
            )
            .unwrap();
        String::from_utf8(out).unwrap()
    };
    let text = render(false);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() <= 100, "{} lines:\n{text}", lines.len());
    // The listening socket is the first fd row of the server's instance.
    let instance = lines
        .iter()
        .position(|l| l.starts_with("epoll pid 70 epfd 3 (server)"))
        .expect("the server's instance");
    assert!(
        lines[instance + 2].trim_start().starts_with("4 "),
        "{}",
        lines[instance + 2]
    );
    assert!(text.contains("… 20000 more fds"), "{text}");
    let closed = lines
        .iter()
        .find(|l| l.contains("closed"))
        .expect("the closed sockets added up");
    assert!(closed.trim_start().starts_with("20000  socket"), "{closed}");
    assert!(
        text.contains("… 71 more threads made 71 wait calls"),
        "{text}"
    );
    assert!(text.contains("… 91 more epoll instances"), "{text}");
    // --all lists every fd and thread.
    let all = render(true);
    assert!(
        all.lines().count() > 20_000 + 101,
        "{}",
        all.lines().count()
    );
}

/// A server with few, long and busy connections (redis under redis-benchmark): its listening
/// socket delivered far less than any of them, yet it is the row a reader looks for.
#[test]
fn a_listening_socket_has_its_own_row_however_little_it_delivered() {
    let t = Task::new(80, 80);
    let mut records = vec![
        t.task_info(0, "redis-server"),
        t.epoll_create(0, 3),
        t.fd_info(1, 4, FdKind::Listener),
        t.epoll_ctl(1, 3, EPOLL_CTL_ADD, 4, 4, 0),
    ];
    let mut ts = 10;
    for c in 0..50 {
        let fd = 5 + c;
        records.push(t.epoll_wait(ts, ts + 10, 3, 1));
        records.extend(t.events(ts + 10, &[(EPOLLIN, 4)]));
        records.push(t.fd_info(ts + 20, fd, FdKind::Socket));
        records.push(t.epoll_ctl(ts + 20, 3, EPOLL_CTL_ADD, fd, fd as u64, 0));
        ts += 100;
    }
    for _ in 0..200 {
        for c in 0..50 {
            records.push(t.epoll_wait(ts, ts + 10, 3, 1));
            records.extend(t.events(ts + 10, &[(EPOLLIN, 5 + c)]));
            ts += 100;
        }
    }
    let report = analyze(records);
    let mut out = Vec::new();
    report
        .render_text(
            &mut out,
            TextOptions {
                view: View::Fds,
                all: false,
            },
        )
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("… 38 more fds"), "{text}");
    let listener = text
        .lines()
        .find(|l| l.contains("listener"))
        .unwrap_or_else(|| panic!("no listener row:\n{text}"));
    assert!(listener.trim_start().starts_with("4 "), "{listener}");
}

#[test]
fn names_follow_the_latest_comm_record_and_reused_tids_start_over() {
    let first = Task::new(300, 301);
    let reused = Task::new(400, 301);
    let report = analyze(vec![
        first.task_info(0, "old-name"),
        first.epoll_wait(1, 2, 3, 1),
        first.exit(3, "renamed"),
        // The kernel hands tid 301 to a thread of another process.
        reused.task_info(4, "newcomer"),
        reused.epoll_wait(5, 6, 3, 0),
        reused.epoll_wait(7, 8, 3, 0),
    ]);
    let threads: Vec<_> = report
        .threads
        .iter()
        .map(|t| (t.pid, t.tid, t.comm.as_deref(), t.waits.calls))
        .collect();
    assert_eq!(
        threads,
        vec![
            (300, 301, Some("renamed"), 1),
            (400, 301, Some("newcomer"), 2)
        ]
    );
}

#[test]
fn a_fork_child_seen_before_its_fork_record_still_inherits() {
    let parent = Task::new(500, 500);
    let child = Task::new(600, 600);
    // The child's first record is older than the parent's fork record: ordered first.
    let mut records = vec![
        parent.epoll_ctl(0, 3, EPOLL_CTL_ADD, 5, 55, 0),
        child.task_info(10, "child"),
        parent.fork(20, 600, "parent"),
        child.epoll_wait(30, 40, 3, 1),
    ];
    records.extend(child.events(40, &[(EPOLLIN, 55)]));
    let report = analyze(records);
    assert_eq!(thread(&report, 600).comm.as_deref(), Some("child"));
    let fds: Vec<_> = epoll(&report, 600, 3)
        .fds
        .iter()
        .map(|f| (f.fd, f.delivered))
        .collect();
    assert_eq!(fds, vec![(5, 1)]);
}

/// Wake-up probes attached, in `tier`.
fn wake_info(tier: &str) -> SessionInfo {
    SessionInfo {
        tier: tier.into(),
        probes: vec!["tp_btf:sched_waking".into()],
        ..SessionInfo::default()
    }
}

#[test]
fn one_socket_readiness_waking_three_waiters_is_a_herd() {
    // Three processes wait on their own epoll instance (epfd 3), each holding socket 77 as fd
    // 5; a sender's data wakes all three. Two take an event; the third finds none, sleeps
    // again and times out later.
    let [a, b, c] = [Task::new(10, 10), Task::new(20, 20), Task::new(30, 30)];
    let sender = Task::new(40, 41);
    let mut records = Vec::new();
    for w in [a, b, c] {
        records.push(w.socket(0, 5, 77));
        records.push(w.epoll_ctl(1, 3, EPOLL_CTL_ADD, 5, 5, 0));
    }
    records.push(sender.sock_ready(1_000, 77));
    for (i, w) in [a, b, c].into_iter().enumerate() {
        records.push(w.wake(1_100 + i as u64, 10, 3, sender));
    }
    for w in [a, b] {
        records.push(w.woken_epoll_wait(10, 2_000, 3, 1, 400));
        records.extend(w.events(2_000, &[(EPOLLIN, 5)]));
    }
    // c's timer wakes it: an interrupt on an idle CPU (waker 0), no readiness.
    records.push(c.wake(9_000, 10, 3, Task::new(0, 0)));
    records.push(c.woken_epoll_wait(10, 9_500, 3, 0, 500));
    // An unrelated wake-up of a's next wait by a task that reported no readiness.
    records.push(a.wake(10_000, 3_000, 3, Task::new(50, 51)));
    records.push(a.woken_epoll_wait(3_000, 10_100, 3, 1, 100));
    records.extend(a.events(10_100, &[(EPOLLIN, 5)]));

    let report = analyze_with(records, &wake_info("socket"));
    let herds = report.herds.unwrap();
    assert_eq!((herds.events, herds.waiters_woken), (1, 3));
    let wakeups = |tid| thread(&report, tid).wakeups.clone().unwrap();
    let (wa, wb, wc) = (wakeups(10), wakeups(20), wakeups(30));
    assert_eq!(
        (
            wa.slept,
            wa.by_cause.readiness,
            wa.attributed,
            wa.herd,
            wa.spurious
        ),
        (2, 2, 1, 1, 0)
    );
    assert_eq!(
        (wb.slept, wb.by_cause.readiness, wb.attributed, wb.herd),
        (1, 1, 1, 1)
    );
    assert_eq!(
        (wc.slept, wc.by_cause.timeout, wc.spurious, wc.herd),
        (1, 1, 1, 1)
    );
    assert_eq!((wa.wake_to_run_ns.count, wa.wake_to_run_ns.max), (2, 400));
    // Each instance's fd 5 became ready once and woke its waiter once; c's readiness is still
    // pending (c never took it).
    for (pid, pending) in [(10, 0), (20, 0), (30, 1)] {
        let r = fd_entries(epoll(&report, pid, 3), 5)[0]
            .readiness
            .clone()
            .unwrap();
        assert_eq!((r.ready, r.woke, r.pending), (1, 1, pending), "pid {pid}");
        assert!(r.approximate);
    }
}

#[test]
fn callbacks_of_one_wakeup_share_an_origin_and_a_second_wakeup_starts_another() {
    // Two threads of one process wait on instances 3 and 4, both watching fd 5 (file tag 9).
    let owner = 10;
    let [x, y] = [Task::new(owner, 11), Task::new(owner, 12)];
    let waker = Task::new(20, 21);
    let records = vec![
        x.epoll_ctl(0, 3, EPOLL_CTL_ADD, 5, 5, 0),
        y.epoll_ctl(0, 4, EPOLL_CTL_ADD, 5, 5, 0),
        // First wake-up reaches both instances and wakes both threads: a herd.
        waker.ready(100, owner, 3, 5, 9),
        x.wake(101, 50, 3, waker),
        waker.ready(102, owner, 4, 5, 9),
        y.wake(103, 50, 4, waker),
        x.woken_epoll_wait(50, 200, 3, 0, 10),
        y.woken_epoll_wait(50, 200, 4, 0, 10),
        // Second wake-up of the same file by the same task, on instance 3 again: a new
        // readiness event, waking one thread only.
        waker.ready(300, owner, 3, 5, 9),
        x.wake(301, 250, 3, waker),
        x.woken_epoll_wait(250, 400, 3, 0, 10),
    ];
    let report = analyze_with(records, &wake_info("callback"));
    let herds = report.herds.unwrap();
    assert_eq!((herds.events, herds.waiters_woken), (1, 2));
    let x = thread(&report, 11).wakeups.clone().unwrap();
    assert_eq!((x.slept, x.attributed, x.herd), (2, 0, 1));
    let fd = fd_entries(epoll(&report, owner, 3), 5)[0]
        .readiness
        .clone()
        .unwrap();
    assert_eq!((fd.ready, fd.woke), (2, 2));
    assert!(!fd.approximate);
}

#[test]
fn without_wakeup_probes_there_are_no_wakeup_figures() {
    let t = Task::new(1, 1);
    let report = analyze_with(vec![t.epoll_wait(0, 10, 3, 0)], &SessionInfo::default());
    assert!(report.herds.is_none());
    assert!(thread(&report, 1).wakeups.is_none());
}

#[test]
fn callback_walks_end_at_an_exclusive_wakeup_and_after_a_gap() {
    // Two workers (processes 10 and 20), each with its own instance (epfd 3) holding the
    // listening socket (fd 5, file tag 9) with EPOLLEXCLUSIVE. One softirq task accepts two
    // connections 20 µs apart: the first wakes worker a (the kernel stops there); the second
    // finds a busy and wakes b. Two readiness events, no herd.
    let [a, b] = [Task::new(10, 10), Task::new(20, 20)];
    let softirq = Task::new(30, 31);
    let exclusive = |t: Task| match t.epoll_ctl(0, 3, EPOLL_CTL_ADD, 5, 5, 0) {
        Record::EpollCtl(mut c) => {
            c.events |= EPOLLEXCLUSIVE;
            Record::EpollCtl(c)
        }
        _ => unreachable!("epoll_ctl builds an EpollCtl record"),
    };
    let mut records = vec![
        exclusive(a),
        exclusive(b),
        softirq.ready(100_000, 10, 3, 5, 9),
        a.wake(100_100, 50_000, 3, softirq),
        softirq.ready(120_000, 20, 3, 5, 9),
        b.wake(120_100, 50_000, 3, softirq),
        a.woken_epoll_wait(50_000, 130_000, 3, 1, 10),
        b.woken_epoll_wait(50_000, 130_000, 3, 1, 10),
    ];
    records.extend(a.events(130_000, &[(EPOLLIN, 5)]));
    records.extend(b.events(130_000, &[(EPOLLIN, 5)]));
    let report = analyze_with(records, &wake_info("callback"));
    let herds = report.herds.unwrap();
    assert_eq!((herds.events, herds.waiters_woken), (0, 0));

    // Without EPOLLEXCLUSIVE, callbacks 2 ms apart belong to two wake-ups, not one walk.
    let [x, y] = [Task::new(40, 40), Task::new(50, 50)];
    let records = vec![
        x.epoll_ctl(0, 3, EPOLL_CTL_ADD, 5, 5, 0),
        y.epoll_ctl(0, 3, EPOLL_CTL_ADD, 5, 5, 0),
        softirq.ready(100_000, 40, 3, 5, 9),
        x.wake(100_100, 50_000, 3, softirq),
        softirq.ready(2_100_000, 50, 3, 5, 9),
        y.wake(2_100_100, 50_000, 3, softirq),
        x.woken_epoll_wait(50_000, 3_000_000, 3, 0, 10),
        y.woken_epoll_wait(50_000, 3_000_000, 3, 0, 10),
    ];
    let herds = analyze_with(records, &wake_info("callback")).herds.unwrap();
    assert_eq!((herds.events, herds.waiters_woken), (0, 0));
}
