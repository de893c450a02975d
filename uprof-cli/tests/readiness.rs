//! Ready-list figures (callback tier) against readiness an `epoll-scenario` planted on purpose,
//! and the tier choice itself. On kernels that allow the callback tier (the stock kernels of
//! `cargo xtask vm-test`) the figures are checked; on kernels that refuse it (the development
//! hosts) the report must say `syscall` and hold no callback figure. Neither case skips.
mod support;

use std::path::Path;

use serde_json::Value;
use support::{SERIAL, assert_report_matches, report_json, run, testprog, uprof};

/// Waits the scenario makes (each after planting a delay).
const WAITS: u64 = 5;

/// Records `epoll-scenario planted-latency` with extra `uprof record` arguments.
fn record_planted(uprof_args: &[&str]) -> (Value, Value) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("planted.uprof");
    let out = run(uprof()
        .arg("record")
        .args(uprof_args)
        .arg("-o")
        .arg(&file)
        .arg("--")
        .arg(testprog("epoll-scenario"))
        .args(["planted-latency", &WAITS.to_string()]));
    let said: Value = serde_json::from_slice(&out.stdout).expect("the scenario prints JSON");
    (said, report_json(&file))
}

/// An independent sign that the kernel allows the callback tier: the kprobe PMU exists and
/// `ep_poll_callback` can be probed (uprof tries fentry first, then kprobe).
fn kernel_has_kprobes_on_ep_poll_callback() -> bool {
    Path::new("/sys/bus/event_source/devices/kprobe/type").exists()
        && std::fs::read_to_string("/proc/kallsyms")
            .is_ok_and(|s| s.lines().any(|l| l.ends_with(" ep_poll_callback")))
}

/// Every thread's and fd's `readiness` object.
fn readiness_objects(report: &Value) -> Vec<&Value> {
    let threads = report["threads"].as_array().unwrap().iter();
    let fds = report["epolls"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["fds"].as_array().unwrap());
    threads.chain(fds).map(|x| &x["readiness"]).collect()
}

fn callback_probe_attached(report: &Value) -> bool {
    report["probes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p.as_str().is_some_and(|p| p.ends_with(":ep_poll_callback")))
}

/// The syscall tier: no callback figure anywhere, no callback probe.
fn assert_syscall_tier(report: &Value) {
    assert_eq!(report["tier"], "syscall");
    assert!(!callback_probe_attached(report), "{:#}", report["probes"]);
    for r in readiness_objects(report) {
        assert!(
            r.is_null(),
            "callback figure in a syscall-tier report: {r:#}"
        );
    }
}

/// The callback tier: exact counts, and each planted delay inside the program's own bracket.
fn assert_callback_figures(said: &Value, report: &Value) {
    assert_eq!(report["tier"], "callback");
    assert!(callback_probe_attached(report), "{:#}", report["probes"]);
    let planted = said["planted"].as_array().expect("planted delays");
    assert_eq!(planted.len() as u64, WAITS);
    let efd = planted[0]["fd"].as_i64().unwrap();
    let ns = |key: &'static str| planted.iter().map(move |p| p[key].as_u64().unwrap());
    let fd = report["epolls"][0]["fds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["fd"].as_i64() == Some(efd))
        .expect("the eventfd's entry");
    let r = &fd["readiness"];
    assert_eq!(r["tier"], "callback");
    // Two writes per wait plus one before the close; the second of each pair finds the fd
    // already queued; the last readiness is closed away undelivered.
    assert_eq!(r["ready"].as_u64(), Some(2 * WAITS + 1), "{r:#}");
    assert_eq!(r["coalesced"].as_u64(), Some(WAITS), "{r:#}");
    assert_eq!(r["undelivered"].as_u64(), Some(1), "{r:#}");
    assert_eq!(r["pending"].as_u64(), Some(0), "{r:#}");
    let latency = &r["ready_to_delivered_ns"];
    assert_eq!(latency["count"].as_u64(), Some(WAITS), "{r:#}");
    // Each sample runs from the callback (inside the first write) to the wait's return, so it
    // lies between the program's `min_ns` (write returned -> wait called) and `max_ns` (write
    // called -> wait returned): the tolerance is the program's own bracket, no fudge factor.
    let total = latency["total"].as_u64().unwrap();
    let (lo, hi) = (ns("min_ns").sum::<u64>(), ns("max_ns").sum::<u64>());
    assert!(
        (lo..=hi).contains(&total),
        "total {total} outside {lo}..={hi}"
    );
    let max = latency["max"].as_u64().unwrap();
    let (lo, hi) = (ns("min_ns").max().unwrap(), ns("max_ns").max().unwrap());
    assert!((lo..=hi).contains(&max), "max {max} outside {lo}..={hi}");
    let p50 = latency["p50"].as_u64().unwrap();
    assert!(
        p50 >= ns("min_ns").min().unwrap(),
        "p50 {p50} below every planted delay"
    );
    // Every wait found the fd ready on entry: none was a wakeup while blocked.
    let thread = &report["threads"][0];
    assert_eq!(thread["readiness"]["tier"], "callback");
    assert_eq!(thread["readiness"]["wakeups"].as_u64(), Some(0));
}

#[test]
fn planted_readiness_latency_in_the_tier_the_kernel_allows() {
    let (said, report) = record_planted(&[]);
    assert_report_matches(&said, &report);
    let expect_callback = kernel_has_kprobes_on_ep_poll_callback();
    match report["tier"].as_str() {
        Some("callback") => assert_callback_figures(&said, &report),
        Some("syscall") => {
            assert!(
                !expect_callback,
                "this kernel has kprobes on ep_poll_callback, yet uprof chose the syscall tier"
            );
            assert_syscall_tier(&report);
        }
        other => panic!("unknown tier {other:?}"),
    }
}

#[test]
fn forced_syscall_tier_has_no_callback_figures() {
    let (said, report) = record_planted(&["--tier", "syscall"]);
    assert_report_matches(&said, &report);
    assert_syscall_tier(&report);
}

#[test]
fn forced_callback_tier_loads_or_fails_with_the_kernels_reason() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let out = uprof()
        .args(["record", "--tier", "callback", "--format", "json", "--"])
        .arg(testprog("epoll-scenario"))
        .args(["planted-latency", "1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        assert!(stderr.contains("(callback tier"), "{stderr}");
    } else {
        assert!(
            !kernel_has_kprobes_on_ep_poll_callback(),
            "kprobes are available, yet: {stderr}"
        );
        assert!(
            stderr.contains("--tier callback") && stderr.contains("kprobe on ep_poll_callback"),
            "the error names the tier and the kernel's reasons: {stderr}"
        );
    }
}
