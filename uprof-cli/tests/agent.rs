//! `uprof agent` and `uprof record --metrics`, read by a real Prometheus (Debian's package)
//! scraping every second: its figures must equal the counts `epoll-scenario` programs keep of
//! their own calls. Prometheus is not in the VMs: `cargo xtask vm-test` skips this file.
mod support;

use std::{
    collections::BTreeMap,
    io::BufReader,
    process::{Child, Command, Stdio},
    thread::sleep,
    time::{Duration, Instant, SystemTime},
};

use serde_json::Value;
use support::{
    WAIT_SYSCALLS, ebpf_turn, leftovers, line_starting,
    prometheus::{Prometheus, free_port, get},
    ready::Ready,
    real::{Reaped, signal, wait_exit},
    testprog, uprof,
};
use uprof_testprogs::attach::Aggregation;

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
        self.trigger();
        self.finish()
    }

    /// Lets it start its work.
    fn trigger(&self) {
        signal(self.pid, libc::SIGUSR2);
    }

    /// Whether it is still running.
    fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits for its end; returns what it says it did.
    fn finish(self) -> Value {
        let out = self.child.wait_with_output().unwrap();
        assert!(out.status.success(), "{:?}", out.status);
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// Starts `uprof <args> --ready-fd 3` and waits until it traces.
fn start_uprof(args: &[String]) -> Reaped {
    let mut cmd = uprof();
    cmd.args(args)
        .args(["--ready-fd", &uprof_testprogs::attach::READY_FD.to_string()])
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
    if let Some(herd) = said.get("herd").filter(|h| !h.is_null()) {
        // Each datagram wakes every waiter: a herd, counted once, and one herd wake-up each.
        let rounds = herd["rounds"].as_u64().unwrap() as f64;
        let waiters = herd["waiters"].as_u64().unwrap() as f64;
        assert_eq!(
            prom.value(&format!("sum(uprof_herds_total{{{l}}})")),
            rounds,
            "herds of process {pid}"
        );
        assert_eq!(
            prom.value(&format!("sum(uprof_herd_wakeups_total{{{l}}})")),
            rounds * waiters,
            "herd wake-ups of process {pid}"
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

/// Every query of the Grafana dashboard in docs/ parses and runs in Prometheus, with its
/// variables at "all"; the loop utilisation gives a value in [0, 1] for the scenarios.
fn assert_dashboard_queries_run(prom: &Prometheus) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/grafana/uprof-dashboard.json"
    );
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut queries = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"]
                .as_str()
                .unwrap()
                .replace("$__rate_interval", "1m")
                .replace("$process", ".*")
                .replace("$instance", ".*");
            let result = prom.query(&expr);
            if panel["title"]
                .as_str()
                .unwrap()
                .starts_with("Loop utilisation")
            {
                // A loop seen in one scrape only has no rate (NaN): the long timeouts
                // scenario spans several.
                let rates: Vec<f64> = result
                    .iter()
                    .map(|(_, v)| *v)
                    .filter(|v| !v.is_nan())
                    .collect();
                assert!(!rates.is_empty(), "{expr} gave {result:?}");
                for v in rates {
                    assert!((0.0..=1.0).contains(&v), "{expr} gave {v}");
                }
            }
            queries += 1;
        }
    }
    assert!(queries >= 10, "{queries} queries in the dashboard");
}

/// `uprof agent` on `pids` with pid labels, listening on a free port: `(address, agent)`.
fn agent_of(pids: &[String], aggregation: Aggregation) -> (String, Reaped) {
    let listen = format!("127.0.0.1:{}", free_port());
    let agent = start_uprof(&[
        "agent".into(),
        "-p".into(),
        pids.join(","),
        "--pid-labels".into(),
        "--aggregation".into(),
        aggregation.arg().into(),
        "--listen".into(),
        listen.clone(),
    ]);
    (listen, agent)
}

#[test]
fn prometheus_sees_exactly_the_programs_own_counts_aggregated_in_the_kernel() {
    prometheus_sees_exactly_the_programs_own_counts(Aggregation::Kernel);
}

#[test]
fn prometheus_sees_exactly_the_programs_own_counts_from_the_stream() {
    prometheus_sees_exactly_the_programs_own_counts(Aggregation::Stream);
}

fn prometheus_sees_exactly_the_programs_own_counts(aggregation: Aggregation) {
    let Some(_serial) = ebpf_turn() else {
        return;
    };
    leftovers::adopt_orphans();
    let dir = tempfile::tempdir().unwrap();
    let scenarios: Vec<Scenario> = [
        &["ready"][..],
        &["syscalls"],
        &["eintr"],
        &["poll"],
        &["fd-reuse"],
        &["threads"],
        &["herd", "6"],
        // About 3 s of 1 ms timeouts: scraped several times while it runs.
        &["timeouts", "2500"],
    ]
    .iter()
    .map(|args| Scenario::start(args))
    .collect();
    let pids: Vec<String> = scenarios.iter().map(|s| s.pid.to_string()).collect();
    let (listen, mut agent) = agent_of(&pids, aggregation);
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
    assert_dashboard_queries_run(&prom);

    let status = agent.end_with(libc::SIGINT, "uprof agent");
    assert!(status.success(), "uprof agent exited with {status}");
    drop(prom);
    let left = leftovers::take_leftovers(dir.path());
    assert!(left.is_empty(), "left behind: {left:#?}");
}

/// The samples of `family` (e.g. `uprof_wait_duration_seconds_count`) in a /metrics answer,
/// by their labels.
fn samples(body: &str, family: &str) -> BTreeMap<String, u64> {
    body.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(family)?.strip_prefix('{')?;
            let (labels, value) = rest.rsplit_once("} ")?;
            Some((labels.to_owned(), value.parse().unwrap()))
        })
        .collect()
}

/// Two agents trace the same processes, one counting in the kernel, the other from the
/// stream: once both have counted every wait the programs say they made, their wait counts
/// per thread, syscall and outcome, and their tick counts, are the same.
#[test]
fn kernel_and_stream_aggregation_count_the_same_waits() {
    let Some(_serial) = ebpf_turn() else {
        return;
    };
    leftovers::adopt_orphans();
    let scenarios: Vec<Scenario> = [
        &["ready"][..],
        &["syscalls"],
        &["eintr"],
        &["poll"],
        &["threads"],
        &["timeouts", "300"],
    ]
    .iter()
    .map(|args| Scenario::start(args))
    .collect();
    let pids: Vec<String> = scenarios.iter().map(|s| s.pid.to_string()).collect();
    let agents: Vec<(String, Reaped)> = [Aggregation::Kernel, Aggregation::Stream]
        .into_iter()
        .map(|aggregation| agent_of(&pids, aggregation))
        .collect();
    let said: Vec<Value> = scenarios.into_iter().map(Scenario::run).collect();
    // Before 5.11 epoll_pwait2 fails with ENOSYS before any hook: no tracer sees those calls.
    let traceable = |syscall: &str| syscall != "epoll_pwait2" || kernel_has_epoll_pwait2();
    let made: u64 = said
        .iter()
        .flat_map(|s| s["threads"].as_array().unwrap())
        .flat_map(|t| {
            WAIT_SYSCALLS
                .iter()
                .filter(|s| traceable(s))
                .map(|s| t["calls"][*s].as_u64().unwrap_or(0))
        })
        .sum();
    assert!(made > 300, "the scenarios made {made} waits");
    let scrape = |listen: &str| get(listen, "/metrics").unwrap().1;
    let waits = |body: &str| samples(body, "uprof_wait_duration_seconds_count");
    for (listen, _) in &agents {
        // Until both have read every record; a count that never gets there is shown.
        let start = Instant::now();
        let mut counted = waits(&scrape(listen));
        while counted.values().sum::<u64>() != made && start.elapsed() < Duration::from_secs(20) {
            sleep(Duration::from_millis(20));
            counted = waits(&scrape(listen));
        }
        assert_eq!(
            counted.values().sum::<u64>(),
            made,
            "{listen}: {counted:#?}"
        );
    }
    let (kernel, stream) = (scrape(&agents[0].0), scrape(&agents[1].0));
    assert_eq!(waits(&kernel), waits(&stream), "wait counts");
    let ticks = |body: &str| samples(body, "uprof_busy_duration_seconds_count");
    assert_eq!(ticks(&kernel), ticks(&stream), "tick counts");
    assert!(!ticks(&kernel).is_empty());
    for body in [&kernel, &stream] {
        let lost = body
            .lines()
            .find_map(|l| l.strip_prefix("uprof_lost_records_total "))
            .unwrap();
        assert_eq!(lost, "0", "records lost");
    }
    for (listen, mut agent) in agents {
        let status = agent.end_with(libc::SIGINT, "uprof agent");
        assert!(
            status.success(),
            "uprof agent on {listen} exited with {status}"
        );
    }
}

/// Whether this kernel has the epoll_pwait2 syscall: a call with a bad fd fails with EBADF,
/// not ENOSYS.
fn kernel_has_epoll_pwait2() -> bool {
    // SAFETY: no memory is passed (null pointers, no events); the fd is invalid.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_epoll_pwait2,
            -1,
            std::ptr::null_mut::<libc::epoll_event>(),
            1,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<libc::sigset_t>(),
            0,
        )
    };
    ret == -1 && std::io::Error::last_os_error().raw_os_error() != Some(libc::ENOSYS)
}

/// A thread forked while traced whose only calls are waits that time out is named by no
/// streamed record in kernel mode without wake-ups: its waits are still counted while it
/// runs, and all of them once it ended.
#[test]
fn a_quiet_threads_waits_are_counted_while_it_runs() {
    let Some(_serial) = ebpf_turn() else {
        return;
    };
    leftovers::adopt_orphans();
    // About 3.5 s of 1 ms timeouts.
    let mut scenario = Scenario::start(&["quiet-thread", "3000"]);
    let pid = scenario.pid;
    let listen = format!("127.0.0.1:{}", free_port());
    let mut agent = start_uprof(&[
        "agent".into(),
        "-p".into(),
        pid.to_string(),
        "--pid-labels".into(),
        "--aggregation".into(),
        Aggregation::Kernel.arg().into(),
        // No wake-up records either: those would name the thread.
        "--no-wakeups".into(),
        "--listen".into(),
        listen.clone(),
    ]);
    scenario.trigger();
    let ours = format!(r#"pid="{pid}""#);
    let main = format!(r#"tid="{pid}""#);
    let quiet = |body: &str| -> u64 {
        samples(body, "uprof_wait_duration_seconds_count")
            .into_iter()
            .filter(|(labels, _)| labels.contains(&ours) && !labels.contains(&main))
            .map(|(_, n)| n)
            .sum()
    };
    support::real::wait_for("the quiet thread's first waits", || {
        quiet(&get(&listen, "/metrics").unwrap().1) > 0
    });
    assert!(scenario.running(), "counted only after the scenario ended");
    let said = scenario.finish();
    let thread = &said["threads"][1];
    assert_eq!(thread["timeouts"], 3000);
    support::real::wait_for("all 3000 waits counted", || {
        quiet(&get(&listen, "/metrics").unwrap().1) == 3000
    });
    let status = agent.end_with(libc::SIGINT, "uprof agent");
    assert!(status.success(), "uprof agent exited with {status}");
}

#[test]
fn record_metrics_serves_the_recordings_figures_while_it_records() {
    let Some(_serial) = ebpf_turn() else {
        return;
    };
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

/// The resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap()
}

/// Processes that start and exit one after another under `--comm`: each is picked up within the
/// rescan period and its figures are exactly its own; each one's series go once the staleness
/// period has passed after its exit; the agent's memory does not grow with the churn.
#[test]
fn processes_that_come_and_go_under_comm_are_picked_up_and_dropped() {
    let Some(_serial) = ebpf_turn() else {
        return;
    };
    let listen = format!("127.0.0.1:{}", free_port());
    let mut agent = start_uprof(&[
        "agent".into(),
        "--comm".into(),
        "epoll-scenario".into(),
        "--pid-labels".into(),
        "--stale-after".into(),
        "2s".into(),
        "--listen".into(),
        listen.clone(),
    ]);
    let mut log = BufReader::new(agent.0.stderr.take().unwrap());
    let metrics = || get(&listen, "/metrics").unwrap().1;
    let timeouts = |body: &str, pid: u32| {
        let prefix = format!(
            r#"uprof_wait_duration_seconds_count{{process="epoll-scenario",thread="epoll-scenario",pid="{pid}",tid="{pid}",syscall="epoll_wait",outcome="timeout"}} "#
        );
        body.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .map(|v| v.parse::<u64>().unwrap())
    };
    let mut rss = Vec::new();
    let mut exited = Vec::new();
    for round in 0..10u64 {
        let waits = 5 + round;
        let scenario = Scenario::start(&["timeouts", &waits.to_string()]);
        let pid = scenario.pid;
        line_starting(
            &mut log,
            &format!("uprof: tracing pid {pid} (epoll-scenario)"),
        );
        let said = scenario.run();
        let ended = std::time::Instant::now();
        assert_eq!(said["threads"][0]["timeouts"], waits);
        support::real::wait_for("the figures of a process that came and went", || {
            let seen = timeouts(&metrics(), pid);
            assert!(
                seen.is_none_or(|seen| seen <= waits),
                "pid {pid}: {seen:?} timeouts, said {waits}"
            );
            seen == Some(waits) || {
                assert!(ended.elapsed().as_secs() < 2, "pid {pid}: {seen:?}");
                false
            }
        });
        exited.push((pid, ended));
        // Those that exited more than the staleness period (and the 1 s sweep) ago are gone.
        let body = metrics();
        for &(old, ended) in &exited {
            if ended.elapsed().as_millis() > 3_200 {
                assert_eq!(
                    timeouts(&body, old),
                    None,
                    "pid {old} outlived its staleness"
                );
            }
        }
        rss.push(rss_kib(agent.pid()));
    }
    std::thread::sleep(std::time::Duration::from_millis(3_500));
    let body = metrics();
    assert!(body.contains("\nuprof_label_sets 0\n"), "{body}");
    // The first rounds fill the allocator's pools; later ones must not grow past them.
    let (early, late) = (rss[2], *rss.last().unwrap());
    assert!(
        late <= early + 1024,
        "agent RSS grew from {early} KiB to {late} KiB: {rss:?}"
    );
    let status = agent.end_with(libc::SIGTERM, "uprof agent");
    assert!(status.success(), "uprof agent exited with {status}");
}

/// Where cgroup v2 is mounted.
fn cgroup2_root() -> std::path::PathBuf {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    mounts
        .lines()
        .find_map(|l| {
            let mut fields = l.split(' ');
            let path = fields.nth(1)?;
            (fields.next()? == "cgroup2").then(|| path.into())
        })
        .expect("no cgroup v2 hierarchy is mounted")
}

/// A process moved into a cgroup is picked up through `--cgroup`; removing the cgroup while
/// the agent watches it is a warning, not a crash.
#[test]
fn a_cgroups_processes_are_traced_and_its_removal_is_survived() {
    let Some(_serial) = ebpf_turn() else {
        return;
    };
    let root = cgroup2_root();
    let cgroup = root.join(format!("uprof-agent-test-{}", std::process::id()));
    std::fs::create_dir(&cgroup).unwrap();
    let scenario = Scenario::start(&["timeouts", "4"]);
    std::fs::write(cgroup.join("cgroup.procs"), scenario.pid.to_string()).unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut agent = start_uprof(&[
        "agent".into(),
        "--cgroup".into(),
        cgroup.to_string_lossy().into_owned(),
        "--pid-labels".into(),
        "--listen".into(),
        listen.clone(),
    ]);
    let mut log = BufReader::new(agent.0.stderr.take().unwrap());
    line_starting(&mut log, "uprof: agent serving");
    let pid = scenario.pid;
    let said = scenario.run();
    let expected = format!(
        r#"uprof_wait_duration_seconds_count{{process="epoll-scenario",thread="epoll-scenario",pid="{pid}",tid="{pid}",syscall="epoll_wait",outcome="timeout"}} {}"#,
        said["threads"][0]["timeouts"]
    );
    support::real::wait_for("the cgroup's process's figures", || {
        get(&listen, "/metrics")
            .unwrap()
            .1
            .lines()
            .any(|l| l == expected)
    });
    std::fs::remove_dir(&cgroup).unwrap();
    let warning = line_starting(&mut log, "uprof: warning: cgroup ");
    assert!(warning.contains("cannot be read any more"), "{warning}");
    assert_eq!(get(&listen, "/metrics").unwrap().0, 200);
    let status = agent.end_with(libc::SIGTERM, "uprof agent");
    assert!(status.success(), "uprof agent exited with {status}");
}
