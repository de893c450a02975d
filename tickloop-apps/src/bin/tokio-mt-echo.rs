//! Echo server on tokio's multi-threaded runtime: a real multi-threaded target for uprof's
//! tests (its worker threads take turns waiting in `epoll_wait` on the shared I/O driver).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use clap::Parser;
use tickloop_apps::cli::ServerArgs;
use tickloop_apps::net;
use tickloop_apps::report::{ServerReport, process_cpu_micros};
use tickloop_apps::server::SERVER_FD_LIMIT;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{SignalKind, signal};

/// Echoes every byte back, on tokio's multi-threaded runtime with `--workers` worker threads,
/// all started before `listening on ADDR` is printed (no thread starts later: the blocking
/// pool is never used). Same protocol, signals and reports as tokio-echo.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
    /// Worker threads of the runtime.
    #[arg(long, default_value_t = 3)]
    workers: usize,
}

fn report(open: u64) -> ServerReport {
    ServerReport {
        server: "tokio-mt".into(),
        cpu_micros: process_cpu_micros(),
        open_connections: open,
        loop_stats: None,
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

async fn serve(listener: TcpListener) -> Result<()> {
    let mut interrupt = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let mut terminate = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut dump = signal(SignalKind::user_defined1()).context("SIGUSR1 handler")?;
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
            _ = dump.recv() => report(open.load(Ordering::Relaxed)).print(),
            _ = interrupt.recv() => break,
            _ = terminate.recv() => break,
        }
    }
    report(open.load(Ordering::Relaxed)).print();
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    anyhow::ensure!(cli.workers > 0, "--workers must be positive");
    net::raise_fd_limit(SERVER_FD_LIMIT)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.workers)
        .enable_io()
        .build()
        .context("building the tokio runtime")?;
    runtime.block_on(async {
        let std_listener = net::listen_loopback(cli.server.port)?;
        // Announce only once every worker thread runs, so that a tracer attaching after the
        // announcement sees all the threads the server will ever have.
        wait_for_workers(cli.workers).await;
        net::announce(&std_listener)?;
        serve(TcpListener::from_std(std_listener)?).await
    })
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
