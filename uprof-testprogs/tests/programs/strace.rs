//! strace as an independent witness: run each scenario under `strace -ff` (one trace file per
//! thread, so no line is split) and check that every thread's counted calls, wait outcomes,
//! scanned fds and per-fd deliveries equal what strace saw.
//!
//! `close` is left out: the dynamic loader closes a few fds before `main`, which the programs
//! cannot count.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use uprof_testprogs::report::{ProcessReport, Syscall};

use crate::{SCENARIO_BIN, assert_consistent, parse_report};

/// What one thread did, as counted from a report or from a trace.
#[derive(Debug, Default, PartialEq, Eq)]
struct Seen {
    calls: BTreeMap<String, u64>,
    ready: u64,
    timeouts: u64,
    interrupted: u64,
    errors: u64,
    events: u64,
    unfinished: u64,
    fds_scanned: u64,
}

fn traced_syscalls() -> Vec<Syscall> {
    Syscall::ALL
        .into_iter()
        .filter(|&s| s != Syscall::Close)
        .collect()
}

/// Counts one thread's trace file.
fn read_trace(text: &str) -> (Seen, BTreeMap<i32, u64>) {
    let mut seen = Seen::default();
    let mut delivered = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with("+++") && !l.starts_with("---"))
    {
        let (name, args) = line
            .split_once('(')
            .unwrap_or_else(|| panic!("odd trace line {line:?}"));
        let syscall = *Syscall::ALL
            .iter()
            .find(|s| s.name() == name)
            .unwrap_or_else(|| panic!("untraced {name}"));
        *seen.calls.entry(name.to_owned()).or_default() += 1;
        if !syscall.is_wait() {
            continue;
        }
        seen.fds_scanned += match syscall {
            Syscall::Poll | Syscall::Ppoll => {
                leading_number(args.split_once("], ").expect("poll's nfds").1)
            }
            Syscall::Select | Syscall::Pselect6 => leading_number(args),
            _ => 0,
        };
        if line.contains("<unfinished ...>") {
            seen.unfinished += 1;
            continue;
        }
        let (call, ret) = line
            .rsplit_once(" = ")
            .unwrap_or_else(|| panic!("no return in {line:?}"));
        match ret.split_whitespace().next().unwrap() {
            "0" => seen.timeouts += 1,
            "-1" if ret.contains("EINTR") => seen.interrupted += 1,
            "-1" => seen.errors += 1,
            n => {
                seen.ready += 1;
                seen.events += n
                    .parse::<u64>()
                    .unwrap_or_else(|_| panic!("odd return in {line:?}"));
                for data in call.split("u64=").skip(1) {
                    *delivered.entry(leading_number(data) as i32).or_default() += 1;
                }
            }
        }
    }
    (seen, delivered)
}

fn leading_number(text: &str) -> u64 {
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number at {text:?}"))
}

/// Runs `epoll-scenario ARGS` under strace; returns its report and the trace text per tid.
fn traced_run(args: &[&str], dir: &Path) -> (ProcessReport, BTreeMap<u32, String>) {
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir).unwrap();
    let names: Vec<&str> = traced_syscalls().iter().map(|s| s.name()).collect();
    let out = Command::new("strace")
        .args(["-ff", "-qq", "-e", "signal=none", "-e"])
        .arg(format!("trace={}", names.join(",")))
        .arg("-o")
        .arg(dir.join("trace"))
        .arg(SCENARIO_BIN)
        .args(args)
        .output()
        .expect("running strace");
    assert!(
        out.status.success(),
        "strace {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let traces = fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let tid = path
                .extension()
                .and_then(|e| e.to_str())
                .and_then(|e| e.parse().ok())
                .expect("trace.TID");
            (tid, fs::read_to_string(&path).unwrap())
        })
        .collect();
    (parse_report(&out.stdout), traces)
}

/// The cross-check needs strace (`scripts/setup.sh` installs it): without it the test fails
/// rather than passing unchecked.
fn assert_strace_runs() {
    let works = Command::new("strace")
        .args(["-qq", "-e", "trace=none", "true"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        works,
        "strace is missing or cannot trace here (run scripts/setup.sh as root)"
    );
}

#[test]
fn counts_equal_what_strace_saw() {
    assert_strace_runs();
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join("strace");
    let runs: &[&[&str]] = &[
        &["timeouts", "5"],
        &["ready"],
        &["syscalls"],
        &["eintr", "3"],
        &["fd-reuse"],
        &["fd-reuse-race", "6"],
        &["threads"],
        &["child"],
        &["exit-mid-wait"],
        &["poll"],
        &["many-fds", "20", "--waits", "30"],
    ];
    let traced = traced_syscalls();
    for args in runs {
        let (report, traces) = traced_run(args, &tmp.join(args[0]));
        assert_consistent(&report);
        let mut reported_tids = Vec::new();
        for p in report.processes() {
            let mut delivered_by_trace: BTreeMap<i32, u64> = BTreeMap::new();
            for t in &p.threads {
                reported_tids.push(t.tid);
                let text = traces
                    .get(&t.tid)
                    .unwrap_or_else(|| panic!("{args:?}: no trace of thread {}", t.tid));
                let (seen, delivered) = read_trace(text);
                let reported = Seen {
                    calls: traced
                        .iter()
                        .filter(|&&s| t.calls_of(s) > 0)
                        .map(|s| (s.name().to_owned(), t.calls_of(*s)))
                        .collect(),
                    ready: t.ready,
                    timeouts: t.timeouts,
                    interrupted: t.interrupted,
                    errors: t.errors,
                    events: t.events,
                    unfinished: t.unfinished,
                    fds_scanned: t.fds_scanned,
                };
                assert_eq!(reported, seen, "{args:?}: thread {}", t.tid);
                for (fd, n) in delivered {
                    *delivered_by_trace.entry(fd).or_default() += n;
                }
            }
            let mut delivered_by_report: BTreeMap<i32, u64> = BTreeMap::new();
            for f in p
                .epolls
                .iter()
                .flat_map(|e| &e.fds)
                .filter(|f| f.delivered > 0)
            {
                *delivered_by_report.entry(f.fd).or_default() += f.delivered;
            }
            assert_eq!(
                delivered_by_report, delivered_by_trace,
                "{args:?}: events per fd of process {}",
                p.pid
            );
        }
        // Threads the report leaves out made no traced call.
        for (tid, text) in &traces {
            if !reported_tids.contains(tid) {
                assert_eq!(
                    read_trace(text).0,
                    Seen::default(),
                    "{args:?}: unreported thread {tid}"
                );
            }
        }
    }
}
