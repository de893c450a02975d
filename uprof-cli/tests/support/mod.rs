//! Running uprof on programs with known behaviour, and comparing its report with what the
//! programs say they did. These tests load eBPF programs: they need root (or CAP_BPF and
//! CAP_PERFMON). Without it each returns at once after a note (see [`privilege`]), and fails
//! under `CI=true`.
#![allow(dead_code)]

pub mod chromium;
pub mod leftovers;
pub mod privilege;
pub mod prometheus;
pub mod pty;
pub mod python;
pub mod ready;
pub mod real;
pub mod synthetic;

pub use privilege::may_load_ebpf;

use std::{
    collections::BTreeMap,
    io::BufRead,
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::{Mutex, MutexGuard},
};

use serde_json::Value;

/// One traced run at a time: the machine has two cores, and timing-sensitive scenarios (EINTR,
/// blocked threads) should not compete with each other.
static SERIAL: Mutex<()> = Mutex::new(());

/// This test's turn to trace (see [`SERIAL`]); a test that failed while tracing does not stop
/// the others.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// For a test that loads uprof's programs itself: its turn to trace, or `None` when this process
/// may not load them (then the test returns at once: `let Some(_serial) = ebpf_turn() else
/// { return; };`); see [`may_load_ebpf`].
pub fn ebpf_turn() -> Option<MutexGuard<'static, ()>> {
    may_load_ebpf().then(serial)
}

pub fn uprof() -> Command {
    Command::new(env!("CARGO_BIN_EXE_uprof"))
}

/// A binary of the workspace (`uprof-testprogs`, `tickloop-apps`), built by the same
/// `cargo test`.
pub fn testprog(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_uprof"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace's programs first (`cargo build`), or run the whole \
         suite with `cargo test`",
        path.display()
    );
    path
}

/// Reads lines from `reader` until one starts with `prefix`; returns it.
pub fn line_starting(reader: &mut impl BufRead, prefix: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "stream ended before a line starting with {prefix:?}"
        );
        if line.starts_with(prefix) {
            return line;
        }
    }
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A command that failed saying one line only: `uprof: error: cannot write …`.
pub fn assert_cannot_write(out: &Output) {
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("uprof: error: cannot write "),
        "{stderr}"
    );
}

/// Records a run of `uprof-demo` to `file`.
pub fn record_demo(file: &Path) {
    let _serial = serial();
    run(uprof()
        .arg("record")
        .arg("-o")
        .arg(file)
        .arg("--")
        .arg(testprog("uprof-demo"))
        .stdout(std::process::Stdio::null()));
}

/// Records `epoll-scenario <args>` to `file`; returns what the scenario says it did.
pub fn record_scenario(file: &Path, args: &[&str]) -> Value {
    let _serial = serial();
    let out = run(uprof()
        .arg("record")
        .arg("-o")
        .arg(file)
        .arg("--")
        .arg(testprog("epoll-scenario"))
        .args(args));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "scenario output is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Records `epoll-scenario <args>` to a file, then reports on the file as JSON. Returns
/// (what the scenario says it did, uprof's report).
pub fn trace_scenario(args: &[&str]) -> (Value, Value) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scenario.uprof");
    let said = record_scenario(&file, args);
    (said, report_json(&file))
}

pub fn report_json(file: &Path) -> Value {
    let out = run(uprof().arg("report").arg(file).args(["--format", "json"]));
    serde_json::from_slice(&out.stdout).expect("uprof report --format json prints JSON")
}

/// The findings of `kind` in a JSON report.
pub fn findings_of<'a>(report: &'a Value, kind: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["kind"] == kind)
        .collect()
}

/// The figure `name` of a finding's evidence.
pub fn evidence(finding: &Value, name: &str) -> f64 {
    finding["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {finding:#}"))["value"]
        .as_f64()
        .unwrap()
}

/// The times a timeline marks the findings of a JSON report at, as `(kind, severity, ns)`,
/// sorted: each evidence range's start, else the first occurrence when the report has one
/// (docs/findings.md).
pub fn finding_marks(report: &Value) -> Vec<(String, String, u64)> {
    let mut marks: Vec<(String, String, u64)> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .flat_map(|f| {
            let name = |key: &str| f[key].as_str().unwrap().to_owned();
            let (kind, severity) = (name("kind"), name("severity"));
            let mut at: Vec<u64> = f["when"]["ranges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["start_ns"].as_u64().unwrap())
                .collect();
            let first = f["when"]["first_ns"].as_u64().unwrap();
            if at.is_empty() && first > 0 {
                at.push(first);
            }
            at.into_iter()
                .map(move |t| (kind.clone(), severity.clone(), t))
        })
        .collect();
    marks.sort();
    marks
}

/// The syscalls whose calls the report counts per thread.
pub const WAIT_SYSCALLS: &[&str] = &[
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "poll",
    "ppoll",
    "select",
    "pselect6",
];

/// Asserts that the report's figures for the process the scenario describes (`said`: one
/// process object of the scenario's JSON) equal the scenario's own counts, thread by thread
/// and fd by fd.
pub fn assert_process_matches(said: &Value, report: &Value) {
    // Kernels before 5.11 have no epoll_pwait2: the program's calls fail with ENOSYS before any
    // tracepoint, so no tracer can see them.
    let pwait2_traced = report["probes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p.as_str().is_some_and(|p| p.ends_with("epoll_pwait2")));
    for thread in said["threads"].as_array().expect("threads") {
        let tid = thread["tid"].as_u64().unwrap();
        let invisible = if pwait2_traced {
            0
        } else {
            thread["calls"]["epoll_pwait2"].as_u64().unwrap_or(0)
        };
        let said_calls: u64 = WAIT_SYSCALLS
            .iter()
            .filter_map(|s| thread["calls"][s].as_u64())
            .sum::<u64>()
            - invisible;
        let ours = report["threads"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["tid"].as_u64() == Some(tid));
        let Some(ours) = ours else {
            // The report lists the threads that waited or changed an interest list.
            assert_eq!(
                said_calls, 0,
                "thread {tid} waited but is missing from the report: {report:#}"
            );
            continue;
        };
        let waits = &ours["waits"];
        assert_eq!(
            waits["calls"].as_u64(),
            Some(said_calls),
            "wait calls of thread {tid}"
        );
        for syscall in WAIT_SYSCALLS {
            let mut said = thread["calls"][syscall].as_u64().unwrap_or(0);
            if *syscall == "epoll_pwait2" {
                said -= invisible;
            }
            let seen = waits["by_syscall"][syscall].as_u64().unwrap_or(0);
            assert_eq!(seen, said, "{syscall} calls of thread {tid}");
        }
        for key in [
            "ready",
            "timeouts",
            "polls",
            "interrupted",
            "events",
            "unfinished",
        ] {
            assert_eq!(waits[key], thread[key], "{key} of thread {tid}");
        }
        let said_errors = thread["errors"].as_u64().unwrap() - invisible;
        assert_eq!(
            waits["errors"].as_u64(),
            Some(said_errors),
            "errors of thread {tid}"
        );
        assert_eq!(
            waits["fds_scanned"]["total"], thread["fds_scanned"],
            "fds scanned by thread {tid}"
        );
    }
    assert_epolls_match(said, report);
}

/// Items of `list` grouped by `key`, each group in list order.
fn grouped<'a, K: Ord>(
    list: impl IntoIterator<Item = &'a Value>,
    key: impl Fn(&Value) -> K,
) -> BTreeMap<K, Vec<&'a Value>> {
    let mut groups: BTreeMap<K, Vec<&Value>> = BTreeMap::new();
    for item in list {
        groups.entry(key(item)).or_default().push(item);
    }
    groups
}

/// The report lists exactly the process's epoll instances, and under each exactly its fds,
/// with the same figures. A number reused for a new instance or fd is a new generation in the
/// report and a new entry in the program's books (in order of creation): so both are compared
/// number by number, generation by generation.
fn assert_epolls_match(said: &Value, report: &Value) {
    let pid = &said["pid"];
    let said_epolls = grouped(said["epolls"].as_array().expect("epolls"), |e| {
        e["epfd"].as_i64()
    });
    let our_epolls = grouped(
        report["epolls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| &e["pid"] == pid),
        |e| e["epfd"].as_i64(),
    );
    assert_eq!(
        our_epolls.keys().collect::<Vec<_>>(),
        said_epolls.keys().collect::<Vec<_>>(),
        "epoll fds of process {pid}"
    );
    for (epfd, said_instances) in &said_epolls {
        let ours = &our_epolls[epfd];
        assert_eq!(
            ours.len(),
            said_instances.len(),
            "instances on epoll fd {pid}/{epfd:?}: {ours:#?}"
        );
        for (generation, (said, ours)) in said_instances.iter().zip(ours).enumerate() {
            let what = format!("epoll {pid}/{epfd:?} (instance {generation} on that number)");
            assert_fds_match(said, ours, &what);
        }
    }
}

fn assert_fds_match(said: &Value, ours: &Value, what: &str) {
    let said_fds = grouped(said["fds"].as_array().unwrap(), |f| f["fd"].as_i64());
    let our_fds = grouped(ours["fds"].as_array().unwrap(), |f| f["fd"].as_i64());
    assert_eq!(
        our_fds.keys().collect::<Vec<_>>(),
        said_fds.keys().collect::<Vec<_>>(),
        "fds of {what} (-1: events matching no fd)"
    );
    for (fd, said_entries) in &said_fds {
        let seen_entries = &our_fds[fd];
        assert_eq!(
            seen_entries.len(),
            said_entries.len(),
            "entries of fd {fd:?} in {what}: {seen_entries:#?}"
        );
        for (i, (said, seen)) in said_entries.iter().zip(seen_entries).enumerate() {
            let fd = format!("fd {fd:?} (entry {i} of that number) in {what}");
            assert_eq!(
                seen["delivered"], said["delivered"],
                "events delivered for {fd}"
            );
            for op in ["add", "mod", "del"] {
                assert_eq!(seen["ctl"][op], said[op], "epoll_ctl {op} of {fd}");
            }
            assert_eq!(
                seen["ctl"]["errors"], said["ctl_errors"],
                "epoll_ctl errors of {fd}"
            );
        }
    }
}

/// The scenario's process and, under `children`, its children: each must match.
pub fn assert_report_matches(said: &Value, report: &Value) {
    assert_eq!(report["schema"], uprof_analysis::SCHEMA);
    assert_eq!(
        report["lost_events"], 0,
        "no record may be lost in a small scenario"
    );
    assert_process_matches(said, report);
    for child in said["children"].as_array().into_iter().flatten() {
        assert_process_matches(child, report);
    }
}
