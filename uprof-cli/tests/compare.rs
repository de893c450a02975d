//! `uprof compare` over two recordings of programs with known epoll behaviour: its figures
//! equal the ones the programs count themselves.
mod support;

use std::path::Path;

use serde_json::Value;
use support::{WAIT_SYSCALLS, record_scenario, report_json, run, uprof};

/// Pipes registered on the epoll instance, and waits (each made ready by one byte).
const PIPES: u64 = 10;
const WAITS: u64 = 50;

/// Records `epoll-scenario <args>` into `dir/<stem>.uprof`; returns what the scenario says it
/// did (its single process).
fn record(dir: &Path, stem: &str, args: &[&str]) -> Value {
    record_scenario(&dir.join(format!("{stem}.uprof")), args)
}

/// The sum over the scenario's threads of `field`, or of `calls[field]` if `call` is set.
fn said_sum(said: &Value, field: &str, call: bool) -> u64 {
    said["threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let v = if call { &t["calls"][field] } else { &t[field] };
            v.as_u64().unwrap_or(0)
        })
        .sum()
}

fn compare(dir: &Path, args: &[&str]) -> Vec<u8> {
    run(uprof()
        .current_dir(dir)
        .args(["compare", "many-fds.uprof", "poll.uprof", "--requests"])
        .arg(format!("{WAITS},-"))
        .args(args))
    .stdout
}

#[test]
fn compare_gives_the_scenarios_own_figures() {
    if !support::may_load_ebpf() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (pipes, waits) = (PIPES.to_string(), WAITS.to_string());
    let many = record(
        dir.path(),
        "many-fds",
        &["many-fds", &pipes, "--waits", &waits],
    );
    let poll = record(dir.path(), "poll", &["poll"]);

    let json: Value = serde_json::from_slice(&compare(dir.path(), &["--format", "json"]))
        .expect("uprof compare --format json prints JSON");
    assert_eq!(json["schema"], "uprof.compare/2");
    let [m, p] = json["recordings"].as_array().unwrap().as_slice() else {
        panic!("two recordings expected: {json:#}");
    };
    assert_eq!(
        (&m["name"], &p["name"]),
        (&"many-fds".into(), &"poll".into())
    );
    for (said, ours) in [(&many, m), (&poll, p)] {
        assert_eq!(ours["lost_events"], 0);
        let (ready, events) = (
            said_sum(said, "ready", false),
            said_sum(said, "events", false),
        );
        assert_eq!(ours["wakeups"]["total"], ready, "{ours:#}");
        assert_eq!(ours["events"], events);
        assert_eq!(ours["events_per_wakeup"], events as f64 / ready as f64);
        assert_eq!(
            ours["epoll_ctl"]["total"],
            said_sum(said, "epoll_ctl", true)
        );
        let mut said_waits = 0;
        for syscall in WAIT_SYSCALLS {
            let calls = said_sum(said, syscall, true);
            let seen = ours["by_syscall"][syscall].as_u64().unwrap_or(0);
            assert_eq!(seen, calls, "{syscall} calls");
            said_waits += calls;
        }
        assert_eq!(ours["wait_calls"]["total"], said_waits);
    }
    // Every many-fds wait finds one ready pipe: one wakeup per request (a byte written).
    assert_eq!(m["wakeups"]["per_request"], WAITS as f64 / WAITS as f64);
    assert_eq!(m["epoll_ctl"]["per_request"], PIPES as f64 / WAITS as f64);
    assert_eq!(m["fds_scanned_per_wakeup"], Value::Null);
    assert_eq!(p["wakeups"]["per_request"], Value::Null);
    // The poll scenario's loop thread is its only waiting thread: its report gives the scan.
    let report = report_json(&dir.path().join("poll.uprof"));
    let thread = &report["threads"][0];
    assert_eq!(p["loop_thread"]["tid"], thread["tid"]);
    assert_eq!(
        p["fds_scanned_per_wakeup"],
        thread["waits"]["fds_scanned"]["per_wakeup"]
    );
    assert_eq!(p["blocked_ns"]["p99"], thread["waits"]["blocked_ns"]["p99"]);

    let table = String::from_utf8(compare(dir.path(), &[])).unwrap();
    let row = table
        .lines()
        .find(|l| l.trim_start().starts_with("wakeups / request"))
        .unwrap_or_else(|| panic!("no wakeups / request row:\n{table}"));
    let cells: Vec<&str> = row.split_whitespace().skip(3).collect();
    let per_request = format!("{:.2}", WAITS as f64 / WAITS as f64);
    assert_eq!(cells, [per_request.as_str(), "-"], "{table}");
}
