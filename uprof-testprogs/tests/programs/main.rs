//! Runs the test programs and checks their reports: each well-formed and self-consistent, each
//! scenario doing what it promises, and every count equal to what strace saw.

mod demo;
mod scenarios;
mod strace;

use std::collections::HashSet;
use std::process::Command;

use uprof_testprogs::report::{ProcessReport, Syscall};

pub const SCENARIO_BIN: &str = env!("CARGO_BIN_EXE_epoll-scenario");
pub const DEMO_BIN: &str = env!("CARGO_BIN_EXE_uprof-demo");

/// Runs `epoll-scenario ARGS`, checks it succeeded and returns its report.
pub fn scenario(args: &[&str]) -> ProcessReport {
    let out = Command::new(SCENARIO_BIN)
        .args(args)
        .output()
        .expect("running epoll-scenario");
    assert!(
        out.status.success(),
        "epoll-scenario {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_report(&out.stdout)
}

/// Parses a program's stdout, which must be exactly one JSON line.
pub fn parse_report(stdout: &[u8]) -> ProcessReport {
    let text = std::str::from_utf8(stdout).expect("UTF-8 output");
    assert_eq!(
        text.lines().count(),
        1,
        "expected one line of JSON, got {text:?}"
    );
    serde_json::from_str(text).unwrap_or_else(|e| panic!("bad report {text:?}: {e}"))
}

/// Checks what holds of every report, in this process and its descendants.
pub fn assert_consistent(report: &ProcessReport) {
    let syscall_names: HashSet<&str> = Syscall::ALL.iter().map(|s| s.name()).collect();
    for p in report.processes() {
        assert!(!p.threads.is_empty(), "process {} reports no thread", p.pid);
        assert_eq!(p.threads[0].tid, p.pid, "the main thread comes first");
        let tids: HashSet<u32> = p.threads.iter().map(|t| t.tid).collect();
        assert_eq!(
            tids.len(),
            p.threads.len(),
            "a thread is reported twice: {p:?}"
        );

        for t in &p.threads {
            let returned = t.ready + t.timeouts + t.polls + t.interrupted + t.errors;
            assert_eq!(
                t.waits(),
                returned + t.unfinished,
                "every wait returned once or is unfinished: {t:?}"
            );
            assert!(t.events >= t.ready, "each ready return has an event: {t:?}");
            for (name, &n) in &t.calls {
                assert!(
                    syscall_names.contains(name.as_str()),
                    "unknown syscall {name}"
                );
                assert!(n > 0, "syscall {name} listed with no call");
            }
        }
        let calls = |s: Syscall| p.threads.iter().map(|t| t.calls_of(s)).sum::<u64>();
        assert_eq!(
            calls(Syscall::EpollCreate1),
            p.epolls.len() as u64,
            "one epoll per epoll_create1"
        );

        let entries = p.epolls.iter().flat_map(|e| &e.fds);
        let ctls: u64 = entries.clone().map(|f| f.add + f.modify + f.del).sum();
        assert_eq!(
            ctls,
            calls(Syscall::EpollCtl),
            "each epoll_ctl is counted on one fd entry"
        );
        assert!(
            entries
                .clone()
                .all(|f| f.ctl_errors <= f.add + f.modify + f.del)
        );
        assert!(p.epolls.iter().all(|e| e.pid == p.pid));

        let poll_family: u64 = [
            Syscall::Poll,
            Syscall::Ppoll,
            Syscall::Select,
            Syscall::Pselect6,
        ]
        .into_iter()
        .map(calls)
        .sum();
        let events: u64 = p.threads.iter().map(|t| t.events).sum();
        let delivered: u64 = entries.map(|f| f.delivered).sum();
        if poll_family == 0 {
            assert_eq!(
                delivered, events,
                "every returned event is delivered to one fd"
            );
            assert!(p.threads.iter().all(|t| t.fds_scanned == 0));
        } else {
            assert!(delivered <= events);
        }
    }
    let pids: HashSet<u32> = report.processes().iter().map(|p| p.pid).collect();
    assert_eq!(
        pids.len(),
        report.processes().len(),
        "each process reported once"
    );
}
