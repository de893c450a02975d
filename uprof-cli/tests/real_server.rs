//! Real servers under load: redis and nginx from Debian's packages, node (libuv) and a tokio
//! program on its multi-threaded runtime. In each, uprof's wait-call counts equal those
//! `perf stat` counts from the same tracepoints in the same run, thread by thread and
//! syscall by syscall (see `support::real` for how both attach and what is compared). Their
//! findings: no false alarms, a planted slow callback's long ticks, and the thundering herd
//! of a node cluster whose workers share the listening socket (docs/findings.md).
//!
//! A missing server or perf fails these tests (scripts/setup.sh installs them); they never
//! skip.
mod support;

use std::{
    collections::BTreeMap,
    io::{BufReader, Read as _, Write as _},
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use support::{
    evidence, findings_of, line_starting,
    real::{
        Reaped, Recorder, Strays, ThreadWaits, Traced, assert_no_alarms, children_of,
        idle_threads_in_epoll, parse_per_thread, spawn, wait_for,
    },
    run, serial, testprog,
};

#[test]
fn redis_wait_counts_equal_perf_stat() {
    if !support::may_load_ebpf() {
        return;
    }
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let (mut redis, socket) = redis_on_a_unix_socket(dir.path());
    let traced = Traced::attach(dir.path(), &[redis.pid()]);

    run(Command::new("redis-benchmark")
        .arg("-s")
        .arg(&socket)
        .args(["-q", "-t", "ping_mbulk,set,get", "-n", "20000", "-c", "20"]));

    // Both tracers end with the target: redis exits on SIGTERM after its current loop.
    redis.end_with(libc::SIGTERM, "redis-server");
    let (threads, report) = traced.finish_with_report();
    assert_no_alarms(&report, "redis under redis-benchmark", &[]);
    let total: u64 = threads.iter().map(|t| t.calls()).sum();
    assert!(
        total > 1000,
        "redis-benchmark made redis wait many times, not {total}"
    );
}

/// `cargo xtask soak`: a redis-server kept busy for `UPROF_SOAK_SECONDS` (an hour by default)
/// under one `uprof record` with the default ring buffer: uprof's memory stays flat, no record
/// is lost, and its wait counts equal perf's at the end.
#[test]
#[ignore = "an hour long: `cargo xtask soak` runs it"]
fn redis_soak_keeps_memory_flat_loses_nothing_and_counts_equal_perf_stat() {
    let seconds: u64 = std::env::var("UPROF_SOAK_SECONDS").map_or(3600, |s| {
        s.parse()
            .expect("UPROF_SOAK_SECONDS is a number of seconds")
    });
    if !support::may_load_ebpf() {
        return;
    }
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let (mut redis, socket) = redis_on_a_unix_socket(dir.path());
    let traced = Traced::attach(dir.path(), &[redis.pid()]);
    // Looping (`-l`) until killed, reconnecting its clients at each round.
    let load = spawn(
        Command::new("redis-benchmark")
            .arg("-s")
            .arg(&socket)
            .args([
                "-q",
                "-t",
                "ping_mbulk,set,get",
                "-n",
                "100000",
                "-c",
                "20",
                "-l",
            ])
            .stdout(Stdio::null()),
        "redis-benchmark is part of redis-tools, which scripts/setup.sh installs",
    );
    let started = Instant::now();
    let mut rss_kib = Vec::new();
    while started.elapsed() < Duration::from_secs(seconds) {
        rss_kib.push(traced.uprof_rss_kib());
        thread::sleep(Duration::from_secs(1));
    }
    drop(load);
    redis.end_with(libc::SIGTERM, "redis-server");
    let threads = traced.finish();
    let waits: u64 = threads.iter().map(|t| t.calls()).sum();
    let tenth = rss_kib.len().div_ceil(10);
    let peak = |part: &[u64]| part.iter().copied().max().unwrap_or(0);
    let (first, last) = (
        peak(&rss_kib[..tenth]),
        peak(&rss_kib[rss_kib.len() - tenth..]),
    );
    println!(
        "soak: {seconds} s, {waits} waits ({:.0}/s), 0 lost, counts equal perf stat's; \
         uprof VmRSS: peak {} KiB in the first tenth, {} KiB in the last, {} KiB overall",
        waits as f64 / seconds as f64,
        first,
        last,
        peak(&rss_kib)
    );
    // Flat: the last tenth's peak within 10 % (and 4 MiB of allocator slack) of the first's.
    assert!(
        last <= first + first / 10 + 4096,
        "uprof's RSS grew from {first} KiB to {last} KiB over the soak"
    );
}

/// tickloop's echo server under its load generator: `slow_every` > 0 plants a callback that
/// blocks the loop 50 ms every that many inputs. Returns uprof's report.
fn tickloop_echo_report(slow_every: u64) -> serde_json::Value {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let (mut server, addr) = workspace_server(
        "tickloop-echo",
        &["--port", "0", "--slow-every", &slow_every.to_string()],
    );
    let recorder = Recorder::start(dir.path(), &[server.pid()]);
    run(Command::new(testprog("tickloop-loadgen")).args([
        "--port",
        &addr.port().to_string(),
        "--connections",
        "16",
        "--duration",
        "2",
        "--warmup",
        "0",
    ]));
    server.end_with(libc::SIGTERM, "tickloop-echo");
    recorder.finish()
}

#[test]
fn real_server_tickloop_echo_under_load_raises_no_alarm() {
    if !support::may_load_ebpf() {
        return;
    }
    let report = tickloop_echo_report(0);
    assert_no_alarms(&report, "tickloop-echo under tickloop-loadgen", &[]);
}

#[test]
fn real_server_tickloop_echo_with_a_slow_callback_has_long_ticks() {
    if !support::may_load_ebpf() {
        return;
    }
    let report = tickloop_echo_report(500);
    let ticks = findings_of(&report, "long-tick");
    let tick = ticks
        .first()
        .unwrap_or_else(|| panic!("{:#}", report["findings"]));
    let longest = evidence(tick, "longest_tick");
    assert!(
        longest >= 50e6,
        "the planted callback blocks 50 ms: {tick:#}"
    );
}

const NGINX_WORKERS: usize = 4;

/// nginx with several worker processes sharing one listening socket (no `reuseport`, so
/// every idle worker waits on it: the thundering herd nginx tames with `EPOLLEXCLUSIVE`),
/// under many short connections from several clients at once.
#[test]
fn nginx_workers_wait_counts_equal_perf_stat_per_thread() {
    if !support::may_load_ebpf() {
        return;
    }
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().display();
    let addr = free_loopback_addr();
    let conf = dir.path().join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off;
master_process on;
worker_processes {NGINX_WORKERS};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen {addr};
        location / {{ return 200 \"ok\\n\"; }}
    }}
}}
"
        ),
    )
    .unwrap();
    let mut nginx = spawn(
        Command::new("nginx")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            // A worker left behind by a failed test must not hold the test's output open.
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
        "nginx is part of nginx-light, which scripts/setup.sh installs",
    );
    let master = nginx.pid();
    let mut workers = Vec::new();
    wait_for("nginx's workers", || {
        workers = children_of(master);
        workers.len() == NGINX_WORKERS && TcpStream::connect(addr).is_ok()
    });
    let mut pids = vec![master];
    pids.extend(&workers);
    let _strays = Strays(pids.clone());
    let traced = Traced::attach(dir.path(), &pids);

    http_load(addr, 8, 150);

    // Fast shutdown: the master stops the workers, reaps them and exits; both tracers end
    // when the last of their targets is gone.
    let status = nginx.end_with(libc::SIGTERM, "nginx");
    assert!(
        status.success(),
        "nginx exited with {status}: {}",
        std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
    );
    let (threads, report) = traced.finish_with_report();
    // Workers sharing one listening socket (no `reuseport`): one woken for a connection
    // another already accepted sleeps again, a true spurious wake-up (docs/findings.md).
    assert_no_alarms(&report, "nginx", &["spurious-wakeups"]);
    for worker in workers {
        let calls: u64 = threads
            .iter()
            .filter(|t| t.pid == worker)
            .map(|t| t.calls())
            .sum();
        assert!(
            calls >= 20,
            "every nginx worker took connections and so waited many times; worker {worker} \
             waited {calls} times"
        );
    }
}

const NODE_LOOPS: usize = 3;

/// Echo servers on node's main event loop and on those of two worker threads (each a libuv
/// loop of its own). All print their port; the main thread prints `listening on PORT…` once
/// every loop listens.
const NODE_ECHO_THREADS: &str = r#"'use strict';
const net = require('net');
const { Worker, isMainThread, parentPort } = require('worker_threads');
function serve(listening) {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('data', (data) => socket.write(data));
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1', () => listening(server.address().port));
}
if (isMainThread) {
  const loops = Number(process.argv[2]);
  const ports = [];
  const listening = (port) => {
    ports.push(port);
    if (ports.length === loops) process.stdout.write(`listening on ${ports.join(' ')}\n`);
  };
  serve(listening);
  for (let i = 1; i < loops; i++) new Worker(__filename).on('message', listening);
  process.on('SIGTERM', () => process.exit(0));
} else {
  serve((port) => parentPort.postMessage(port));
}
"#;

/// node: libuv waits with `epoll_pwait` (node 20's libuv; older ones used `epoll_wait`), on the
/// main thread and on each worker thread.
#[test]
fn node_wait_counts_equal_perf_stat_per_thread() {
    if !support::may_load_ebpf() {
        return;
    }
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("echo-threads.js");
    std::fs::write(&script, NODE_ECHO_THREADS).unwrap();
    let mut node = spawn(
        Command::new("node")
            .arg(&script)
            .arg(NODE_LOOPS.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped()),
        "node is part of nodejs, which scripts/setup.sh installs",
    );
    let ports = listening_line(&mut node);
    let addrs: Vec<SocketAddr> = ports
        .split(' ')
        .map(|p| SocketAddr::from(([127, 0, 0, 1], p.parse().unwrap())))
        .collect();
    assert_eq!(addrs.len(), NODE_LOOPS, "one port per loop: {ports}");
    let traced = Traced::attach(dir.path(), &[node.pid()]);

    echo_load(&addrs, 2, 300);

    // Killed while idle, its loops die blocked in epoll_pwait: calls whose entry perf counted
    // and that uprof reports unfinished, the case a clean exit never shows.
    wait_for("node to be idle, its loops blocked in epoll_pwait", || {
        idle_threads_in_epoll(node.pid()).is_some_and(|n| n >= NODE_LOOPS)
    });
    node.end_with(libc::SIGKILL, "node");
    let threads = traced.finish();
    assert_loops_waited(&threads, NODE_LOOPS, 100, "node's event loops");
    let unfinished: u64 = threads.iter().map(|t| t.unfinished).sum();
    assert!(
        unfinished >= NODE_LOOPS as u64,
        "node's {NODE_LOOPS} loops died blocked, yet uprof reports {unfinished} unfinished waits"
    );
}

const CLUSTER_WORKERS: usize = 4;
/// New connections, one at a time: each is a herd when the workers share the listening
/// socket, and the rule wants `herd-events` (10) herds of one fd's registration, whichever
/// worker's it is credited to (docs/findings.md).
const CLUSTER_CONNECTIONS: usize = 60;

/// node's cluster module: a primary forking `CLUSTER_WORKERS` workers that each serve an echo
/// on the same port. Once every worker listens the primary prints
/// `listening on PORT PID:FD...`: each worker's pid and the fd of the listening socket in it
/// (-1 when the primary owns the socket).
const NODE_CLUSTER_ECHO: &str = r#"'use strict';
const cluster = require('cluster');
const net = require('net');
if (cluster.isPrimary) {
  const workers = Number(process.argv[2]);
  const listeners = [];
  for (let i = 0; i < workers; i++) {
    const worker = cluster.fork();
    worker.on('message', ({ port, fd }) => {
      listeners.push(`${worker.process.pid}:${fd}`);
      if (listeners.length === workers) {
        process.stdout.write(`listening on ${port} ${listeners.join(' ')}\n`);
      }
    });
  }
  process.on('SIGTERM', () => {
    for (const worker of Object.values(cluster.workers)) worker.kill();
    process.exit(0);
  });
} else {
  const server = net.createServer((socket) => {
    socket.on('data', (data) => socket.write(data));
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1', () => {
    const fd = server._handle.fd;
    process.send({ port: server.address().port, fd: fd === undefined ? -1 : fd });
  });
}
"#;

/// A node cluster under `NODE_CLUSTER_SCHED_POLICY=policy`, traced (primary and workers)
/// while `CLUSTER_CONNECTIONS` connections arrive one at a time, each far enough from the
/// last for every worker to be blocked in `epoll_pwait` again. Returns uprof's report and the
/// workers' listening fds by pid (-1 where the primary owns the socket).
fn node_cluster_report(policy: &str) -> (serde_json::Value, BTreeMap<u32, i64>) {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("cluster-echo.js");
    std::fs::write(&script, NODE_CLUSTER_ECHO).unwrap();
    let mut node = spawn(
        Command::new("node")
            .arg(&script)
            .arg(CLUSTER_WORKERS.to_string())
            .env("NODE_CLUSTER_SCHED_POLICY", policy)
            .stdin(Stdio::null())
            .stdout(Stdio::piped()),
        "node is part of nodejs, which scripts/setup.sh installs",
    );
    let line = listening_line(&mut node);
    let mut words = line.split(' ');
    let addr = SocketAddr::from(([127, 0, 0, 1], words.next().unwrap().parse().unwrap()));
    let fds: BTreeMap<u32, i64> = words
        .map(|listener| {
            let (pid, fd) = listener.split_once(':').unwrap();
            (pid.parse().unwrap(), fd.parse().unwrap())
        })
        .collect();
    let workers: Vec<u32> = fds.keys().copied().collect();
    assert_eq!(workers, children_of(node.pid()), "node's workers: {line}");
    let mut pids = vec![node.pid()];
    pids.extend(&workers);
    let _strays = Strays(pids.clone());
    let traced = Traced::attach(dir.path(), &pids);

    for _ in 0..CLUSTER_CONNECTIONS {
        wait_for("node's workers to be blocked in epoll_pwait", || {
            workers
                .iter()
                .all(|&w| idle_threads_in_epoll(w).is_some_and(|n| n >= 1))
        });
        echo_once(addr);
    }

    let status = node.end_with(libc::SIGTERM, "node's cluster primary");
    assert!(status.success(), "node's primary exited with {status}");
    let (_, report) = traced.finish_with_report();
    assert!(
        !report["herds"].is_null(),
        "no wake-up figures in the {} tier, where a herd cannot be seen",
        report["tier"]
    );
    let kinds: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{}: {}", f["kind"], f["summary"]))
        .collect();
    println!("herds: {}; findings: {kinds:?}", report["herds"]);
    (report, fds)
}

/// One connection that sends a message, reads its echo and closes.
fn echo_once(addr: SocketAddr) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut echoed = [0u8; 5];
    stream.write_all(b"hello").unwrap();
    stream.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"hello", "echo from {addr}");
}

/// Workers that share the listening socket (`SCHED_NONE`) each wait on it in their own epoll
/// instance, without `EPOLLEXCLUSIVE` (libuv does not set it): each new connection wakes
/// several of them, one accepts it and the others find nothing.
#[test]
fn real_server_node_cluster_sharing_its_socket_is_a_thundering_herd() {
    if !support::may_load_ebpf() {
        return;
    }
    let (report, fds) = node_cluster_report("none");
    // True as well: the worker the kernel wakes first takes most connections, as node's
    // cluster documentation warns of this policy (docs/findings.md).
    let true_of_it = ["thundering-herd", "imbalanced-workers"];
    assert_no_alarms(&report, "node cluster, SCHED_NONE", &true_of_it);
    let workers: Vec<u32> = fds.keys().copied().collect(); // sorted
    let herds = findings_of(&report, "thundering-herd");
    assert!(!herds.is_empty(), "no herd: {:#}", report["findings"]);
    let mut total = 0.0;
    for herd in herds {
        println!("{}", herd["summary"]);
        let at = &herd["where"];
        let pid = at["pid"].as_u64().unwrap() as u32;
        let fd = fds
            .get(&pid)
            .unwrap_or_else(|| panic!("a herd outside the workers {fds:?}: {herd:#}"));
        assert_eq!(
            at["fd"].as_i64(),
            Some(*fd),
            "the listening socket: {herd:#}"
        );
        // Every worker was blocked on the socket when each connection came.
        let mut waiters: Vec<u32> = at["threads"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["pid"].as_u64().unwrap() as u32)
            .collect();
        waiters.sort_unstable();
        assert_eq!(waiters, workers, "{herd:#}");
        assert!(evidence(herd, "waiters_per_herd") >= 2.0, "{herd:#}");
        total += evidence(herd, "herds");
    }
    // One readiness of the listening socket per connection, approximate in this tier: most
    // connections are seen as herds, none twice.
    let connections = CLUSTER_CONNECTIONS as f64;
    assert!(
        total >= connections * 0.75 && total <= connections,
        "{total} herds for {CLUSTER_CONNECTIONS} connections: {:#}",
        report["findings"]
    );
}

/// The control: under the default policy (`SCHED_RR`) the primary alone accepts and hands
/// each connection to a worker over its IPC channel; no worker waits on the listening socket.
#[test]
fn real_server_node_cluster_handing_connections_over_has_no_herd() {
    if !support::may_load_ebpf() {
        return;
    }
    let (report, fds) = node_cluster_report("rr");
    assert_no_alarms(&report, "node cluster, SCHED_RR", &[]);
    assert!(
        fds.values().all(|&fd| fd == -1),
        "the primary owns the socket: {fds:?}"
    );
    assert_eq!(report["herds"]["events"], 0, "{:#}", report["herds"]);
    assert!(
        findings_of(&report, "thundering-herd").is_empty(),
        "{:#}",
        report["findings"]
    );
}

const TOKIO_WORKERS: usize = 3;

/// tokio's multi-threaded runtime: whichever worker thread parks holding the I/O driver
/// waits in `epoll_wait`, so the waits are spread over the workers.
#[test]
fn tokio_wait_counts_equal_perf_stat_per_thread() {
    if !support::may_load_ebpf() {
        return;
    }
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    // It starts its workers before it prints `listening on ADDR`.
    let (mut server, addr) = workspace_server(
        "tokio-mt-echo",
        &["--port", "0", "--workers", &TOKIO_WORKERS.to_string()],
    );
    let traced = Traced::attach(dir.path(), &[server.pid()]);

    echo_load(&[addr], 2 * TOKIO_WORKERS, 300);

    let status = server.end_with(libc::SIGTERM, "tokio-mt-echo");
    assert!(status.success(), "tokio-mt-echo exited with {status}");
    let threads = traced.finish();
    // Which worker parks on the driver is tokio's choice: on a loaded machine one of them
    // may sit out most of the run (seen once beside two busy VMs). Two busy ones are enough
    // to make the per-thread comparison a multi-threaded one.
    assert_loops_waited(&threads, TOKIO_WORKERS - 1, 20, "tokio's worker threads");
}

/// A redis-server saving nothing, serving on a Unix socket in `dir` (returned) once it is up.
fn redis_on_a_unix_socket(dir: &Path) -> (Reaped, PathBuf) {
    let socket = dir.join("redis.sock");
    let redis = spawn(
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
    (redis, socket)
}

/// An address on 127.0.0.1 that nothing listens on (the kernel's pick of a free port).
fn free_loopback_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A server program of the workspace, started with `args`, and the address it says it listens
/// on (once it says so).
fn workspace_server(program: &str, args: &[&str]) -> (Reaped, SocketAddr) {
    let mut server = spawn(
        Command::new(testprog(program))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped()),
        &format!("{program} is built with the workspace"),
    );
    let addr = listening_line(&mut server).parse().unwrap();
    (server, addr)
}

/// What follows `listening on ` in the first line the server prints that starts so.
fn listening_line(server: &mut Reaped) -> String {
    let mut out = BufReader::new(server.0.stdout.take().unwrap());
    let line = line_starting(&mut out, "listening on ");
    // The server's later output (a report on exit) must not block it on a full pipe.
    thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    line.trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned()
}

/// At least `threads` threads waited at least `floor` times each: the load reached them all.
fn assert_loops_waited(waits: &[ThreadWaits], threads: usize, floor: u64, what: &str) {
    let busy = waits.iter().filter(|t| t.calls() >= floor).count();
    let seen: Vec<String> = waits
        .iter()
        .map(|t| format!("{}: {}", t.tid, t.calls()))
        .collect();
    assert!(
        busy >= threads,
        "{what}: {threads} threads should have waited at least {floor} times each; waits by \
         thread: {}",
        seen.join(", ")
    );
}

/// `clients` threads at once, each making `requests` HTTP/1.1 `GET /` requests, each on a
/// new connection (`Connection: close`): every connection is a new accept, for whichever
/// worker the kernel wakes.
fn http_load(addr: SocketAddr, clients: usize, requests: usize) {
    let clients: Vec<_> = (0..clients)
        .map(|_| {
            thread::spawn(move || {
                for _ in 0..requests {
                    let mut stream = TcpStream::connect(addr).unwrap();
                    stream
                        .set_read_timeout(Some(Duration::from_secs(10)))
                        .unwrap();
                    stream
                        .write_all(
                            b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                        )
                        .unwrap();
                    let mut response = Vec::new();
                    stream.read_to_end(&mut response).unwrap();
                    assert!(
                        response.starts_with(b"HTTP/1.1 200 ")
                            && response.ends_with(b"\r\n\r\nok\n"),
                        "unexpected response: {}",
                        String::from_utf8_lossy(&response)
                    );
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
}

/// `connections` connections to each of `addrs` at once, each sending `round_trips` messages
/// and reading each one's echo before sending the next.
fn echo_load(addrs: &[SocketAddr], connections: usize, round_trips: usize) {
    let clients: Vec<_> = addrs
        .iter()
        .flat_map(|&addr| (0..connections).map(move |_| addr))
        .map(|addr| {
            thread::spawn(move || {
                let mut stream = TcpStream::connect(addr).unwrap();
                stream.set_nodelay(true).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let message = [b'x'; 64];
                let mut echoed = [0u8; 64];
                for _ in 0..round_trips {
                    stream.write_all(&message).unwrap();
                    stream.read_exact(&mut echoed).unwrap();
                    assert_eq!(echoed, message, "echo from {addr}");
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
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
