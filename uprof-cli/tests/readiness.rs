//! Readiness figures against readiness an `epoll-scenario` planted on purpose, and the tier
//! choice itself. On kernels that allow the callback tier (the stock kernels of `cargo xtask
//! vm-test`) every fd's figures are checked; on kernels that refuse it but have
//! `sock:sk_data_ready` (the development hosts, 6.18) the socket's figures are checked and the
//! eventfd must have none; a forced syscall tier must hold no readiness figure. Nothing skips.
mod support;

use std::path::Path;

use serde_json::Value;
use support::{assert_report_matches, report_json, run, serial, testprog, uprof};

/// Waits the scenario makes (each after planting a delay).
const WAITS: u64 = 5;

/// Records `epoll-scenario planted-latency` with extra `uprof record` arguments.
fn record_planted(uprof_args: &[&str]) -> (Value, Value) {
    let _serial = serial();
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

/// Every fd's `readiness` object and every thread's `wakeups` object.
fn readiness_objects(report: &Value) -> Vec<&Value> {
    let threads = report["threads"].as_array().unwrap().iter();
    let fds = report["epolls"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["fds"].as_array().unwrap());
    let fds = fds.map(|f| &f["readiness"]);
    threads.map(|t| &t["wakeups"]).chain(fds).collect()
}

fn probe_attached(report: &Value, suffix: &str) -> bool {
    report["probes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p.as_str().is_some_and(|p| p.ends_with(suffix)))
}

/// The syscall tier: no readiness or wake-up figure anywhere, no callback or socket probe.
fn assert_syscall_tier(report: &Value) {
    assert_eq!(report["tier"], "syscall");
    assert!(
        !probe_attached(report, ":ep_poll_callback"),
        "{:#}",
        report["probes"]
    );
    assert!(
        !probe_attached(report, ":sk_data_ready"),
        "{:#}",
        report["probes"]
    );
    for r in readiness_objects(report) {
        assert!(
            r.is_null(),
            "readiness figure in a syscall-tier report: {r:#}"
        );
    }
}

/// The fd entry of `fd` in the scenario's only epoll instance.
fn fd_entry(report: &Value, fd: i64) -> &Value {
    report["epolls"][0]["fds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["fd"].as_i64() == Some(fd))
        .unwrap_or_else(|| panic!("no entry for fd {fd}"))
}

/// The readiness tiers: exact counts and each planted delay inside the program's own bracket,
/// for every planted fd the tier sees (the socket tier sees only the socket).
fn assert_readiness_figures(said: &Value, report: &Value, tier: &str) {
    assert_eq!(report["tier"], tier);
    let probe = if tier == "callback" {
        ":ep_poll_callback"
    } else {
        ":sk_data_ready"
    };
    assert!(probe_attached(report, probe), "{:#}", report["probes"]);
    let planted = said["planted"].as_array().expect("planted delays");
    let mut fds: Vec<i64> = planted.iter().map(|p| p["fd"].as_i64().unwrap()).collect();
    fds.sort_unstable();
    fds.dedup();
    assert_eq!(planted.len() as u64, WAITS * fds.len() as u64);
    let mut checked = 0;
    for fd in fds {
        let entry = fd_entry(report, fd);
        let r = &entry["readiness"];
        if tier == "socket" && entry["kind"] != "socket" {
            assert!(
                r.is_null(),
                "socket tier figures for a {}: {r:#}",
                entry["kind"]
            );
            continue;
        }
        checked += 1;
        assert_eq!(r["tier"], tier);
        assert_eq!(r["approximate"], tier == "socket");
        // Two writes per wait plus one before the close; the second of each pair finds the
        // fd already queued; the last readiness is closed away undelivered.
        assert_eq!(r["ready"].as_u64(), Some(2 * WAITS + 1), "fd {fd}: {r:#}");
        assert_eq!(r["coalesced"].as_u64(), Some(WAITS), "fd {fd}: {r:#}");
        assert_eq!(r["undelivered"].as_u64(), Some(1), "fd {fd}: {r:#}");
        assert_eq!(r["pending"].as_u64(), Some(0), "fd {fd}: {r:#}");
        // Each sample runs from the first write's readiness to the wait's return, so it lies
        // between the program's `min_ns` (writes returned -> wait called) and `max_ns` (writes
        // called -> wait returned): the tolerance is the program's own bracket.
        let mine = planted.iter().filter(|p| p["fd"].as_i64() == Some(fd));
        let ns = |key: &'static str| mine.clone().map(move |p| p[key].as_u64().unwrap());
        let latency = &r["ready_to_delivered_ns"];
        assert_eq!(latency["count"].as_u64(), Some(WAITS), "fd {fd}: {r:#}");
        let total = latency["total"].as_u64().unwrap();
        let (lo, hi) = (ns("min_ns").sum::<u64>(), ns("max_ns").sum::<u64>());
        assert!(
            (lo..=hi).contains(&total),
            "fd {fd}: total {total} outside {lo}..={hi}"
        );
        let max = latency["max"].as_u64().unwrap();
        let (lo, hi) = (ns("min_ns").max().unwrap(), ns("max_ns").max().unwrap());
        assert!(
            (lo..=hi).contains(&max),
            "fd {fd}: max {max} outside {lo}..={hi}"
        );
    }
    assert!(checked > 0, "no planted fd has figures in the {tier} tier");
    // Every wait found its fds ready on entry: none slept.
    let wakeups = &report["threads"][0]["wakeups"];
    assert_eq!(wakeups["tier"], tier);
    assert_eq!(wakeups["slept"].as_u64(), Some(0), "{wakeups:#}");
    assert_eq!(
        wakeups["without_sleeping"].as_u64(),
        Some(WAITS),
        "{wakeups:#}"
    );
}

/// An independent sign that the kernel has the socket tier's tracepoint.
fn kernel_has_sk_data_ready() -> bool {
    Path::new("/sys/kernel/tracing/events/sock/sk_data_ready").exists()
}

#[test]
fn planted_readiness_latency_in_the_tier_the_kernel_allows() {
    if !support::may_load_ebpf() {
        return;
    }
    let (said, report) = record_planted(&[]);
    assert_report_matches(&said, &report);
    let expect_callback = kernel_has_kprobes_on_ep_poll_callback();
    match report["tier"].as_str() {
        Some(tier @ "callback") => assert_readiness_figures(&said, &report, tier),
        Some(tier @ "socket") => {
            assert!(
                !expect_callback,
                "this kernel has kprobes on ep_poll_callback, yet uprof chose the socket tier"
            );
            assert_readiness_figures(&said, &report, tier);
        }
        other => panic!(
            "tier {other:?} on a kernel with {} (kprobes on ep_poll_callback: {expect_callback})",
            if kernel_has_sk_data_ready() {
                "sock:sk_data_ready"
            } else {
                "no sock:sk_data_ready"
            }
        ),
    }
}

#[test]
fn forced_syscall_tier_has_no_callback_figures() {
    if !support::may_load_ebpf() {
        return;
    }
    let (said, report) = record_planted(&["--tier", "syscall"]);
    assert_report_matches(&said, &report);
    assert_syscall_tier(&report);
}

#[test]
fn forced_callback_tier_loads_or_fails_with_the_kernels_reason() {
    if !support::may_load_ebpf() {
        return;
    }
    let _serial = serial();
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

#[test]
fn forced_socket_tier_loads_or_fails_with_the_kernels_reason() {
    if !support::may_load_ebpf() {
        return;
    }
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("socket.uprof");
    let out = uprof()
        .args(["record", "--tier", "socket", "-o"])
        .arg(&file)
        .arg("--")
        .arg(testprog("epoll-scenario"))
        .args(["planted-latency", &WAITS.to_string()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if kernel_has_sk_data_ready() {
        assert!(out.status.success(), "{stderr}");
        let said: Value = serde_json::from_slice(&out.stdout).expect("the scenario prints JSON");
        assert_readiness_figures(&said, &report_json(&file), "socket");
    } else {
        assert!(!out.status.success(), "no sk_data_ready, yet: {stderr}");
        assert!(
            stderr.contains("--tier socket") && stderr.contains("sk_data_ready"),
            "the error names the tier and the kernel's reason: {stderr}"
        );
    }
}
