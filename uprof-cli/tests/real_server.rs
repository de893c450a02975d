//! Real servers under load. In each, uprof's wait-call counts equal those `perf stat` counts
//! from the same tracepoints in the same run, thread by thread and syscall by syscall (see
//! `support::real` for how both attach and what is compared).
//!
//! A missing server or perf fails these tests (scripts/setup.sh installs them); they never
//! skip.
mod support;

use std::process::{Command, Stdio};

use support::{
    SERIAL,
    real::{Traced, parse_per_thread, spawn, wait_for},
    run,
};

#[test]
fn redis_wait_counts_equal_perf_stat() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("redis.sock");

    let mut redis = spawn(
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
            .stdout(Stdio::null()),
        "redis-server is part of redis-server, which scripts/setup.sh installs",
    );
    wait_for("redis-server's socket", || socket.exists());
    let traced = Traced::attach(dir.path(), &[redis.pid()]);

    run(Command::new("redis-benchmark")
        .arg("-s")
        .arg(&socket)
        .args(["-q", "-t", "ping_mbulk,set,get", "-n", "20000", "-c", "20"]));

    // Both tracers end with the target: redis exits on SIGTERM after its current loop.
    redis.end_with(libc::SIGTERM, "redis-server");
    let threads = traced.finish();
    let total: u64 = threads.iter().map(|t| t.calls()).sum();
    assert!(
        total > 1000,
        "redis-benchmark made redis wait many times, not {total}"
    );
}

/// perf names a thread `COMM-TID`, and a name may hold `-` and `,` itself.
#[test]
fn perf_per_thread_output_is_read_by_thread_id() {
    let out = "# started on Thu Nov 26 07:22:18 2026

node-101,12,,syscalls:sys_enter_epoll_pwait,441034,100.00,,
V8 Worker-x,y-102,<not counted>,,syscalls:sys_enter_epoll_pwait,0,100.00,,
node-101,0,,syscalls:sys_enter_poll,441034,100.00,,
";
    let counts = parse_per_thread(out);
    assert_eq!(counts.len(), 2);
    assert_eq!(counts[&101]["epoll_pwait"], 12);
    assert_eq!(counts[&101]["poll"], 0);
    assert_eq!(counts[&102]["epoll_pwait"], 0);
}
