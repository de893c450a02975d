//! The echo server on tokio, for comparison with tickloop-echo: the same protocol, signals
//! and reports. `tokio-echo` runs it on the single-threaded runtime (one core, like the other
//! servers), `tokio-mt-echo` on the multi-threaded one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::net;
use crate::report::{ServerReport, process_cpu_micros};
use crate::server::SERVER_FD_LIMIT;

/// Serves on `port` of the loopback interface with `runtime` until SIGINT or SIGTERM, reporting
/// as `name`. With `workers`, the listening address is announced only once the runtime's
/// worker threads all run, so that a tracer attaching after the announcement sees every thread
/// the server will ever have (the blocking pool is never used).
pub fn run(name: &str, runtime: Runtime, port: u16, workers: Option<usize>) -> Result<()> {
    net::raise_fd_limit(SERVER_FD_LIMIT)?;
    runtime.block_on(async {
        let std_listener = net::listen_loopback(port)?;
        if let Some(workers) = workers {
            wait_for_workers(workers).await;
        }
        // The handlers are in place before anyone learns the address: a SIGUSR1 sent right
        // after it would otherwise kill the server (the signal's default action).
        let signals = Signals::new()?;
        net::announce(&std_listener)?;
        serve(name, TcpListener::from_std(std_listener)?, signals).await
    })
}

/// The signals the server handles.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
    dump: Signal,
}

impl Signals {
    fn new() -> Result<Signals> {
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt()).context("SIGINT handler")?,
            terminate: signal(SignalKind::terminate()).context("SIGTERM handler")?,
            dump: signal(SignalKind::user_defined1()).context("SIGUSR1 handler")?,
        })
    }
}

fn report(name: &str, open: &AtomicU64) -> ServerReport {
    ServerReport {
        server: name.into(),
        cpu_micros: process_cpu_micros(),
        open_connections: open.load(Ordering::Relaxed),
        loop_stats: None,
        wait_returns: None,
    }
}

async fn echo(mut stream: TcpStream) -> std::io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
    }
}

async fn serve(name: &str, listener: TcpListener, signals: Signals) -> Result<()> {
    let Signals {
        mut interrupt,
        mut terminate,
        mut dump,
    } = signals;
    let open = Arc::new(AtomicU64::new(0));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = accepted.context("accept")?;
                stream.set_nodelay(true)?;
                let open = Arc::clone(&open);
                open.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    // A peer that resets the connection is not the server's error.
                    let _ = echo(stream).await;
                    open.fetch_sub(1, Ordering::Relaxed);
                });
            }
            _ = dump.recv() => report(name, &open).print(),
            _ = interrupt.recv() => break,
            _ = terminate.recv() => break,
        }
    }
    report(name, &open).print();
    Ok(())
}

/// Waits until the process has its main thread plus `workers` threads.
async fn wait_for_workers(workers: usize) {
    loop {
        let threads = std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count());
        if threads > workers {
            return;
        }
        tokio::task::yield_now().await;
    }
}
