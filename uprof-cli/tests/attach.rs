//! `uprof record -p PID`: attaching to a process that is already running.
mod support;

use std::{
    io::BufReader,
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
};

use support::{
    assert_report_matches, ebpf_turn, line_starting, ready::record_pids, report_json, run,
    testprog, uprof,
};

#[test]
fn attach_to_running_process_sees_exactly_its_work() {
    let Some(_serial) = ebpf_turn() else {
        return;
    };
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

    let (mut cmd, mut ready) = record_pids(&[pid as u32], &file);
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

fn record_json(ids: &str) -> (serde_json::Value, String) {
    let out = run(uprof().args(["record", "-p", ids, "--duration", "1s", "--format", "json"]));
    let report = serde_json::from_slice(&out.stdout).unwrap();
    (report, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_thread_id_traces_its_process_and_says_so() {
    let Some(_serial) = ebpf_turn() else {
        return;
    };
    // The traced process is this one: a thread of it waits in a loop.
    let me = std::process::id();
    let stop = Arc::new(AtomicBool::new(false));
    let (tid_tx, tid_rx) = mpsc::channel();
    let waiter = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            // SAFETY: plain syscalls on an epoll fd this thread owns, with a valid buffer.
            unsafe {
                tid_tx.send(libc::gettid() as u32).unwrap();
                let ep = libc::epoll_create1(libc::EPOLL_CLOEXEC);
                let mut event = libc::epoll_event { events: 0, u64: 0 };
                while !stop.load(Ordering::Relaxed) {
                    libc::epoll_wait(ep, &mut event, 1, 10);
                }
                libc::close(ep);
            }
        })
    };
    let tid = tid_rx.recv().unwrap();
    let (report, stderr) = record_json(&tid.to_string());
    stop.store(true, Ordering::Relaxed);
    waiter.join().unwrap();
    assert!(
        stderr.starts_with(&format!("uprof: {tid} is a thread of process {me} ("))
            && stderr
                .lines()
                .next()
                .unwrap()
                .ends_with("): tracing the process"),
        "{stderr}"
    );
    assert_eq!(report["pids"], serde_json::json!([me]));
    let waited = report["threads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tid"] == tid)
        .map(|t| t["waits"]["calls"].as_u64().unwrap());
    assert!(waited > Some(10), "{report:#}");
}

#[test]
fn a_pid_given_twice_is_traced_once() {
    let Some(_serial) = ebpf_turn() else {
        return;
    };
    let mut target = Command::new("sleep").arg("60").spawn().unwrap();
    let pid = target.id();
    let (report, _) = record_json(&format!("{pid},{pid}"));
    target.kill().unwrap();
    target.wait().unwrap();
    assert_eq!(report["pids"], serde_json::json!([pid]));
}
