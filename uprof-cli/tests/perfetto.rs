//! `uprof report --format perfetto`: the trace, decoded with Perfetto's official schema (the
//! PyPI `perfetto` package that scripts/setup.sh installs into its venv), says what the JSON
//! report of the same recording says, thread by thread; and `-o` and the binary format behave.
//!
//! `perfetto_summary.py` (beside this file) reads the trace as Perfetto's trace processor does
//! and prints what it holds; these tests compare that with `uprof report --format json`.
mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::synthetic::{
    CHILD, SATURATED, SERVER, busy_loop_records, server_records, write_recording,
};
use support::{WAIT_SYSCALLS, report_json, run, uprof};

/// The venv's Python with Perfetto's official schema.
fn venv_python() -> Option<PathBuf> {
    support::python::with(
        "perfetto.protos.perfetto.trace.perfetto_trace_pb2",
        "perfetto",
    )
}

/// What the trace holds, as perfetto_summary.py reads it with the official schema.
fn summary(python: &Path, trace: &Path) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/perfetto_summary.py");
    let out = run(Command::new(python).arg(script).arg(trace));
    let summary: Value = serde_json::from_slice(&out.stdout).expect("the summary is JSON");
    assert_eq!(
        summary["problems"],
        Value::Array(vec![]),
        "problems reading the trace"
    );
    summary
}

/// `uprof report FILE --format perfetto -o TRACE`; returns its stderr.
fn export(file: &Path, trace: &Path) -> String {
    export_with(file, trace, &[])
}

/// [`export`] with more arguments (`args`).
fn export_with(file: &Path, trace: &Path, args: &[&str]) -> String {
    let out = run(uprof()
        .arg("report")
        .arg(file)
        .args(["--format", "perfetto", "-o"])
        .arg(trace)
        .args(args));
    assert!(out.stdout.is_empty(), "the trace goes to -o, not stdout");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn tracks(summary: &Value) -> &Vec<Value> {
    summary["tracks"].as_array().unwrap()
}

fn count(track: &Value, what: &str, name: &str) -> u64 {
    track[what][name].as_u64().unwrap_or(0)
}

/// The track `name` holds, and its `what` (`slices` or `instants`) named `event`, across all
/// tracks named like `name`.
fn named<'a>(summary: &'a Value, name: &str) -> Vec<&'a Value> {
    tracks(summary)
        .iter()
        .filter(|t| t["name"].as_str() == Some(name))
        .collect()
}

/// Every track is well formed: each slice that began ended, each end had a beginning.
fn assert_slices_pair(summary: &Value) {
    for t in tracks(summary) {
        assert_eq!(t["unclosed"], 0, "slices left open on {t:#}");
        assert_eq!(t["unmatched_ends"], 0, "ends without a beginning on {t:#}");
    }
}

/// Each thread of the JSON report has a track with a slice per wait, a busy slice per busy
/// tick, an `epoll_ctl` slice per call, an events-per-wakeup counter value per ready return,
/// and its name.
fn assert_threads_match(summary: &Value, report: &Value) {
    let threads = report["threads"].as_array().unwrap();
    assert!(!threads.is_empty());
    for thread in threads {
        let (pid, tid) = (&thread["pid"], &thread["tid"]);
        let track = tracks(summary)
            .iter()
            .find(|t| &t["pid"] == pid && &t["tid"] == tid)
            .unwrap_or_else(|| panic!("no track for thread {pid}/{tid}"));
        let waits: u64 = WAIT_SYSCALLS
            .iter()
            .map(|s| count(track, "slices", s))
            .sum();
        let expected = &thread["waits"];
        assert_eq!(waits, expected["calls"].as_u64().unwrap(), "waits of {tid}");
        for s in WAIT_SYSCALLS {
            let calls = expected["by_syscall"][s].as_u64().unwrap_or(0);
            assert_eq!(count(track, "slices", s), calls, "{s} slices of {tid}");
        }
        assert_eq!(
            count(track, "slices", "busy"),
            expected["busy_ns"]["count"].as_u64().unwrap(),
            "busy slices of {tid}"
        );
        assert_eq!(
            count(track, "slices", "epoll_ctl"),
            thread["epoll_ctl"].as_u64().unwrap(),
            "epoll_ctl slices of {tid}"
        );
        assert_eq!(track["thread_name"], thread["comm"], "name of {tid}");
        let outcomes: Vec<&str> = WAIT_SYSCALLS
            .iter()
            .flat_map(|s| track["args"][s].as_array().into_iter().flatten())
            .map(|args| args["outcome"].as_str().unwrap())
            .collect();
        let ready = outcomes.iter().filter(|&&o| o == "ready").count() as u64;
        assert_eq!(
            ready,
            expected["ready"].as_u64().unwrap(),
            "ready waits of {tid}"
        );
        let counter = tracks(summary)
            .iter()
            .find(|t| t["name"] == "events per wakeup" && t["parent"] == track["uuid"]);
        let values = counter.map_or(0, |c| c["counter"].as_array().unwrap().len() as u64);
        assert_eq!(values, ready, "events-per-wakeup values of {tid}");
        if let Some(counter) = counter {
            let events: i64 = counter["counter"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .sum();
            assert_eq!(
                Some(events as u64),
                expected["events"].as_u64(),
                "events of {tid}"
            );
        }
    }
}

/// Flows join readiness to the wake-up it caused and to the busy tick that followed the wait
/// that delivered it, never backwards in time.
fn assert_flows(summary: &Value) {
    let flows = &summary["flows"];
    assert_eq!(flows["backwards_steps"], 0, "{flows:#}");
    assert_eq!(flows["unterminated_at_busy"], 0, "{flows:#}");
    let paths: BTreeSet<&str> = flows["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_str().unwrap())
        .collect();
    assert!(paths.contains("ready -> woken -> busy"), "{flows:#}");
    assert!(
        paths.iter().all(|p| p.starts_with("ready -> ")),
        "{flows:#}"
    );
}

#[test]
fn synthetic_trace_says_what_the_json_report_says() {
    let Some(python) = venv_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("server.uprof");
    write_recording(&file, &server_records());
    let trace = dir.path().join("server.pftrace");
    export(&file, &trace);
    let summary = summary(&python, &trace);
    let report = report_json(&file);

    assert_slices_pair(&summary);
    assert_threads_match(&summary, &report);
    assert_flows(&summary);
    let clock = &summary["clock_snapshots"][0];
    assert_eq!(clock["primary"], "BUILTIN_CLOCK_MONOTONIC");
    assert_eq!(
        clock["clocks"]["BUILTIN_CLOCK_REALTIME"], 1_700_000_000_000_000_000u64,
        "wall-clock time of the start"
    );

    let session = &named(&summary, "uprof: callback tier, kernel 6.1.0-test")[0];
    assert_eq!(count(session, "instants", "recording"), 1);
    assert_eq!(
        session["args"]["recording"][0]["pids"],
        serde_json::json!([SERVER])
    );
    let lost = &named(&summary, "lost records")[0];
    assert_eq!(lost["counter"], serde_json::json!([3]));

    let processes: BTreeSet<(u64, &str)> = tracks(&summary)
        .iter()
        .filter_map(|t| Some((t["pid"].as_u64()?, t["process_name"].as_str()?)))
        .collect();
    let expected = BTreeSet::from([(u64::from(SERVER), "srv"), (u64::from(CHILD), "child")]);
    assert_eq!(processes, expected);

    // The listening socket on each instance: registered until its close, one herd marker
    // naming both threads.
    let sockets = named(&summary, "fd 5 (listener)");
    assert_eq!(sockets.len(), 2, "one track per instance");
    for fd in &sockets {
        assert_eq!(count(fd, "slices", "registered"), 1, "{fd:#}");
        assert_eq!(count(fd, "instants", "closed"), 1, "{fd:#}");
        assert_eq!(count(fd, "instants", "herd"), 1, "{fd:#}");
        let woken: BTreeSet<u64> = fd["args"]["herd"][0]["woken_tids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_u64().unwrap())
            .collect();
        assert_eq!(
            woken,
            BTreeSet::from([SERVER.into(), u64::from(SERVER + 1)])
        );
    }
    assert_eq!(report["herds"]["events"], 1);
    let pipe = &named(&summary, "fd 7 (pipe)")[0];
    assert_eq!(count(pipe, "slices", "ready → delivered"), 10);
    assert_eq!(count(pipe, "slices", "ready, never delivered"), 1);
    assert_eq!(count(pipe, "instants", "epoll_ctl failed"), 1);
    let mask = &pipe["args"]["registered"][0]["mask"];
    assert_eq!(mask, "IN");
}

/// Each finding of the JSON report is a `finding` instant on the session track at each of its
/// evidence times, with its kind and severity; and nothing else is.
#[test]
fn findings_are_instants_at_their_evidence_times() {
    let Some(python) = venv_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut kinds = BTreeSet::new();
    for (name, records) in [
        ("server", server_records()),
        ("busy", busy_loop_records("loop")),
    ] {
        let file = dir.path().join(format!("{name}.uprof"));
        write_recording(&file, &records);
        let trace = dir.path().join(format!("{name}.pftrace"));
        export_with(&file, &trace, &SATURATED);
        let summary = summary(&python, &trace);
        let out = run(uprof()
            .arg("report")
            .arg(&file)
            .args(["--format", "json"])
            .args(SATURATED));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let session = named(&summary, "uprof: callback tier, kernel 6.1.0-test")[0];
        let empty = Vec::new();
        let times = session["instant_times"]["finding"]
            .as_array()
            .unwrap_or(&empty);
        let args = session["args"]["finding"].as_array().unwrap_or(&empty);
        assert_eq!(times.len(), args.len());
        let mut marked: Vec<(String, String, u64)> = args
            .iter()
            .zip(times)
            .map(|(a, ts)| {
                let arg = |key: &str| a[key].as_str().unwrap().to_owned();
                (arg("kind"), arg("severity"), ts.as_u64().unwrap())
            })
            .collect();
        marked.sort();
        assert_eq!(marked, support::finding_marks(&report), "{name}");
        kinds.extend(marked.into_iter().map(|(kind, _, _)| kind));
        // No finding instant on any other track.
        for t in tracks(&summary) {
            if t["uuid"] != session["uuid"] {
                assert_eq!(count(t, "instants", "finding"), 0, "{t:#}");
            }
        }
    }
    assert!(kinds.contains("saturated-loop"), "{kinds:?}");
}

#[test]
fn an_incomplete_recording_says_so_inside_the_trace() {
    let Some(python) = venv_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cut.uprof");
    write_recording(&file, &server_records());
    // Cut the file inside its END chunk, as a crash would.
    let bytes = fs::read(&file).unwrap();
    fs::write(&file, &bytes[..bytes.len() - 40]).unwrap();
    let trace = dir.path().join("cut.pftrace");
    let stderr = export(&file, &trace);
    assert!(stderr.contains("damaged"), "{stderr}");
    let summary = summary(&python, &trace);
    let session = tracks(&summary)
        .iter()
        .find(|t| t["name"].as_str().is_some_and(|n| n.starts_with("uprof:")))
        .unwrap();
    assert!(
        session["name"]
            .as_str()
            .unwrap()
            .ends_with("(recording incomplete)"),
        "{session:#}"
    );
    let why = session["args"]["recording incomplete"][0]["why"]
        .as_str()
        .unwrap();
    assert!(why.contains("damaged") && stderr.contains(why), "{why}");
    assert_slices_pair(&summary);
    assert_threads_match(&summary, &report_json(&file));
}

/// The demo program, traced for real.
#[test]
fn demo_trace_says_what_the_json_report_says() {
    if !support::may_load_ebpf() {
        return;
    }
    let Some(python) = venv_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo.uprof");
    support::record_demo(&file);
    let trace = dir.path().join("demo.pftrace");
    export(&file, &trace);
    let summary = summary(&python, &trace);
    let report = report_json(&file);
    assert_slices_pair(&summary);
    assert_threads_match(&summary, &report);
    let names: BTreeSet<&str> = tracks(&summary)
        .iter()
        .filter_map(|t| t["thread_name"].as_str())
        .collect();
    assert_eq!(names, BTreeSet::from(["uprof-demo", "demo-worker"]));
    // The demo's fds, each named with its kind, on the instances of the report.
    let fds: BTreeSet<&str> = tracks(&summary)
        .iter()
        .filter_map(|t| t["name"].as_str())
        .filter(|n| n.starts_with("fd "))
        .collect();
    for kind in ["socket", "pipe", "eventfd", "timerfd"] {
        assert!(
            fds.iter().any(|n| n.ends_with(&format!("({kind})"))),
            "{fds:?}"
        );
    }
    let epolls = tracks(&summary)
        .iter()
        .filter(|t| {
            t["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("epoll fd "))
        })
        .count();
    assert_eq!(epolls, report["epolls"].as_array().unwrap().len());
    // Readiness is recorded (socket tier at least): its flows reach the busy ticks.
    if report["tier"] != "syscall" {
        assert_flows(&summary);
    }
}

#[test]
fn an_unwritable_output_is_one_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("server.uprof");
    write_recording(&file, &server_records());
    let target = dir.path().join("missing/dir/out.pftrace");
    let out = uprof()
        .arg("report")
        .arg(&file)
        .args(["--format", "perfetto", "-o"])
        .arg(&target)
        .output()
        .unwrap();
    support::assert_cannot_write(&out);
    assert!(out.stdout.is_empty());
}

#[test]
fn every_format_writes_to_the_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("server.uprof");
    write_recording(&file, &server_records());
    let json = dir.path().join("report.json");
    let out = run(uprof()
        .arg("report")
        .arg(&file)
        .args(["--format", "json", "--output"])
        .arg(&json));
    assert!(out.stdout.is_empty());
    let written: Value = serde_json::from_slice(&fs::read(&json).unwrap()).unwrap();
    assert_eq!(written, report_json(&file));
}

#[test]
fn a_binary_format_refuses_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("server.uprof");
    write_recording(&file, &server_records());
    let terminal = pseudo_terminal();
    let out = uprof()
        .arg("report")
        .arg(&file)
        .args(["--format", "perfetto"])
        .stdout(terminal)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim_end(),
        "uprof: error: --format perfetto is binary: write it to a file with -o FILE (or \
         redirect stdout)"
    );
}

#[test]
fn record_refuses_a_format_it_cannot_print_live() {
    // Before it loads anything: no privilege needed, and `true` is never started.
    let out = uprof()
        .args(["record", "--format", "perfetto", "--", "true"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("record to a file with -o FILE"), "{stderr}");
}

/// The terminal end of a new pseudo-terminal.
fn pseudo_terminal() -> fs::File {
    // SAFETY: plain libc calls on a descriptor we own; ptsname's buffer is copied at once.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(
            master >= 0,
            "posix_openpt: {}",
            std::io::Error::last_os_error()
        );
        assert_eq!(libc::grantpt(master), 0);
        assert_eq!(libc::unlockpt(master), 0);
        let name = std::ffi::CStr::from_ptr(libc::ptsname(master))
            .to_str()
            .unwrap()
            .to_owned();
        // The master stays open (leaked) for the test's life, so the terminal stays usable.
        let _ = master;
        fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(name)
            .unwrap()
    }
}
