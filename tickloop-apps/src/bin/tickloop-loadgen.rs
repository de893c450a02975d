//! Load generator for the echo and HTTP servers.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Result, ensure};
use clap::{Parser, ValueEnum};
use tickloop_apps::loadgen::{self, LoadConfig, Wire};

/// Drives a server on 127.0.0.1 with N active and M idle connections for a bounded time and
/// prints throughput and latency percentiles.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Server port on 127.0.0.1.
    #[arg(long, default_value_t = 7878)]
    port: u16,
    /// What the server speaks.
    #[arg(long, value_enum, default_value_t = WireArg::Echo)]
    protocol: WireArg,
    /// Bytes per echo request.
    #[arg(long, default_value_t = 64)]
    message_size: usize,
    /// Connections that send requests.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Connections held open without traffic.
    #[arg(long, default_value_t = 0)]
    idle: usize,
    /// Total requests per second; omit for closed loop.
    #[arg(long)]
    rate: Option<f64>,
    /// Closed loop: send exactly this many requests in all (warm-up included) and end when the
    /// last is answered; --duration then only bounds the run.
    #[arg(long, conflicts_with = "rate")]
    requests: Option<u64>,
    /// Seconds to measure (at most 600 including warm-up).
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Seconds of warm-up before measuring.
    #[arg(long, default_value_t = 0.5)]
    warmup: f64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum WireArg {
    Echo,
    Http,
}

fn seconds(value: f64, what: &str) -> Result<Duration> {
    ensure!(
        value.is_finite() && value >= 0.0,
        "--{what} must be a non-negative number"
    );
    Ok(Duration::from_secs_f64(
        value.min(loadgen::MAX_DURATION.as_secs_f64()),
    ))
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    ensure!(cli.message_size > 0, "--message-size must be positive");
    let config = LoadConfig {
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, cli.port)),
        wire: match cli.protocol {
            WireArg::Echo => Wire::Echo {
                message_size: cli.message_size,
            },
            WireArg::Http => Wire::Http,
        },
        active: cli.connections,
        idle: cli.idle,
        rate: cli.rate,
        warmup: seconds(cli.warmup, "warmup")?,
        duration: seconds(cli.duration, "duration")?,
        requests: cli.requests,
    };
    let report = loadgen::run(&config, |_| {})?;
    if cli.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{report}");
    }
    Ok(())
}
