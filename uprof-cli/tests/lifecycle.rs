//! How a recording ends, and what its file looks like afterwards: Ctrl-C, duration, damage.
mod support;

use std::{
    fs,
    io::{BufRead as _, BufReader, Read as _},
    process::{Command, Stdio},
    thread::sleep,
    time::Duration,
};

use support::{SERIAL, report_json, run, testprog, uprof};

fn calls_of_all_threads(report: &serde_json::Value) -> u64 {
    report["threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["waits"]["calls"].as_u64().unwrap())
        .sum()
}

#[test]
fn ctrl_c_leaves_a_complete_file() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("interrupted.uprof");
    let mut demo = Command::new(testprog("uprof-demo"))
        .args(["--duration-ms", "20000"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut recorder = uprof()
        .args(["record", "-p", &demo.id().to_string(), "-o"])
        .arg(&file)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(recorder.stderr.take().unwrap());
    let mut attached = String::new();
    stderr.read_line(&mut attached).unwrap();
    assert!(
        attached.starts_with("uprof: tracing pid"),
        "uprof attached: {attached}"
    );
    sleep(Duration::from_millis(1500));
    // SAFETY: signalling our own children.
    unsafe { libc::kill(recorder.id() as i32, libc::SIGINT) };
    let status = recorder.wait().unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    demo.kill().unwrap();
    demo.wait().unwrap();
    assert!(
        status.success(),
        "uprof record exits 0 after Ctrl-C: {rest}"
    );
    assert!(rest.contains("stopped (interrupted)"), "{rest}");

    let report = run(uprof().arg("report").arg(&file));
    assert!(
        report.stderr.is_empty(),
        "a cleanly ended file reads without warnings: {}",
        String::from_utf8_lossy(&report.stderr)
    );
    assert!(
        calls_of_all_threads(&report_json(&file)) > 10,
        "the demo waited many times in 1.5 s"
    );
}

#[test]
fn duration_ends_recording_and_a_truncated_copy_still_reads() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo.uprof");
    let out = run(uprof()
        .args(["record", "--duration", "700ms", "-o"])
        .arg(&file)
        .arg("--")
        .arg(testprog("uprof-demo"))
        .args(["--duration-ms", "5000"]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("stopped (duration reached)"));
    let whole = calls_of_all_threads(&report_json(&file));
    assert!(whole > 0);

    // Cut the file in the middle: the report reads what came before the cut and says so.
    let bytes = fs::read(&file).unwrap();
    let cut = dir.path().join("cut.uprof");
    fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = run(uprof().arg("report").arg(&cut).args(["--format", "json"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("uprof: warning:"),
        "truncation is reported: {stderr}"
    );
    let partial: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let partial = calls_of_all_threads(&partial);
    assert!(
        partial <= whole,
        "a truncated file cannot hold more than the whole: {partial} > {whole}"
    );
}

#[test]
fn not_a_record_file_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("garbage.uprof");
    fs::write(&file, b"this is not a recording").unwrap();
    let out = uprof().arg("report").arg(&file).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("uprof: error:") && stderr.contains("garbage.uprof"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one sentence: {stderr}");
}

#[test]
fn a_reader_that_goes_away_ends_the_report_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo.uprof");
    support::record_scenario(&file, &["many-fds", "200", "--waits", "200"]);
    // `uprof report FILE --format json | head -c 1`: the pipe closes after the first byte, and
    // the report (200 fds) is larger than the pipe's buffer.
    let mut report = uprof()
        .arg("report")
        .arg(&file)
        .args(["--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 1];
    report
        .stdout
        .take()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    // Dropping the read end closes the pipe.
    let out = report.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}
