//! The two ways of hooking syscalls (`--syscall-hooks fentry|tracepoint`) see exactly the same
//! calls. Both run wherever the tests run: Debian's stock 6.1 and 6.12 kernels (`cargo xtask
//! vm-test`) allow fentry on the syscall functions, and uprof uses it by default there; the
//! development hosts refuse fentry altogether, and Debian's 5.10 refuses it on these functions
//! (its BTF declares their `struct pt_regs *` argument only as a forward declaration, so the
//! verifier rejects any use of it). Where it is refused, forcing it must fail with the kernel's
//! reason and the default must be the tracepoints. Nothing skips.
mod support;

use std::path::Path;

use serde_json::Value;
use support::{assert_report_matches, report_json, serial, testprog, uprof};
use uprof_common::arch::SYSCALL_FUNCTION_PREFIX;

/// The probe `kind:__x64_sys_<syscall>`.
fn function_probe(kind: &str, syscall: &str) -> String {
    format!("{kind}:{SYSCALL_FUNCTION_PREFIX}{syscall}")
}

/// Scenarios that between them make every kind of traced syscall but `dup2`/`dup3`: the three
/// epoll waits, `epoll_ctl` (with errors), `close`, and the poll family. (`close` with its
/// number taken by another thread before it returns is `scenarios.rs`'s, with the default
/// hooks: fentry in the stock kernels, tracepoints on the development hosts.)
const SCENARIOS: [&[&str]; 3] = [&["syscalls"], &["fd-reuse"], &["poll"]];

/// Records each of `scenarios` with `--syscall-hooks <hooks>`: per scenario, what it said it
/// did and the report; or uprof's error message.
fn record_with(hooks: &str, scenarios: &[&[&str]]) -> Result<Vec<(Value, Value)>, String> {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hooks.uprof");
    let mut runs = Vec::new();
    for &args in scenarios {
        let out = uprof()
            .args(["record", "--syscall-hooks", hooks, "-o"])
            .arg(&file)
            .arg("--")
            .arg(testprog("epoll-scenario"))
            .args(args)
            .output()
            .expect("cannot run uprof");
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let said = serde_json::from_slice(&out.stdout).expect("the scenario prints JSON");
        runs.push((said, report_json(&file)));
    }
    Ok(runs)
}

/// The attached probes of a report that hook syscall functions, and those on syscall
/// tracepoints.
fn syscall_probes(report: &Value) -> (Vec<&str>, Vec<&str>) {
    let names = report["probes"].as_array().unwrap().iter();
    let names: Vec<&str> = names.filter_map(Value::as_str).collect();
    let functions = names
        .iter()
        .filter(|n| n.contains(&format!(":{SYSCALL_FUNCTION_PREFIX}")))
        .copied()
        .collect();
    let tracepoints = names
        .iter()
        .filter(|n| n.starts_with("syscalls:"))
        .copied()
        .collect();
    (functions, tracepoints)
}

/// An independent sign that the kernel allows fentry on the syscall functions: a stock
/// distribution kernel (kprobes exist; the development hosts have neither) from 6.1 on (see
/// above for 5.10).
fn fentry_on_syscalls_expected() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut numbers = release
        .split(['.', '-'])
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let version = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
    Path::new("/sys/bus/event_source/devices/kprobe/type").exists() && version >= (6, 1)
}

#[test]
fn tracepoint_hooks_see_exactly_the_scenarios_calls() {
    if !support::may_load_ebpf() {
        return;
    }
    let runs =
        record_with("tracepoint", &SCENARIOS).expect("syscall tracepoints attach on every kernel");
    for (said, report) in &runs {
        assert_report_matches(said, report);
        let (functions, tracepoints) = syscall_probes(report);
        assert!(functions.is_empty(), "{functions:?}");
        assert!(tracepoints.contains(&"syscalls:sys_exit_epoll_ctl"));
        assert!(tracepoints.contains(&"syscalls:sys_enter_poll"));
    }
}

#[test]
fn fentry_hooks_see_exactly_the_calls_or_fail_with_the_kernels_reason() {
    if !support::may_load_ebpf() {
        return;
    }
    match record_with("fentry", &SCENARIOS) {
        Ok(runs) => {
            for (said, report) in &runs {
                assert_report_matches(said, report);
                let (functions, tracepoints) = syscall_probes(report);
                assert!(tracepoints.is_empty(), "{tracepoints:?}");
                for probe in [
                    function_probe("fentry", "epoll_wait"),
                    function_probe("fexit", "close"),
                ] {
                    assert!(
                        functions.contains(&probe.as_str()),
                        "{probe} in {functions:?}"
                    );
                }
            }
        }
        Err(stderr) => {
            assert!(
                !fentry_on_syscalls_expected(),
                "this kernel should allow fentry on syscall functions: {stderr}"
            );
            assert!(
                stderr.contains("--syscall-hooks fentry")
                    && stderr.contains(&format!("{SYSCALL_FUNCTION_PREFIX}epoll_wait"))
                    && stderr.contains("refused"),
                "the error names the option, the function and the kernel's reason: {stderr}"
            );
        }
    }
}

#[test]
fn by_default_syscalls_are_hooked_by_fentry_where_the_kernel_allows_it() {
    if !support::may_load_ebpf() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("default.uprof");
    let said = support::record_scenario(&file, SCENARIOS[0]);
    let report = report_json(&file);
    assert_report_matches(&said, &report);
    let (functions, tracepoints) = syscall_probes(&report);
    // The default is fentry exactly when forcing it works.
    if record_with("fentry", &SCENARIOS[..1]).is_ok() {
        assert!(tracepoints.is_empty(), "{tracepoints:?}");
        assert!(functions.contains(&function_probe("fexit", "epoll_wait").as_str()));
    } else {
        assert!(!fentry_on_syscalls_expected());
        assert!(functions.is_empty(), "{functions:?}");
        assert!(tracepoints.contains(&"syscalls:sys_exit_epoll_wait"));
    }
}
