//! `uprof record -p PID`: attaching to a process that is already running.
mod support;

use std::{
    fs,
    io::BufReader,
    process::{Command, Stdio},
};

use support::{
    SERIAL, assert_report_matches, line_starting, may_load_ebpf,
    ready::{READY_FD, Ready},
    report_json, run, testprog, uprof,
};

#[test]
fn attach_to_running_process_sees_exactly_its_work() {
    if !may_load_ebpf() {
        return;
    }
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

    let mut cmd = uprof();
    cmd.args([
        "record",
        "--ready-fd",
        READY_FD,
        "-p",
        &pid.to_string(),
        "-o",
    ])
    .arg(&file);
    let mut ready = Ready::give_to(&mut cmd);
    let mut recorder = cmd.spawn().unwrap();
    assert!(ready.wait(), "uprof record ended before tracing");

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

/// The demo (a main loop and a worker thread with its own loop), running for `ms`; its pid
/// and the worker's thread id.
fn demo_with_worker(ms: u32) -> (std::process::Child, u32, u32) {
    let demo = Command::new(testprog("uprof-demo"))
        .args(["--duration-ms", &ms.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = demo.id();
    let worker = loop {
        let tids: Vec<u32> = fs::read_dir(format!("/proc/{pid}/task"))
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        if let Some(&tid) = tids.iter().find(|&&tid| tid != pid) {
            break tid;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    (demo, pid, worker)
}

fn record_json(ids: &str) -> (serde_json::Value, String) {
    let out = run(uprof().args(["record", "-p", ids, "--duration", "1s", "--format", "json"]));
    let report = serde_json::from_slice(&out.stdout).unwrap();
    (report, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_thread_id_traces_its_process_and_says_so() {
    if !may_load_ebpf() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (mut demo, pid, worker) = demo_with_worker(5000);
    let (report, stderr) = record_json(&worker.to_string());
    demo.kill().unwrap();
    demo.wait().unwrap();
    assert!(
        stderr.starts_with(&format!(
            "uprof: {worker} is a thread of process {pid} (uprof-demo): tracing the process\n"
        )),
        "{stderr}"
    );
    assert_eq!(report["pids"], serde_json::json!([pid]));
    let waited: Vec<u64> = report["threads"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["waits"]["calls"].as_u64() > Some(0))
        .map(|t| t["tid"].as_u64().unwrap())
        .collect();
    assert!(waited.contains(&u64::from(worker)), "{report:#}");
}

#[test]
fn a_pid_given_twice_is_traced_once() {
    if !may_load_ebpf() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (mut demo, pid, _) = demo_with_worker(5000);
    let (report, _) = record_json(&format!("{pid},{pid}"));
    demo.kill().unwrap();
    demo.wait().unwrap();
    assert_eq!(report["pids"], serde_json::json!([pid]));
}
