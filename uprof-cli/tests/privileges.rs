//! uprof run by a user with capabilities instead of root: what it needs (CAP_BPF and
//! CAP_PERFMON, read access to tracefs, CAP_SYS_PTRACE for another user's process, a kernel
//! that lets CAP_PERFMON open perf events), what it says when something is missing, and that
//! `uprof doctor` predicts what `uprof record` then does. The commands run as `nobody` with only
//! the capabilities each test gives them.
mod support;

use std::process::{Command, Output, Stdio};

use support::{
    ebpf_turn,
    privilege::{CAP_BPF, CAP_DAC_READ_SEARCH, CAP_PERFMON, CAP_SYS_PTRACE, as_unprivileged},
    testprog, uprof,
};

/// The file uprof reads first in tracefs.
const TRACEFS_FILE: &str = "/sys/kernel/tracing/events/sched/sched_process_fork/format";

/// `uprof ARGS` as `nobody` with `caps`.
fn uprof_with(caps: &[u32], args: &[&str]) -> Output {
    let mut cmd = uprof();
    cmd.args(args);
    as_unprivileged(&mut cmd, caps);
    cmd.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Whether `nobody` without capabilities can read tracefs (older kernels made its files
/// world-readable; recent ones make them root-only).
fn tracefs_readable_by_anyone() -> bool {
    let mut cat = Command::new("cat");
    cat.arg(TRACEFS_FILE)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    as_unprivileged(&mut cat, &[]);
    cat.status().unwrap().success()
}

/// What uprof says, as its only line, when the kernel refuses perf events to a process with
/// CAP_PERFMON but not CAP_SYS_ADMIN.
const PERF_REFUSED: &str = "uprof: error: this kernel refuses perf events to uprof without \
    CAP_SYS_ADMIN";

/// Whether uprof, run with `caps`, stops at the kernel's refusal of perf events. Only a kernel
/// at `kernel.perf_event_paranoid` 3 or more may refuse them (Debian's and Ubuntu's do, by
/// default): anywhere else that refusal fails the test.
fn perf_events_refused(caps: &[u32]) -> bool {
    let doctor = uprof_with(caps, &["doctor"]);
    let refused = text(&doctor.stderr).starts_with(PERF_REFUSED);
    if refused {
        let paranoid = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid").unwrap();
        assert!(
            paranoid.trim().parse::<i32>().unwrap() >= 3,
            "perf events refused at perf_event_paranoid {paranoid}"
        );
    }
    refused
}

/// Asserts that `out` failed with the perf events refusal, alone.
fn assert_perf_refused(out: &Output) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with(PERF_REFUSED), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("lower kernel.perf_event_paranoid to 2"),
        "{stderr}"
    );
}

/// The value after `label` on the line of `text` that starts with it.
fn field<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|line| line.strip_prefix(label))
        .map(str::trim)
}

#[test]
fn without_tracefs_access_uprof_says_so_and_doctor_does_not_predict_a_tier() {
    let Some(_serial) = ebpf_turn() else {
        return;
    };
    if tracefs_readable_by_anyone() || perf_events_refused(&[CAP_BPF, CAP_PERFMON]) {
        // Nothing to tell apart here: the next test covers what these capabilities allow.
        return;
    }
    let record = uprof_with(&[CAP_BPF, CAP_PERFMON], &["record", "--", "/bin/true"]);
    let stderr = text(&record.stderr);
    assert_eq!(record.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one sentence: {stderr}");
    assert!(
        stderr.starts_with(
            "uprof: error: tracefs is mounted on /sys/kernel/tracing but this user cannot read it"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("CAP_DAC_READ_SEARCH"), "{stderr}");

    let doctor = uprof_with(&[CAP_BPF, CAP_PERFMON], &["doctor"]);
    let stdout = text(&doctor.stdout);
    assert_eq!(doctor.status.code(), Some(1), "{stdout}");
    assert!(
        field(&stdout, "tracefs:")
            .unwrap()
            .starts_with("unavailable: tracefs is mounted on /sys/kernel/tracing but"),
        "{stdout}"
    );
    assert_eq!(
        field(&stdout, "record:"),
        Some("cannot run here: tracefs is unavailable")
    );
    assert_eq!(field(&stdout, "tier:"), None, "{stdout}");
    assert_eq!(
        text(&doctor.stderr),
        "uprof: error: uprof record cannot run here (see tracefs above)\n"
    );
}

#[test]
fn the_documented_capabilities_record_the_tier_doctor_predicts() {
    let Some(_serial) = ebpf_turn() else {
        return;
    };
    let caps = [CAP_BPF, CAP_PERFMON, CAP_DAC_READ_SEARCH];
    let doctor = uprof_with(&caps, &["doctor"]);
    let scenario = testprog("epoll-scenario");
    let record = uprof_with(
        &caps,
        &[
            "record",
            "--format",
            "json",
            "--",
            scenario.to_str().unwrap(),
            "timeouts",
            "3",
        ],
    );
    if perf_events_refused(&caps) {
        // Doctor and record stop at the same sentence.
        assert_perf_refused(&doctor);
        assert_perf_refused(&record);
        assert_eq!(doctor.stderr, record.stderr);
        return;
    }
    let stdout = text(&doctor.stdout);
    assert!(doctor.status.success(), "{stdout}{}", text(&doctor.stderr));
    let tier = field(&stdout, "tier:")
        .and_then(|t| t.split_whitespace().next())
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(record.status.success(), "{}", text(&record.stderr));
    // The scenario's own JSON comes first on stdout, the report after it.
    let mut values = serde_json::Deserializer::from_slice(&record.stdout).into_iter();
    let said: serde_json::Value = values.next().unwrap().unwrap();
    let report: serde_json::Value = values.next().unwrap().unwrap();
    assert_eq!(report["tier"], tier, "doctor:\n{stdout}");
    support::assert_report_matches(&said, &report);
}

#[test]
fn another_users_process_needs_cap_sys_ptrace() {
    let Some(_serial) = ebpf_turn() else {
        return;
    };
    // Runs as root: another user than `nobody`.
    let mut demo = Command::new(testprog("uprof-demo"))
        .args(["--duration-ms", "10000"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = demo.id().to_string();
    let args = ["record", "-p", &pid, "--duration", "1s", "--format", "json"];
    let caps = [CAP_BPF, CAP_PERFMON, CAP_DAC_READ_SEARCH];
    let refused = uprof_with(&caps, &args);
    let allowed = uprof_with(
        &[CAP_SYS_PTRACE, CAP_BPF, CAP_PERFMON, CAP_DAC_READ_SEARCH],
        &args,
    );
    demo.kill().unwrap();
    demo.wait().unwrap();

    let stderr = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "uprof: error: cannot read the open files of process {pid} ("
        )) && stderr.ends_with("needs root, or CAP_SYS_PTRACE besides CAP_BPF and CAP_PERFMON\n"),
        "{stderr}"
    );
    if perf_events_refused(&caps) {
        assert_perf_refused(&allowed);
        return;
    }
    assert!(allowed.status.success(), "{}", text(&allowed.stderr));
    let report: serde_json::Value = serde_json::from_slice(&allowed.stdout).unwrap();
    // The demo's fds are known by kind: uprof could read them.
    let kinds: Vec<&str> = report["epolls"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["fds"].as_array().unwrap())
        .filter_map(|fd| fd["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"timerfd"), "{kinds:?}");
}
