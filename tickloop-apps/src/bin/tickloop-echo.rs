//! Echo server on tickloop.

use clap::Parser;
use tickloop_apps::cli::LoopServerArgs;
use tickloop_apps::protocol::Echo;

/// Echoes every byte back, on the chosen tickloop backend. Prints `listening on ADDR`, a JSON
/// report on SIGUSR1, and a final report on SIGINT/SIGTERM.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    args: LoopServerArgs,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tickloop_apps::server::serve(cli.args.backend.into(), cli.args.server.port, || Echo)
}
