//! The server binaries: echo and HTTP on every backend, mio and tokio echo (both runtimes);
//! each must answer correctly, survive load, and exit cleanly on SIGTERM.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use tickloop_apps::loadgen::{self, LoadConfig, Wire};
use tickloop_apps::protocol::http_response;
use tickloop_apps::server_process::ServerProcess;

const BACKENDS: [&str; 4] = ["epoll", "epoll-et", "poll", "select"];

fn tickloop_echo(backend: &str) -> ServerProcess {
    ServerProcess::spawn(
        Path::new(env!("CARGO_BIN_EXE_tickloop-echo")),
        &["--backend", backend],
    )
    .unwrap()
}

/// Sends a payload far larger than socket buffers, so the server must hold back output and
/// stop reading until the client drains it, and checks every byte comes back in order.
fn assert_echoes_large_payload(server: &ServerProcess) {
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let payload: Vec<u8> = (0..4 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let mut writer = stream.try_clone().unwrap();
    let sent = payload.clone();
    let sender = std::thread::spawn(move || writer.write_all(&sent).unwrap());
    let mut echoed = vec![0u8; payload.len()];
    stream.read_exact(&mut echoed).unwrap();
    sender.join().unwrap();
    assert!(echoed == payload, "echoed bytes differ from the payload");
}

#[test]
fn tickloop_echo_echoes_and_exits_cleanly_on_every_backend() {
    for backend in BACKENDS {
        let server = tickloop_echo(backend);
        assert_echoes_large_payload(&server);
        let report = server.shutdown().unwrap();
        assert_eq!(report.server, format!("tickloop-{backend}"));
        let stats = report.loop_stats.unwrap();
        assert!(stats.io_callbacks > 0);
        assert_eq!(report.wait_returns, Some(stats.polls));
    }
}

#[test]
fn mio_and_tokio_echo_echo_and_exit_cleanly() {
    for (binary, counts_waits) in [
        (env!("CARGO_BIN_EXE_mio-echo"), true),
        (env!("CARGO_BIN_EXE_tokio-echo"), false),
        (env!("CARGO_BIN_EXE_tokio-mt-echo"), false),
    ] {
        let mut server = ServerProcess::spawn(Path::new(binary), &[]).unwrap();
        // A report asked for as soon as the address is announced: the handler is in place.
        ServerProcess::request_report(server.pid());
        assert_eq!(server.read_report().unwrap().open_connections, 0);
        assert_echoes_large_payload(&server);
        let report = server.shutdown().unwrap();
        assert!(report.loop_stats.is_none());
        // At least one wait for the connection and one for its data.
        let waits = report.wait_returns;
        assert_eq!(
            waits.is_some_and(|n| n >= 2),
            counts_waits,
            "{binary}: {waits:?}"
        );
    }
}

/// Under closed-loop load with idle connections, requests are answered without errors and
/// the server holds every connection, active and idle, when the measurement window opens.
#[test]
fn loadgen_against_every_backend() {
    for backend in BACKENDS {
        let mut server = tickloop_echo(backend);
        let config = LoadConfig {
            addr: server.addr(),
            wire: Wire::Echo { message_size: 32 },
            active: 4,
            idle: 50,
            rate: None,
            warmup: Duration::from_millis(100),
            duration: Duration::from_millis(300),
            requests: None,
        };
        let pid = server.pid();
        let load = loadgen::run(&config, move |_| ServerProcess::request_report(pid)).unwrap();
        assert!(load.requests > 0, "{backend}: {load}");
        assert_eq!(load.errors, 0, "{backend}: {load}");
        let at_start = server.read_report().unwrap();
        assert_eq!(at_start.open_connections, 54, "{backend}");
        // At the window's end the client is already closing, so the count may be lower.
        server.read_report().unwrap();
        server.shutdown().unwrap();
    }
}

/// With a request count, exactly that many requests are sent and answered, warm-up included,
/// and the run ends with the last answer rather than at the end of its duration.
#[test]
fn loadgen_sends_exactly_the_requests_asked_for() {
    for requests in [1, 3, 1000] {
        let server = tickloop_echo("epoll");
        let config = LoadConfig {
            addr: server.addr(),
            wire: Wire::Echo { message_size: 32 },
            active: 4,
            idle: 0,
            rate: None,
            warmup: Duration::ZERO,
            duration: Duration::from_secs(60),
            requests: Some(requests),
        };
        let load = loadgen::run(&config, |_| {}).unwrap();
        assert_eq!(load.requests, requests, "{load}");
        assert_eq!(load.errors, 0, "{load}");
        assert!(
            load.seconds < 30.0,
            "the run waited for its duration: {load}"
        );
        server.shutdown().unwrap();
    }
}

#[test]
fn http_server_keeps_alive_answers_pipelined_requests_and_honours_close() {
    for backend in BACKENDS {
        let server = ServerProcess::spawn(
            Path::new(env!("CARGO_BIN_EXE_tickloop-http")),
            &["--backend", backend],
        )
        .unwrap();
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let request = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
        stream.write_all(request.repeat(3).as_bytes()).unwrap();
        let expected = http_response().repeat(3);
        let mut answers = vec![0u8; expected.len()];
        stream.read_exact(&mut answers).unwrap();
        assert_eq!(answers, expected, "{backend}");
        stream
            .write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut last = Vec::new();
        stream.read_to_end(&mut last).unwrap();
        assert_eq!(last, http_response(), "{backend}");
        server.shutdown().unwrap();
    }
}

#[test]
fn loadgen_drives_http_with_a_fixed_rate() {
    let mut server = ServerProcess::spawn(
        Path::new(env!("CARGO_BIN_EXE_tickloop-http")),
        &["--backend", "epoll"],
    )
    .unwrap();
    let config = LoadConfig {
        addr: server.addr(),
        wire: Wire::Http,
        active: 2,
        idle: 0,
        rate: Some(500.0),
        warmup: Duration::from_millis(100),
        duration: Duration::from_millis(400),
        requests: None,
    };
    let pid = server.pid();
    let load = loadgen::run(&config, move |_| ServerProcess::request_report(pid)).unwrap();
    // 500/s for 0.4 s is 200 requests; allow for the window edges.
    assert!((190..=210).contains(&load.requests), "{load}");
    server.read_report().unwrap();
    server.read_report().unwrap();
    server.shutdown().unwrap();
}
