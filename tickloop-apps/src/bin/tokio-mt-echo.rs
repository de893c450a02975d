//! Echo server on tokio's multi-threaded runtime: a real multi-threaded target for uprof's
//! tests (its worker threads take turns waiting in `epoll_wait` on the shared I/O driver).

use anyhow::{Context, Result};
use clap::Parser;
use tickloop_apps::cli::ServerArgs;
use tickloop_apps::tokio_echo;

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

fn main() -> Result<()> {
    let cli = Cli::parse();
    anyhow::ensure!(cli.workers > 0, "--workers must be positive");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.workers)
        .enable_io()
        .build()
        .context("building the tokio runtime")?;
    tokio_echo::run("tokio-mt", runtime, cli.server.port, Some(cli.workers))
}
