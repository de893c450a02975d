//! Findings on planted programs: each `epoll-scenario anti-*` (and the older scenarios that
//! plant one anti-pattern: `timeouts`, `planted-latency`) makes exactly one anti-pattern
//! with known parameters; uprof must name it, at the right thread and fd, with the evidence the
//! scenario knows, and find nothing else. A healthy loop (the demo) has no findings, and
//! `uprof check` exits by the most severe one. The herd's finding is tested in `herd.rs`,
//! which also runs in the stock-kernel VMs (exact wake-ups).
mod support;

use serde_json::Value;
use support::{evidence, record_scenario, report_json, run, trace_scenario, uprof};

/// The report's findings as `(kind, finding)`.
fn findings(report: &Value) -> Vec<(&str, &Value)> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| (f["kind"].as_str().unwrap(), f))
        .collect()
}

/// The one finding of `report`, which must be of `kind`.
fn only<'a>(report: &'a Value, kind: &str) -> &'a Value {
    let found = findings(report);
    let kinds: Vec<&str> = found.iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds, [kind], "findings: {:#}", report["findings"]);
    found[0].1
}

/// Runs an `anti-*` scenario and checks the finding it planted: kind, thread, fd and the
/// figure within `tolerance` (absolute).
fn planted(scenario: &str, tolerance: f64) {
    if !support::may_load_ebpf() {
        return;
    }
    let (said, report) = trace_scenario(&[scenario]);
    let plant = &said["anti_pattern"];
    let f = only(&report, plant["finding"].as_str().unwrap());
    assert_eq!(f["where"]["tid"], plant["tid"], "{f:#}");
    if !plant["fd"].is_null() {
        assert_eq!(f["where"]["fd"], plant["fd"], "{f:#}");
    }
    let want = plant["value"].as_f64().unwrap();
    let got = evidence(f, plant["figure"].as_str().unwrap());
    assert!(
        (got - want).abs() <= tolerance,
        "{}: {got}, planted {want}",
        plant["figure"]
    );
    assert_eq!(f["tier"], "syscall", "needs only the syscall hooks");
}

#[test]
fn ctl_churn_is_found_at_its_fd() {
    planted("anti-ctl-churn", 0.0);
}

#[test]
fn busy_poll_is_found() {
    planted("anti-busy-poll", 0.0);
}

#[test]
fn maxevents_saturated_is_found() {
    planted("anti-maxevents", 0.0);
}

#[test]
fn a_hung_up_fd_left_registered_is_stale_interest() {
    planted("anti-hangup", 0.0);
}

#[test]
fn fds_registered_and_closed_without_an_event_are_stale_interest() {
    planted("anti-leak", 0.0);
}

#[test]
fn poll_over_many_fds_is_a_linear_scan() {
    planted("anti-linear-scan", 0.0);
}

#[test]
fn a_loop_busy_for_seconds_is_saturated() {
    // Intervals are aligned on the clock, not on the scenario's start: one may be cut.
    planted("anti-saturated", 1.0);
}

#[test]
fn short_timeouts_expiring_are_timer_wakeups() {
    if !support::may_load_ebpf() {
        return;
    }
    let (said, report) = trace_scenario(&["timeouts", "200"]);
    let f = only(&report, "timer-wakeups");
    assert_eq!(f["where"]["tid"], said["threads"][0]["tid"]);
    assert_eq!(evidence(f, "short_timeouts"), 200.0);
    assert_eq!(evidence(f, "timeouts_le_1ms"), 200.0);
}

#[test]
fn a_tick_that_keeps_ready_fds_waiting_is_a_long_tick() {
    if !support::may_load_ebpf() {
        return;
    }
    const WAITS: u64 = 8;
    let (said, report) = trace_scenario(&["planted-latency", &WAITS.to_string()]);
    let tier = report["tier"].as_str().unwrap();
    assert!(
        tier == "socket" || tier == "callback",
        "long-tick needs readiness; tier {tier}"
    );
    let f = only(&report, "long-tick");
    assert_eq!(f["tier"], tier);
    assert_eq!(f["where"]["tid"], said["threads"][0]["tid"]);
    // The fd that waited longest is one of the planted ones (the socket in the socket tier).
    let planted: Vec<&Value> = said["planted"].as_array().unwrap().iter().collect();
    assert!(planted.iter().any(|p| p["fd"] == f["where"]["fd"]), "{f:#}");
    // Every wait after the first follows a 20 ms busy stretch with both fds ready.
    assert_eq!(evidence(f, "long_ticks"), (WAITS - 1) as f64);
    // The longest tick is at least the planted 20 ms; the longest wait of an fd is one of the
    // planted ready→delivered delays, which the scenario bounds.
    let longest = evidence(f, "longest_tick");
    assert!((20e6..1e9).contains(&longest), "longest tick {longest} ns");
    let waited = evidence(f, "longest_fd_wait");
    assert!(
        planted.iter().any(|p| {
            (p["min_ns"].as_f64().unwrap()..=p["max_ns"].as_f64().unwrap()).contains(&waited)
        }),
        "longest fd wait {waited} ns is no planted delay: {planted:#?}"
    );
}

#[test]
fn the_demo_under_load_has_no_findings_and_check_passes() {
    if !support::may_load_ebpf() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo.uprof");
    support::record_demo(&file);
    let report = report_json(&file);
    assert!(findings(&report).is_empty(), "{:#}", report["findings"]);
    let out = run(uprof().arg("check").arg(&file));
    assert!(String::from_utf8_lossy(&out.stdout).contains("FINDINGS: none"));
}

#[test]
fn check_exits_3_when_a_finding_reaches_the_level_and_thresholds_tune_it() {
    if !support::may_load_ebpf() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("churn.uprof");
    record_scenario(&file, &["anti-ctl-churn"]);
    let check = |args: &[&str]| {
        let out = uprof().arg("check").arg(&file).args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, text) = check(&[]);
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains("warn   ctl-churn"), "{text}");
    // A warn does not fail --fail-on error.
    assert_eq!(check(&["--fail-on", "error"]).0, Some(0));
    // 2 changes per event pass a threshold of 2.5, and a silenced kind is not reported.
    assert_eq!(
        check(&["--threshold", "ctl-churn-per-event=2.5"]).0,
        Some(0)
    );
    let (code, text) = check(&["--silence", "ctl-churn"]);
    assert_eq!(
        (code, text.contains("FINDINGS: none")),
        (Some(0), true),
        "{text}"
    );
    // Bad thresholds and kinds are usage errors that say what is allowed.
    let out = uprof()
        .arg("check")
        .arg(&file)
        .args(["--threshold", "long-tick=5"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("long-tick-ms"));
    let out = uprof()
        .arg("check")
        .arg(&file)
        .args(["--silence", "herd"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("thundering-herd"));
    // The report's table ends with the finding, and compare shows it per recording.
    let table = run(uprof().arg("report").arg(&file));
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("FINDINGS: 0 error, 1 warn"), "{table}");
    let compare = run(uprof()
        .arg("compare")
        .arg(&file)
        .arg(&file)
        .args(["--format", "json"]));
    let compare: Value = serde_json::from_slice(&compare.stdout).unwrap();
    for r in compare["recordings"].as_array().unwrap() {
        assert_eq!(r["findings"][0]["kind"], "ctl-churn");
    }
}
