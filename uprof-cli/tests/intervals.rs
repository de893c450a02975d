//! `--interval` and the hdrlog on a real recording of `uprof-demo`: the live rows of `uprof
//! record` and the JSON intervals of `uprof report` add up to the report, and the hdrlog, read
//! back by an independent reader (PyPI `hdrhistogram`, in the venv `scripts/setup.sh` makes),
//! gives the report's counts exactly and its percentiles within HDR precision.
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::{record_scenario, report_json, run, serial, testprog, uprof};

const INTERVAL_NS: u64 = 500_000_000;

/// Records the demo with live JSON interval rows; returns them (one object per line).
fn record_demo(file: &Path) -> Vec<Value> {
    let _serial = serial();
    let out = run(uprof()
        .args(["record", "--interval", "500ms", "--format", "json", "-o"])
        .arg(file)
        .arg("--")
        .arg(testprog("uprof-demo")));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// `(tid, wait calls)` summed over intervals.
fn calls_by_tid(intervals: &[Value]) -> BTreeMap<u64, u64> {
    let mut calls = BTreeMap::new();
    for t in intervals
        .iter()
        .flat_map(|i| i["threads"].as_array().unwrap())
    {
        *calls.entry(t["tid"].as_u64().unwrap()).or_default() += t["calls"].as_u64().unwrap();
    }
    calls
}

/// The venv's Python with PyPI `hdrhistogram`'s log reader.
fn python_with_hdrh() -> Option<PathBuf> {
    support::python::with("hdrh.log", "hdrhistogram")
}

/// Reads an hdrlog with PyPI `hdrhistogram`'s log reader: per tag, each interval's start
/// (ms from the log's start), sample count, p50 and p99, and the same of all its intervals
/// merged. Percentiles are the `ceil(q * count)`th sample's bucket, as uprof ranks them.
const READ_LOG: &str = r#"
import json, math, sys
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader

def at(h, q):
    rank = max(1, math.ceil(q * h.get_total_count()))
    seen = 0
    for v in h.get_recorded_iterator():
        seen += v.count_at_value_iterated_to
        if seen >= rank:
            return v.value_iterated_to
    return 0

def figures(h):
    return {"count": h.get_total_count(), "p50": at(h, 0.5), "p99": at(h, 0.99)}

reader = HistogramLogReader(sys.argv[1], HdrHistogram(1, 2**45, 3))
tags = {}
while True:
    h = reader.get_next_interval_histogram()
    if h is None:
        break
    tag = tags.setdefault(h.get_tag(), {"intervals": [], "merged": HdrHistogram(1, 2**45, 3)})
    start_ms = round(h.get_start_time_stamp() - reader.get_start_time_sec() * 1000)
    tag["intervals"].append(dict(figures(h), start_ms=start_ms))
    tag["merged"].add(h)
print(json.dumps({t: {"intervals": v["intervals"], "merged": figures(v["merged"])}
                  for t, v in tags.items()}))
"#;

fn read_log(python: &Path, log: &Path) -> Value {
    let out = run(Command::new(python).args(["-c", READ_LOG]).arg(log));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `ours` is an exact sample or an HDR value; `theirs` the top of an HDR bucket holding it.
fn within_precision(theirs: &Value, ours: &Value, what: &str) {
    let (theirs, ours) = (theirs.as_u64().unwrap(), ours.as_u64().unwrap());
    assert!(
        theirs.abs_diff(ours) <= ours / 1000 + 1,
        "{what}: the log says {theirs}, uprof {ours}"
    );
}

/// `uprof report FILE --format json --interval 500ms`.
fn report_intervals(file: &Path) -> Value {
    let out =
        run(uprof()
            .arg("report")
            .arg(file)
            .args(["--format", "json", "--interval", "500ms"]));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["interval_ns"], INTERVAL_NS);
    json
}

#[test]
fn interval_rows_live_and_from_the_file_add_up_to_the_report() {
    if !support::may_load_ebpf() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo.uprof");
    let live = record_demo(&file);
    let report = report_json(&file);
    let with_intervals = report_intervals(&file);
    let intervals = with_intervals["intervals"].as_array().unwrap();
    assert!(intervals.len() >= 4, "2 s of demo: {intervals:#?}");

    // Every wait is in one interval, live or from the file.
    let calls: BTreeMap<u64, u64> = report["threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["tid"].as_u64().unwrap(),
                t["waits"]["calls"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(calls_by_tid(intervals), calls);
    assert_eq!(calls_by_tid(&live), calls, "live rows: {live:#?}");
    let starts = |rows: &[Value]| -> Vec<u64> {
        rows.iter()
            .map(|r| r["start_ns"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(starts(&live), starts(intervals));
}

/// Not in the stock-kernel VMs (`scripts/test.sh` skips it there): they have no Python.
#[test]
fn hdrlog_read_back_by_pypi_hdrhistogram_gives_the_reports_figures() {
    if !support::may_load_ebpf() {
        return;
    }
    let Some(python) = python_with_hdrh() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo.uprof");
    record_demo(&file);
    let report = report_json(&file);
    let with_intervals = report_intervals(&file);
    let intervals = with_intervals["intervals"].as_array().unwrap();
    let log = dir.path().join("demo.hlog");
    run(uprof()
        .arg("report")
        .arg(&file)
        .args(["--format", "hdrlog", "--interval", "500ms", "-o"])
        .arg(&log));
    let tags = read_log(&python, &log);
    for t in report["threads"].as_array().unwrap() {
        let tid = t["tid"].as_u64().unwrap();
        for (metric, ours) in [
            ("blocked", &t["waits"]["blocked_ns"]),
            ("busy", &t["waits"]["busy_ns"]),
        ] {
            let tag = format!("tid={tid}:{metric}");
            let merged = &tags[&tag]["merged"];
            assert_eq!(merged["count"], ours["count"], "{tag} samples");
            within_precision(&merged["p50"], &ours["p50"], &format!("{tag} p50"));
            within_precision(&merged["p99"], &ours["p99"], &format!("{tag} p99"));
        }
    }
    // Interval by interval, the log holds the JSON intervals' figures.
    for interval in intervals {
        let start_ms = interval["start_ns"].as_u64().unwrap() / 1_000_000;
        for t in interval["threads"].as_array().unwrap() {
            let tag = format!("tid={}:blocked", t["tid"]);
            let ours = &t["blocked_ns"];
            let theirs = tags[&tag]["intervals"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["start_ms"] == start_ms);
            let Some(theirs) = theirs else {
                assert_eq!(
                    ours["count"], 0,
                    "{tag} at {start_ms} ms missing from the log"
                );
                continue;
            };
            assert_eq!(theirs["count"], ours["count"], "{tag} at {start_ms} ms");
            within_precision(
                &theirs["p99"],
                &ours["p99"],
                &format!("{tag} p99 at {start_ms}"),
            );
        }
    }
    // Ready→delivered: per fd in the report, per delivering thread in the log.
    let delivered: u64 = report["epolls"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["fds"].as_array().unwrap())
        .filter_map(|f| f["readiness"]["ready_to_delivered_ns"]["count"].as_u64())
        .sum();
    let logged: u64 = tags
        .as_object()
        .unwrap()
        .iter()
        .filter(|(tag, _)| tag.ends_with(":ready_to_delivered"))
        .map(|(_, v)| v["merged"]["count"].as_u64().unwrap())
        .sum();
    assert_eq!(logged, delivered);
    if report["tier"] != "syscall" {
        assert!(
            delivered > 0,
            "the demo's socket gets readiness in the {} tier",
            report["tier"]
        );
    }
}

#[test]
fn a_cut_recording_exports_up_to_its_last_complete_chunk_and_says_so() {
    if !support::may_load_ebpf() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.uprof");
    record_demo(&whole);
    let bytes = std::fs::read(&whole).unwrap();
    let cut = dir.path().join("cut.uprof");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();

    let log = dir.path().join("cut.hlog");
    let out = run(uprof()
        .arg("report")
        .arg(&cut)
        .args(["--format", "hdrlog", "-o"])
        .arg(&log));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("uprof: warning:"), "{stderr}");
    let text = std::fs::read_to_string(&log).unwrap();
    let last = text.lines().last().unwrap();
    assert!(last.starts_with("#uprof: warning: "), "{last}");
    assert!(text.lines().any(|l| l.starts_with("Tag=tid=")), "{text}");

    let out = run(uprof()
        .arg("report")
        .arg(&cut)
        .args(["--format", "json", "--interval", "1s"]));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["complete"], false);
    assert_eq!(
        json["incomplete"]["reason"], "truncated_chunk",
        "{}",
        json["incomplete"]
    );
    assert!(
        json["incomplete"]["why"].is_string(),
        "{}",
        json["incomplete"]
    );
    assert!(!json["intervals"].as_array().unwrap().is_empty());
    // compare says it too, per recording.
    let out = run(uprof()
        .arg("compare")
        .arg(&cut)
        .arg(&whole)
        .args(["--format", "json"]));
    let compared: Value = serde_json::from_slice(&out.stdout).unwrap();
    let recordings = &compared["recordings"];
    assert_eq!(recordings[0]["complete"], false, "{compared}");
    assert_eq!(recordings[0]["incomplete"]["reason"], "truncated_chunk");
    assert_eq!(recordings[1]["complete"], true, "{compared}");
    let whole = report_json(&whole);
    assert_eq!(
        (&whole["complete"], &whole["incomplete"]),
        (&Value::Bool(true), &Value::Null)
    );
}

#[test]
fn an_unwritable_output_file_is_one_line_of_error_and_a_bad_input_leaves_no_output() {
    if !support::may_load_ebpf() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ready.uprof");
    record_scenario(&file, &["ready"]);
    let report = |input: &Path, output: &Path| {
        let out = uprof()
            .arg("report")
            .arg(input)
            .args(["--format", "hdrlog", "-o"])
            .arg(output)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        stderr
    };
    let stderr = report(&file, &dir.path().join("no/such/dir/out.hlog"));
    assert!(
        stderr.contains("cannot write") && stderr.contains("out.hlog"),
        "{stderr}"
    );
    let output = dir.path().join("out.hlog");
    report(&dir.path().join("missing.uprof"), &output);
    assert!(
        !output.exists(),
        "the input is checked before the output is created"
    );
}
