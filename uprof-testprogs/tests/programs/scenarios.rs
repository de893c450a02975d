//! Each scenario does what its description promises, and reports it consistently.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use uprof_testprogs::report::{FdKind, ProcessReport, Syscall, ThreadReport};
use uprof_testprogs::scenarios;

use crate::{SCENARIO_BIN, assert_consistent, parse_report, scenario};

/// The calls map a thread should report, from `(syscall, count)` pairs.
fn calls(pairs: &[(Syscall, u64)]) -> BTreeMap<String, u64> {
    pairs
        .iter()
        .map(|&(s, n)| (s.name().to_owned(), n))
        .collect()
}

/// The wait outcomes of a thread: (ready, timeouts, interrupted, errors, events, unfinished).
fn outcomes(t: &ThreadReport) -> (u64, u64, u64, u64, u64, u64) {
    (
        t.ready,
        t.timeouts,
        t.interrupted,
        t.errors,
        t.events,
        t.unfinished,
    )
}

fn only_thread(report: &ProcessReport) -> &ThreadReport {
    assert_eq!(report.threads.len(), 1, "{report:?}");
    &report.threads[0]
}

#[test]
fn list_names_every_scenario() {
    let out = Command::new(SCENARIO_BIN).arg("--list").output().unwrap();
    assert!(out.status.success());
    let listed: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let known: Vec<&str> = scenarios::ALL.iter().map(|s| s.name).collect();
    assert_eq!(listed, known);
}

#[test]
fn every_listed_scenario_is_consistent() {
    for s in scenarios::ALL {
        let report = scenario(&[s.name]);
        assert_eq!(report.scenario, s.name);
        assert_eq!(report.pid, report.threads[0].tid);
        assert_consistent(&report);
    }
}

#[test]
fn unknown_scenario_and_stray_count_are_refused() {
    for args in [
        &["no-such-scenario"][..],
        &["ready", "3"],
        &["timeouts", "--waits", "2"],
    ] {
        let out = Command::new(SCENARIO_BIN).args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(out.stdout.is_empty(), "{args:?} printed a report");
    }
}

#[test]
fn timeouts_makes_count_timed_out_waits() {
    let count = 7;
    let report = scenario(&["timeouts", &count.to_string()]);
    let t = only_thread(&report);
    let expected = [
        (Syscall::EpollCreate1, 1),
        (Syscall::EpollWait, count),
        (Syscall::Close, 1),
    ];
    assert_eq!(t.calls, calls(&expected));
    assert_eq!(outcomes(t), (0, count, 0, 0, 0, 0));
    assert_eq!(report.epolls.len(), 1);
    assert!(report.epolls[0].fds.is_empty());
}

#[test]
fn ready_delivers_the_designed_events() {
    let report = scenario(&["ready"]);
    let t = only_thread(&report);
    // Returns of 1, 2 and 3 events, the undrained pipe twice, 2 timeouts, the eventfd for
    // output, 1 timeout.
    assert_eq!(outcomes(t), (6, 3, 0, 0, 1 + 2 + 3 + 1 + 1 + 1, 0));
    let fds = &report.epolls[0].fds;
    let by_kind: Vec<(FdKind, u64, u64, u64, u64)> = fds
        .iter()
        .map(|f| (f.kind, f.delivered, f.add, f.modify, f.del))
        .collect();
    assert_eq!(
        by_kind,
        [
            (FdKind::Pipe, 1 + 1 + 2, 1, 0, 1),
            (FdKind::Socket, 1 + 1, 1, 0, 1),
            (FdKind::EventFd, 1 + 1 + 1, 1, 2, 1)
        ]
    );
}

#[test]
fn syscalls_waits_equally_through_each_epoll_wait() {
    let report = scenario(&["syscalls"]);
    let t = only_thread(&report);
    let per_call = 3 + 2;
    for s in [
        Syscall::EpollWait,
        Syscall::EpollPwait,
        Syscall::EpollPwait2,
    ] {
        assert_eq!(t.calls_of(s), per_call, "{s:?}");
    }
    if report.notes.is_empty() {
        assert_eq!(outcomes(t), (9, 6, 0, 0, 9, 0));
    } else {
        // A kernel without epoll_pwait2: its five calls failed.
        assert_eq!(outcomes(t), (6, 4, 0, 5, 6, 0));
    }
}

#[test]
fn eintr_interrupts_the_waiter_count_times() {
    let signals = 3;
    let report = scenario(&["eintr", &signals.to_string()]);
    assert_eq!(report.threads.len(), 2);
    let waiter = &report.threads[1];
    assert_eq!(waiter.calls_of(Syscall::EpollWait), signals + 1);
    assert_eq!(outcomes(waiter), (1, 0, signals, 0, 1, 0));
    assert_eq!(report.threads[0].waits(), 0, "the main thread only signals");
}

#[test]
fn fd_reuse_reports_two_entries_for_one_number() {
    let report = scenario(&["fd-reuse"]);
    let fds = &report.epolls[0].fds;
    assert_eq!(fds.len(), 3, "{fds:?}");
    let (first, second, write_end) = (&fds[0], &fds[1], &fds[2]);
    assert_eq!(first.fd, second.fd);
    assert_eq!(
        (first.delivered, first.add, first.del, first.ctl_errors),
        (2, 1, 0, 0)
    );
    // The second ADD failed with EEXIST.
    assert_eq!(
        (second.delivered, second.add, second.del, second.ctl_errors),
        (3, 2, 1, 1)
    );
    // The DEL of the never-added write end failed with ENOENT.
    assert_ne!(write_end.fd, first.fd);
    assert_eq!(
        (
            write_end.delivered,
            write_end.add,
            write_end.del,
            write_end.ctl_errors
        ),
        (0, 0, 1, 1)
    );
}

#[test]
fn fd_reuse_race_gives_each_round_the_closed_number() {
    let rounds = 9;
    let report = scenario(&["fd-reuse-race", &rounds.to_string()]);
    assert_eq!(report.threads.len(), 2);
    assert_eq!(report.threads[1].comm, "reuser");
    let race = report.race.expect("the scenario reports its rounds");
    assert_eq!(race.rounds, rounds);
    assert!(race.overlapped <= rounds);
    // The main instance, then one instance per round that took the number for an epoll fd.
    assert_eq!(report.epolls.len() as u64, 1 + rounds / 3);
    let fds = &report.epolls[0].fds;
    assert_eq!(fds.len() as u64, rounds);
    for f in fds {
        assert_eq!(
            (f.delivered, f.add, f.modify, f.del, f.ctl_errors),
            (1, 1, 0, 1, 0)
        );
    }
    let kinds = |kind| fds.iter().filter(|f| f.kind == kind).count() as u64;
    for kind in [FdKind::EventFd, FdKind::Socket, FdKind::Epoll] {
        assert_eq!(kinds(kind), rounds / 3, "{kind:?}");
    }
    // The rounds share a few numbers, each closed and taken again.
    let numbers: std::collections::HashSet<i32> = fds.iter().map(|f| f.fd).collect();
    assert!(numbers.len() < fds.len(), "{numbers:?}");
}

#[test]
fn threads_reports_a_named_worker() {
    let report = scenario(&["threads"]);
    assert_eq!(report.threads.len(), 2);
    let (main, worker) = (&report.threads[0], &report.threads[1]);
    assert_eq!(worker.comm, "worker-1");
    assert_eq!(outcomes(main), (2, 3, 0, 0, 2, 0));
    assert_eq!(outcomes(worker), (3, 2, 0, 0, 3, 0));
    assert_eq!(report.epolls.len(), 2);
}

#[test]
fn child_report_nests_the_forked_process() {
    let report = scenario(&["child"]);
    assert_eq!(report.children.len(), 1);
    let child = &report.children[0];
    assert_ne!(child.pid, report.pid);
    assert_eq!(outcomes(only_thread(child)), (3, 2, 0, 0, 3, 0));
    assert_eq!(outcomes(only_thread(&report)), (1, 2, 0, 0, 1, 0));
    assert!(child.children.is_empty());
}

#[test]
fn exit_mid_wait_leaves_one_wait_unfinished() {
    let report = scenario(&["exit-mid-wait"]);
    assert_eq!(report.threads.len(), 2);
    let (main, blocked) = (&report.threads[0], &report.threads[1]);
    assert_eq!(outcomes(main), (0, 3, 0, 0, 0, 0));
    assert_eq!(
        blocked.calls,
        calls(&[(Syscall::EpollCreate1, 1), (Syscall::EpollWait, 1)])
    );
    assert_eq!(outcomes(blocked), (0, 0, 0, 0, 0, 1));
}

#[test]
fn poll_uses_each_poll_family_call() {
    let report = scenario(&["poll"]);
    let t = only_thread(&report);
    for s in [
        Syscall::Poll,
        Syscall::Ppoll,
        Syscall::Select,
        Syscall::Pselect6,
    ] {
        assert_eq!(t.calls_of(s), 3, "{s:?}");
    }
    // Per call: two waits with 2 of 3 fds ready, one timeout.
    assert_eq!(outcomes(t), (8, 4, 0, 0, 16, 0));
    assert!(report.epolls.is_empty());
    // poll and ppoll pass 3 + 3 + 1 entries; select's nfds depend on the fd numbers (strace
    // checks them exactly).
    assert!(t.fds_scanned > 2 * 7, "{t:?}");
}

#[test]
fn many_fds_registers_count_pipes_and_waits_as_told() {
    let (pipes, waits) = (50u64, 120u64);
    let report = scenario(&[
        "many-fds",
        &pipes.to_string(),
        "--waits",
        &waits.to_string(),
    ]);
    let t = only_thread(&report);
    assert_eq!(t.calls_of(Syscall::EpollCtl), pipes);
    assert_eq!(outcomes(t), (waits, 0, 0, 0, waits, 0));
    let fds = &report.epolls[0].fds;
    assert_eq!(fds.len() as u64, pipes);
    // Pipes are poked in turn: the first `waits % pipes` get one more event.
    for (i, f) in fds.iter().enumerate() {
        let expected = waits / pipes + u64::from((i as u64) < waits % pipes);
        assert_eq!(f.delivered, expected, "pipe {i}");
    }
}

#[test]
fn trigger_signal_waits_for_sigusr2() {
    let mut child = Command::new(SCENARIO_BIN)
        .args(["timeouts", "4", "--trigger-signal"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, format!("ready {pid}\n"));
    // SAFETY: signalling the child we started and have not reaped.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGUSR2) }, 0);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let report = parse_report(&out.stdout);
    assert_eq!(report.pid, pid);
    assert_eq!(outcomes(only_thread(&report)), (0, 4, 0, 0, 0, 0));
}
