//! `uprof doctor` describes this kernel, and its predictions hold: the tier and the syscall
//! hooks it says `uprof record` will use are the ones a recording then uses.
mod support;

use std::fs;

use support::{run, serial, trace_scenario, uprof};
use uprof_common::arch::SYSCALL_FUNCTION_PREFIX;

/// The value after `label` on the line that starts with it.
fn field<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find_map(|line| line.strip_prefix(label))
        .unwrap_or_else(|| panic!("no `{label}` line in:\n{text}"))
        .trim()
}

fn doctor() -> String {
    let _serial = serial();
    String::from_utf8(run(uprof().arg("doctor")).stdout).expect("doctor prints UTF-8")
}

#[test]
fn doctor_describes_this_kernel() {
    if !support::may_load_ebpf() {
        return;
    }
    let text = doctor();
    assert_eq!(field(&text, "arch:"), std::env::consts::ARCH);
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(field(&text, "kernel:"), release.trim());
    let btf = fs::metadata("/sys/kernel/btf/vmlinux").is_ok();
    let expected = if btf { "present" } else { "absent" };
    assert!(field(&text, "BTF:").starts_with(expected), "{text}");
    // Every program type is tried, each line says whether it loads or why not.
    let syscall_function = format!("fentry     on {SYSCALL_FUNCTION_PREFIX}epoll_wait");
    for probe in [
        "tracepoint on syscalls:sys_enter_epoll_wait",
        &syscall_function,
        "fentry     on ep_poll_callback",
        "kprobe     on ep_poll_callback",
        "tp_btf     on sk_data_ready",
        "tp_btf     on sched_waking",
    ] {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(probe))
            .unwrap_or_else(|| panic!("no `{probe}` line in:\n{text}"));
        assert!(
            line.ends_with("loads and attaches") || line.contains(" NO: "),
            "{line}"
        );
    }
    // One line per item: a refusal's verifier log is cut down to its messages.
    let labels = [
        "arch:",
        "kernel:",
        "BTF:",
        "lockdown:",
        "tracefs:",
        "program types:",
        "  ",
        "tier:",
        "syscalls:",
    ];
    for line in text.lines() {
        assert!(
            labels.iter().any(|l| line.starts_with(l)),
            "stray line `{line}` in:\n{text}"
        );
    }
    // Syscall tracepoints load everywhere uprof runs.
    assert!(text.contains("syscalls:sys_enter_epoll_wait    loads and attaches"));
}

#[test]
fn doctor_predicts_the_tier_and_syscall_hooks_a_recording_uses() {
    if !support::may_load_ebpf() {
        return;
    }
    let text = doctor();
    let tier = field(&text, "tier:").split_whitespace().next().unwrap();
    let hooks = field(&text, "syscalls:")
        .strip_prefix("hooked by ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("{text}"));
    let (_, report) = trace_scenario(&["timeouts", "2"]);
    assert_eq!(report["tier"], tier, "doctor:\n{text}");
    let probes: Vec<&str> = report["probes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str())
        .collect();
    let expected = match hooks {
        "fentry" => format!("fexit:{SYSCALL_FUNCTION_PREFIX}epoll_wait"),
        "tracepoint" => "syscalls:sys_exit_epoll_wait".to_owned(),
        other => panic!("doctor names unknown syscall hooks `{other}`:\n{text}"),
    };
    assert!(
        probes.contains(&expected.as_str()),
        "{probes:?}\ndoctor:\n{text}"
    );
}
