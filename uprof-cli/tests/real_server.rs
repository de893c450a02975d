//! A real server from Debian's packages: uprof's wait-call counts for redis-server under
//! redis-benchmark equal those `perf stat` counts from the same tracepoints in the same run.
mod support;

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    thread::sleep,
    time::{Duration, Instant},
};

use support::{SERIAL, report_json, run, uprof};

/// Kills and reaps a child when the test ends, however it ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, sig) };
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        sleep(Duration::from_millis(50));
    }
}

const EPOLL_WAITS: [&str; 3] = ["epoll_wait", "epoll_pwait", "epoll_pwait2"];

#[test]
fn redis_wait_counts_equal_perf_stat() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("redis.sock");
    let file = dir.path().join("redis.uprof");

    let redis = Reaped(
        Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--save",
                "",
                "--appendonly",
                "no",
                "--unixsocket",
            ])
            .arg(&socket)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/setup.sh installs it)"),
    );
    wait_for("redis-server's socket", || socket.exists());
    // Freeze redis while both tracers attach, so that both see exactly the same calls: a
    // stopped process makes none, and a call it was inside is seen by neither (perf counts
    // entries, uprof calls whose entry it saw).
    signal(&redis.0, libc::SIGSTOP);

    let perf_events = EPOLL_WAITS
        .map(|s| format!("syscalls:sys_enter_{s}"))
        .join(",");
    // perf -p ends by itself when redis exits (and so does uprof record -p).
    let perf = Command::new("perf")
        .args([
            "stat",
            "-x",
            ",",
            "-e",
            &perf_events,
            "-p",
            &redis.0.id().to_string(),
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("perf is installed (scripts/setup.sh installs linux-perf)");
    let mut recorder = Reaped(
        uprof()
            .args(["record", "-p", &redis.0.id().to_string(), "-o"])
            .arg(&file)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut recorder_err = BufReader::new(recorder.0.stderr.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("uprof: tracing pid") {
        line.clear();
        assert!(
            recorder_err.read_line(&mut line).unwrap() > 0,
            "uprof record ended before attaching"
        );
    }
    // perf prints nothing until it ends: give it time to open its counters.
    sleep(Duration::from_secs(1));
    signal(&redis.0, libc::SIGCONT);

    run(Command::new("redis-benchmark")
        .arg("-s")
        .arg(&socket)
        .args(["-q", "-t", "ping_mbulk,set,get", "-n", "20000", "-c", "20"]));

    // Both end with the target: redis exits on SIGTERM after finishing its current loop.
    signal(&redis.0, libc::SIGTERM);
    let mut redis = redis;
    redis.0.wait().unwrap();
    assert!(recorder.0.wait().unwrap().success());
    let perf_out = String::from_utf8_lossy(&perf.wait_with_output().unwrap().stderr).into_owned();

    let report = report_json(&file);
    for syscall in EPOLL_WAITS {
        let ours: u64 = report["threads"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["waits"]["by_syscall"][syscall].as_u64().unwrap_or(0))
            .sum();
        let theirs = perf_count(&perf_out, &format!("syscalls:sys_enter_{syscall}"));
        assert_eq!(
            ours, theirs,
            "{syscall} calls: uprof {ours}, perf stat {theirs}\n{perf_out}"
        );
    }
    let total: u64 = report["threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["waits"]["calls"].as_u64().unwrap())
        .sum();
    assert!(
        total > 1000,
        "redis-benchmark made redis wait many times, not {total}"
    );
}

/// The count of `event` in `perf stat -x ,` output (`count,unit,event,...`).
fn perf_count(out: &str, event: &str) -> u64 {
    out.lines()
        .find_map(|l| {
            let fields: Vec<&str> = l.split(',').collect();
            (fields.get(2) == Some(&event))
                .then(|| fields[0].parse().ok())
                .flatten()
        })
        .unwrap_or_else(|| panic!("perf stat printed no count for {event}:\n{out}"))
}
