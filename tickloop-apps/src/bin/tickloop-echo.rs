//! Echo server on tickloop.

use std::time::Duration;

use clap::Parser;
use tickloop_apps::cli::LoopServerArgs;
use tickloop_apps::protocol::{Echo, SlowCallback, SlowEcho};

/// Echoes every byte back, on the chosen tickloop backend. Prints `listening on ADDR`, a JSON
/// report on SIGUSR1, and a final report on SIGINT/SIGTERM.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    args: LoopServerArgs,
    /// Plant a slow callback: every N-th input (over all connections) blocks the loop for
    /// --slow-ms before it is echoed (0: never). For uprof's long-tick finding.
    #[arg(long, value_name = "N", default_value_t = 0)]
    slow_every: u64,
    /// How long the planted slow callback blocks, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 50)]
    slow_ms: u64,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let (backend, port) = (cli.args.backend.into(), cli.args.server.port);
    if cli.slow_every == 0 {
        return tickloop_apps::server::serve(backend, port, || Echo);
    }
    SlowCallback {
        every: cli.slow_every,
        delay: Duration::from_millis(cli.slow_ms),
    }
    .plant();
    tickloop_apps::server::serve(backend, port, || SlowEcho)
}
