//! Synthetic recordings, written as `uprof record -o` would, for tests of the outputs that
//! need no eBPF: records built with `uprof_analysis::synth`.
use std::path::Path;

use uprof_analysis::synth::Task;
use uprof_common::{
    EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLLIN, FdKind, ProbeKind, Record, Tier, WAIT_UNFINISHED,
    WaitSyscall,
};
use uprof_record::{ProbeInfo, SessionEnd, SessionHeader, Target, Writer};

pub const SERVER: u32 = 500;
pub const CHILD: u32 = 600;
pub const LISTEN: i32 = 5;
pub const PIPE: i32 = 7;

/// Records of a small server with every kind of event the trace shows: two threads, each on
/// its own epoll instance, a listening socket on both (a herd), a pipe that becomes ready and
/// leaves the interest list before delivery, closes, lost records, a forked child process
/// polling, a thread exit and a wait still blocked at the end.
pub fn server_records() -> Vec<Record> {
    let main = Task::new(SERVER, SERVER);
    let worker = Task::new(SERVER, SERVER + 1);
    let child = Task::new(CHILD, CHILD);
    let softirq = Task::new(0, 9);
    let us = 1_000;
    let mut r = vec![
        main.task_info(us, "srv"),
        worker.task_info(us, "srv-worker"),
        main.epoll_create(2 * us, 3),
        worker.epoll_create(2 * us, 4),
        main.epoll_ctl(3 * us, 3, EPOLL_CTL_ADD, LISTEN, LISTEN as u64, 0),
        main.fd_info(3 * us, LISTEN, FdKind::Listener),
        worker.epoll_ctl(3 * us, 4, EPOLL_CTL_ADD, LISTEN, LISTEN as u64, 0),
        main.epoll_ctl(4 * us, 3, EPOLL_CTL_ADD, PIPE, PIPE as u64, 0),
        main.fd_info(4 * us, PIPE, FdKind::Pipe),
        // A failed ADD: already registered.
        main.epoll_ctl(5 * us, 3, EPOLL_CTL_ADD, PIPE, PIPE as u64, -17),
    ];
    // Ten ticks of each thread: readiness, wake-up, the wait returns it.
    let tick = |t: Task, epfd: i32, fd: i32, enter: u64, r: &mut Vec<Record>| {
        r.push(softirq.ready(enter + 10 * us, SERVER, epfd, fd, fd as u32));
        r.push(t.wake(enter + 12 * us, enter, epfd, softirq));
        r.push(t.woken_epoll_wait(enter, enter + 20 * us, epfd, 1, 2_000));
        r.extend(t.events(enter + 20 * us, &[(EPOLLIN, fd as u64)]));
    };
    for k in 0..10 {
        let base = 100 * us + k * 50 * us;
        tick(main, 3, PIPE, base, &mut r);
        tick(worker, 4, LISTEN, base + us, &mut r);
    }
    // A herd: one connection on the listening socket wakes both threads.
    let herd = 700 * us;
    for epfd in [3, 4] {
        r.push(softirq.ready(herd + 10 * us, SERVER, epfd, LISTEN, LISTEN as u32));
    }
    for (t, epfd) in [(main, 3), (worker, 4)] {
        r.push(t.wake(herd + 11 * us, herd, epfd, softirq));
        r.push(t.woken_epoll_wait(herd, herd + 20 * us, epfd, 1, 1_000));
        r.extend(t.events(herd + 20 * us, &[(EPOLLIN, LISTEN as u64)]));
    }
    // The pipe becomes ready and leaves the interest list before anyone waits: never
    // delivered. Then the listening socket closes (both registrations end) and the worker's
    // next wait times out.
    r.push(softirq.ready(800 * us, SERVER, 3, PIPE, PIPE as u32));
    r.push(main.epoll_ctl(805 * us, 3, EPOLL_CTL_DEL, PIPE, 0, 0));
    r.push(main.close(810 * us, LISTEN, 0));
    r.push(worker.epoll_wait(820 * us, 830 * us, 4, 0));
    r.push(softirq.lost(840 * us, 3));
    // A forked child names itself and polls.
    r.push(main.fork(850 * us, CHILD, "srv"));
    r.push(child.task_info(860 * us, "child"));
    r.push(child.poll(870 * us, 880 * us, 2, 0));
    r.push(child.poll(890 * us, 900 * us, 2, 1));
    r.push(worker.exit(910 * us, "srv-worker"));
    // The main thread is still blocked when recording ends.
    let mut blocked = main.wait(WaitSyscall::EpollWait, 920 * us, 1_000 * us, 3, 64, 0);
    blocked.flags |= WAIT_UNFINISHED;
    r.push(Record::Wait(blocked));
    r.sort_by_key(|r| r.header().ts);
    r
}

/// A loop that gets busier: its thread (named `name`) ticks every 10 ms for 3 s, the work of each tick growing
/// from 0 to 9 ms; a second thread waits 100 ms at a time on its own instance.
pub fn busy_loop_records(name: &str) -> Vec<Record> {
    let main = Task::new(SERVER, SERVER);
    let timer = Task::new(SERVER, SERVER + 1);
    let ms = 1_000_000;
    let mut r = vec![
        main.task_info(1, name),
        timer.task_info(1, "timer"),
        main.epoll_create(2, 3),
        timer.epoll_create(2, 4),
        main.epoll_ctl(3, 3, EPOLL_CTL_ADD, 5, 5, 0),
        main.fd_info(3, 5, FdKind::Socket),
    ];
    for k in 0..300u64 {
        let enter = 10 * ms + k * 10 * ms;
        let busy = k * 9 * ms / 300;
        let exit = enter + 10 * ms - busy;
        r.push(main.epoll_wait(enter, exit, 3, 1));
        r.extend(main.events(exit, &[(EPOLLIN, 5)]));
    }
    for k in 0..30u64 {
        let enter = 10 * ms + k * 100 * ms;
        r.push(timer.epoll_wait(enter, enter + 100 * ms, 4, 0));
    }
    r.sort_by_key(|r| r.header().ts);
    r
}

/// Thresholds under which the busy loop's last second saturates it: a saturated-loop finding.
pub const SATURATED: [&str; 4] = [
    "--threshold",
    "saturated-utilization=0.5",
    "--threshold",
    "saturated-interval-ms=100",
];

/// Writes `records` (in time order) as a recording, as `uprof record -o` would: callback tier
/// with wake-ups, started at 0, ended at the last record or 1 ms, 3 records lost.
pub fn write_recording(path: &Path, records: &[Record]) {
    let header = SessionHeader {
        format_version: uprof_record::FORMAT_VERSION,
        uprof_version: "test".into(),
        kernel_release: "6.1.0-test".into(),
        hostname: "test".into(),
        // The report counts herds when wake-ups were traced.
        probes: vec![ProbeInfo {
            name: "tp_btf:sched_waking".into(),
            kind: ProbeKind::TpBtf,
            attached: true,
            note: None,
        }],
        tier: Tier::Callback,
        wakeups: true,
        clock: "CLOCK_MONOTONIC".into(),
        boot_offset_ns: 1_700_000_000_000_000_000,
        start_ts: 0,
        target: Target {
            command: None,
            pids: vec![SERVER],
        },
    };
    let mut writer = Writer::create(path, &header).unwrap();
    for record in records {
        writer.push(record.as_bytes()).unwrap();
    }
    writer
        .finish(&SessionEnd {
            end_ts: records.last().map_or(0, |r| r.header().ts).max(1_000_000),
            records: 0,
            lost_events: 3,
            reason: "test".into(),
        })
        .unwrap();
}
