//! Real servers under load: redis and nginx from Debian's packages. In each, uprof's wait-call counts equal those `perf stat` counts
//! from the same tracepoints in the same run, thread by thread and syscall by syscall (see
//! `support::real` for how both attach and what is compared).
//!
//! A missing server or perf fails these tests (scripts/setup.sh installs them); they never
//! skip.
mod support;

use std::{
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpListener, TcpStream},
    process::{Command, Stdio},
    thread,
    time::Duration,
};

use support::{
    SERIAL,
    real::{Strays, Traced, children_of, parse_per_thread, spawn, wait_for},
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

const NGINX_WORKERS: usize = 4;

/// nginx with several worker processes sharing one listening socket (no `reuseport`, so
/// every idle worker waits on it: the thundering herd nginx tames with `EPOLLEXCLUSIVE`),
/// under many short connections from several clients at once.
#[test]
fn nginx_workers_wait_counts_equal_perf_stat_per_thread() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
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
    let threads = traced.finish();
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

/// An address on 127.0.0.1 that nothing listens on (the kernel's pick of a free port).
fn free_loopback_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
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
