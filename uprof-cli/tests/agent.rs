//! `uprof agent` and `uprof record --metrics`, read by a real Prometheus (Debian's package)
//! scraping every second: its figures must equal the counts `epoll-scenario` programs keep of
//! their own calls. Prometheus is not in the VMs: `cargo xtask vm-test` skips this file.
mod support;

use std::{
    collections::BTreeMap,
    io::BufReader,
    process::{Child, Command, Stdio},
    time::SystemTime,
};

use serde_json::Value;
use support::{
    SERIAL, WAIT_SYSCALLS, leftovers, line_starting, may_load_ebpf,
    prometheus::{Prometheus, free_port, get},
    ready::{READY_FD, Ready},
    real::{Reaped, signal, wait_exit},
    testprog, uprof,
};

/// An `epoll-scenario` started with `--trigger-signal`: it waits for SIGUSR2 before its work.
struct Scenario {
    child: Child,
    pid: u32,
}

impl Scenario {
    fn start(args: &[&str]) -> Scenario {
        let mut child = Command::new(testprog("epoll-scenario"))
            .args(args)
            .arg("--trigger-signal")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let ready = line_starting(&mut err, "ready ");
        let pid = ready.trim()["ready ".len()..].parse().unwrap();
        Scenario { child, pid }
    }

    /// Lets it run; returns what it says it did.
    fn run(self) -> Value {
        signal(self.pid, libc::SIGUSR2);
        let out = self.child.wait_with_output().unwrap();
        assert!(out.status.success(), "{:?}", out.status);
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// Starts `uprof <args> --ready-fd 3` and waits until it traces.
fn start_uprof(args: &[String]) -> Reaped {
    let mut cmd = uprof();
    cmd.args(args)
        .args(["--ready-fd", READY_FD])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut ready = Ready::give_to(&mut cmd);
    let child = Reaped(cmd.spawn().unwrap());
    assert!(ready.wait(), "uprof ended before tracing");
    child
}

/// Sums `field` of the scenario's fds by their kind.
fn by_kind(said: &Value, field: &str) -> BTreeMap<String, u64> {
    let mut sums = BTreeMap::new();
    for epoll in said["epolls"].as_array().unwrap() {
        for fd in epoll["fds"].as_array().unwrap() {
            *sums
                .entry(fd["kind"].as_str().unwrap().to_owned())
                .or_default() += fd[field].as_u64().unwrap();
        }
    }
    sums
}

/// Prometheus's figures for process `said` (labelled with pids) equal its own counts.
fn assert_prometheus_matches(prom: &Prometheus, said: &Value) {
    let pid = said["pid"].as_u64().unwrap();
    for thread in said["threads"].as_array().unwrap() {
        let tid = thread["tid"].as_u64().unwrap();
        let l = format!(r#"pid="{pid}",tid="{tid}""#);
        let count = |more: &str| {
            prom.value(&format!(
                "sum(uprof_wait_duration_seconds_count{{{l}{more}}})"
            ))
        };
        for (outcome, key) in [
            ("ready", "ready"),
            ("timeout", "timeouts"),
            ("poll", "polls"),
            ("eintr", "interrupted"),
            ("error", "errors"),
        ] {
            let said = thread[key].as_u64().unwrap() as f64;
            assert_eq!(
                count(&format!(r#",outcome="{outcome}""#)),
                said,
                "{outcome} waits of thread {tid}"
            );
        }
        let mut waits = 0;
        for syscall in WAIT_SYSCALLS {
            let said = thread["calls"][syscall].as_u64().unwrap_or(0);
            waits += said;
            assert_eq!(
                count(&format!(r#",syscall="{syscall}""#)),
                said as f64,
                "{syscall} calls of thread {tid}"
            );
        }
        assert_eq!(thread["unfinished"], 0);
        // A histogram's +Inf bucket holds every wait; each wait but the first has a tick before.
        assert_eq!(
            prom.value(&format!(
                r#"sum(uprof_wait_duration_seconds_bucket{{{l},le="+Inf"}})"#
            )),
            waits as f64,
            "waits in the +Inf buckets of thread {tid}"
        );
        assert_eq!(
            prom.value(&format!("sum(uprof_busy_duration_seconds_count{{{l}}})")),
            waits.saturating_sub(1) as f64,
            "ticks of thread {tid}"
        );
        if waits > 0 {
            let names = prom.query(&format!("uprof_busy_duration_seconds_count{{{l}}}"));
            assert_eq!(names[0].0["thread"], thread["comm"], "name of thread {tid}");
        }
    }
    let l = format!(r#"pid="{pid}""#);
    // An fd's kind is read from /proc when uprof sees it added, which a short-lived fd may
    // not outlive: its events then count as "unknown".
    let delivered = by_kind(said, "delivered");
    let ours = prom.query(&format!(
        "sum by (fd_kind) (uprof_events_delivered_total{{{l}}})"
    ));
    assert_eq!(
        ours.iter().map(|(_, v)| v).sum::<f64>(),
        delivered.values().sum::<u64>() as f64,
        "events delivered to process {pid}: {ours:?}"
    );
    for (labels, value) in &ours {
        let kind = labels["fd_kind"].as_str().unwrap();
        if kind != "unknown" {
            assert!(
                *value <= delivered.get(kind).copied().unwrap_or(0) as f64,
                "events delivered on {kind} fds of process {pid}: {ours:?}, said {delivered:?}"
            );
        }
    }
    for op in ["add", "mod", "del"] {
        let said: u64 = by_kind(said, op).values().sum();
        assert_eq!(
            prom.value(&format!(
                r#"sum(uprof_epoll_ctl_calls_total{{{l},op="{op}"}})"#
            )),
            said as f64,
            "epoll_ctl {op} calls of process {pid}"
        );
    }
    let errors: u64 = by_kind(said, "ctl_errors").values().sum();
    assert_eq!(
        prom.value(&format!(
            r#"sum(uprof_epoll_ctl_calls_total{{{l},errno!="0"}})"#
        )),
        errors as f64,
        "failed epoll_ctl calls of process {pid}"
    );
}

#[test]
fn prometheus_sees_exactly_the_programs_own_counts() {
    if !may_load_ebpf() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    leftovers::adopt_orphans();
    let dir = tempfile::tempdir().unwrap();
    let scenarios: Vec<Scenario> = [
        &["ready"][..],
        &["syscalls"],
        &["eintr"],
        &["poll"],
        &["fd-reuse"],
        &["threads"],
        &["timeouts", "7"],
    ]
    .iter()
    .map(|args| Scenario::start(args))
    .collect();
    let pids: Vec<String> = scenarios.iter().map(|s| s.pid.to_string()).collect();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut agent = start_uprof(&[
        "agent".into(),
        "-p".into(),
        pids.join(","),
        "--pid-labels".into(),
        "--listen".into(),
        listen.clone(),
    ]);
    let prom = Prometheus::start(dir.path(), &listen);
    support::real::wait_for("a first scrape", || prom.value(r#"up{job="uprof"}"#) == 1.0);

    let said: Vec<Value> = scenarios.into_iter().map(Scenario::run).collect();
    prom.wait_for_scrape_after(SystemTime::now());

    assert_eq!(
        prom.value(r#"up{job="uprof"}"#),
        1.0,
        "the last scrape parsed"
    );
    assert!(prom.value(r#"scrape_samples_scraped{job="uprof"}"#) > 0.0);
    assert_eq!(prom.value("uprof_lost_records_total"), 0.0);
    assert_eq!(prom.value("uprof_label_sets_dropped_total"), 0.0);
    assert_eq!(prom.query("uprof_tracing_info").len(), 1);
    for said in &said {
        assert_prometheus_matches(&prom, said);
    }

    let status = agent.end_with(libc::SIGINT, "uprof agent");
    assert!(status.success(), "uprof agent exited with {status}");
    drop(prom);
    let left = leftovers::take_leftovers(dir.path());
    assert!(left.is_empty(), "left behind: {left:#?}");
}

#[test]
fn record_metrics_serves_the_recordings_figures_while_it_records() {
    if !may_load_ebpf() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let first = Scenario::start(&["timeouts", "9"]);
    // Keeps the recording going while the first one's figures are read.
    let second = Scenario::start(&["timeouts", "1"]);
    let listen = format!("127.0.0.1:{}", free_port());
    let mut record = start_uprof(&[
        "record".into(),
        "-p".into(),
        format!("{},{}", first.pid, second.pid),
        "--metrics".into(),
        listen.clone(),
        "--format".into(),
        "json".into(),
    ]);
    let said = first.run();
    let done = std::time::Instant::now();
    let expected = format!(
        r#"uprof_wait_duration_seconds_count{{process="epoll-scenario",thread="epoll-scenario",syscall="epoll_wait",outcome="timeout"}} {}"#,
        said["threads"][0]["timeouts"]
    );
    support::real::wait_for("the recording's figures on /metrics", || {
        let (status, body) = get(&listen, "/metrics").unwrap();
        assert_eq!(status, 200);
        body.lines().any(|l| l == expected) || {
            // Never more than that, and settled within a second.
            assert!(
                done.elapsed().as_secs() < 2,
                "{expected} missing from:\n{body}"
            );
            false
        }
    });
    assert_eq!(get(&listen, "/nothing").unwrap().0, 404);
    second.run();
    let status = wait_exit(&mut record.0, "uprof record");
    assert!(status.success(), "uprof record exited with {status}");
}

#[test]
fn a_port_in_use_is_one_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let out = uprof()
        .args(["agent", "-p", &std::process::id().to_string(), "--listen"])
        .arg(addr.to_string())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("uprof: error: cannot listen on {addr}: the port is in use by another program\n")
    );
}
