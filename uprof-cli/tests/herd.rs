//! Thundering herds planted on purpose: `epoll-scenario herd` sends datagrams one at a time to a
//! socket three threads wait on, each through its own epoll instance, while all three sleep.
//! Without `EPOLLEXCLUSIVE` each datagram wakes all three (a herd); with it, exactly one. The
//! counts are exact in the socket tier (this host) and the callback tier (the stock kernels of
//! `cargo xtask vm-test`); a report without wake-up figures fails. The findings are checked
//! here too, herd-related ones only (`thundering-herd`, `spurious-wakeups`): these tests run in
//! the VMs, whose emulated CPU is slow enough to make long ticks the real loop does not have.
mod support;

use serde_json::Value;
use support::{assert_report_matches, evidence, findings_of, trace_scenario};

/// At least `herd-events` (10): the herds make a finding.
const ROUNDS: u64 = 12;

/// Records the scenario; returns what it did and uprof's report.
fn herd(scenario: &str) -> (Value, Value) {
    let (said, report) = trace_scenario(&[scenario, &ROUNDS.to_string()]);
    assert_report_matches(&said, &report);
    assert!(
        !report["herds"].is_null(),
        "no wake-up figures in the {} tier; probes: {:#}",
        report["tier"],
        report["probes"]
    );
    (said, report)
}

/// Sum of `key` over every listed value.
fn sum<'a>(values: impl Iterator<Item = &'a Value>, key: &str) -> u64 {
    values.map(|v| v[key].as_u64().unwrap()).sum()
}

/// Wake-ups credited to the shared socket's readiness, over every instance holding it.
fn socket_woke(said: &Value, report: &Value) -> u64 {
    let fd = said["herd"]["fd"].as_i64().unwrap();
    let entries = report["epolls"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["fds"].as_array().unwrap())
        .filter(|f| f["fd"].as_i64() == Some(fd));
    sum(entries.map(|f| &f["readiness"]), "woke")
}

fn thread_wakeups(report: &Value) -> impl Iterator<Item = &Value> {
    report["threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["wakeups"])
}

#[test]
fn each_datagram_wakes_every_waiter_without_epollexclusive() {
    if !support::may_load_ebpf() {
        return;
    }
    let (said, report) = herd("herd");
    let waiters = said["herd"]["waiters"].as_u64().unwrap();
    assert_eq!(said["herd"]["rounds"].as_u64(), Some(ROUNDS));
    assert_eq!(
        report["herds"],
        serde_json::json!({"events": ROUNDS, "waiters_woken": ROUNDS * waiters})
    );
    assert_eq!(sum(thread_wakeups(&report), "herd"), ROUNDS * waiters);
    assert_eq!(socket_woke(&said, &report), ROUNDS * waiters);
    // One waiter takes each datagram; the others find nothing and sleep again, or return the
    // event and read nothing: every wake-up either ended a wait or was spurious.
    let slept_or_spurious =
        sum(thread_wakeups(&report), "slept") + sum(thread_wakeups(&report), "spurious");
    // ...plus one wake-up per waiter by its own stop eventfd.
    assert_eq!(slept_or_spurious, ROUNDS * waiters + waiters);

    let herds = findings_of(&report, "thundering-herd");
    assert_eq!(herds.len(), 1, "{:#}", report["findings"]);
    let f = herds[0];
    assert_eq!(f["where"]["fd"], said["herd"]["fd"], "{f:#}");
    assert_eq!(f["tier"], report["tier"], "from the recording's wake-ups");
    let threads: Vec<&Value> = f["where"]["threads"].as_array().unwrap().iter().collect();
    assert_eq!(threads.len() as u64, waiters, "{f:#}");
    assert_eq!(evidence(f, "herds"), ROUNDS as f64);
    assert_eq!(evidence(f, "waiters_per_herd"), waiters as f64);
    // The woken waiters that found nothing are the herd's, not spurious wake-ups.
    assert!(
        findings_of(&report, "spurious-wakeups").is_empty(),
        "{:#}",
        report["findings"]
    );
}

#[test]
fn each_datagram_wakes_one_waiter_with_epollexclusive() {
    if !support::may_load_ebpf() {
        return;
    }
    let (said, report) = herd("herd-exclusive");
    assert_eq!(said["herd"]["exclusive"], true);
    assert_eq!(
        report["herds"],
        serde_json::json!({"events": 0, "waiters_woken": 0})
    );
    assert_eq!(sum(thread_wakeups(&report), "herd"), 0);
    assert_eq!(socket_woke(&said, &report), ROUNDS);
    assert_eq!(sum(thread_wakeups(&report), "spurious"), 0);
    for kind in ["thundering-herd", "spurious-wakeups"] {
        assert!(
            findings_of(&report, kind).is_empty(),
            "{:#}",
            report["findings"]
        );
    }
}

#[test]
fn no_wakeups_leaves_the_wakeup_figures_out() {
    if !support::may_load_ebpf() {
        return;
    }
    let _serial = support::serial();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("herd.uprof");
    support::run(
        support::uprof()
            .args(["record", "--no-wakeups", "-o"])
            .arg(&file)
            .arg("--")
            .arg(support::testprog("epoll-scenario"))
            .args(["herd", "2"]),
    );
    let report = support::report_json(&file);
    let probes = report["probes"].as_array().unwrap();
    assert!(
        !probes
            .iter()
            .any(|p| p.as_str().unwrap().starts_with("tp_btf:sched_")),
        "{probes:#?}"
    );
    assert!(report["herds"].is_null());
    assert!(thread_wakeups(&report).all(Value::is_null));
}
