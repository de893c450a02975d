//! `uprof record -p PID`: attaching to a process that is already running.
mod support;

use std::{
    io::BufReader,
    process::{Command, Stdio},
};

use support::{SERIAL, assert_report_matches, line_starting, report_json, testprog, uprof};

#[test]
fn attach_to_running_process_sees_exactly_its_work() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("attach.uprof");

    // The scenario starts, says it is ready, and waits for SIGUSR2 before doing its work.
    let mut target = Command::new(testprog("epoll-scenario"))
        .args(["ready", "--trigger-signal"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut target_err = BufReader::new(target.stderr.take().unwrap());
    let ready = line_starting(&mut target_err, "ready ");
    let pid: i32 = ready
        .trim()
        .strip_prefix("ready ")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(pid as u32, target.id());

    let mut recorder = uprof()
        .args(["record", "-p", &pid.to_string(), "-o"])
        .arg(&file)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut recorder_err = BufReader::new(recorder.stderr.take().unwrap());
    line_starting(&mut recorder_err, "uprof: tracing pid");

    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGUSR2) }, 0);
    let said = target.wait_with_output().unwrap();
    assert!(said.status.success());
    // uprof stops by itself when the target exits.
    let status = recorder.wait().unwrap();
    assert!(status.success(), "uprof record -p exited with {status}");

    let said: serde_json::Value = serde_json::from_slice(&said.stdout).unwrap();
    assert_report_matches(&said, &report_json(&file));
}

#[test]
fn attach_to_missing_pid_is_one_clear_error() {
    let out = uprof()
        .args(["record", "-p", "999999999"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim(), "uprof: error: no such process: 999999999");
}
