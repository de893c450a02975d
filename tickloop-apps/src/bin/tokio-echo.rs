//! Echo server on tokio, for comparison with tickloop-echo.

use anyhow::{Context, Result};
use clap::Parser;
use tickloop_apps::cli::ServerArgs;
use tickloop_apps::tokio_echo;

/// Echoes every byte back, on tokio's single-threaded runtime (one core, like the other
/// servers). Same protocol, signals and reports as tickloop-echo.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .context("building the tokio runtime")?;
    tokio_echo::run("tokio", runtime, cli.server.port, None)
}
