//! Prints benchmark figures: echo throughput and latency per backend against mio and tokio,
//! and CPU time per wakeup as idle connections grow.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use clap::Parser;
use tickloop::{BackendKind, SELECT_FD_LIMIT};
use tickloop_apps::loadgen::{self, LoadConfig, LoadReport, Wire};
use tickloop_apps::report::ServerReport;
use tickloop_apps::server_process::{ServerProcess, pin_to_cpu, sibling_binary};

/// Runs every server in turn under the same load from this process (pinned to CPU 0, servers
/// to CPU 1) and prints Markdown tables.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Rounds of the throughput comparison (servers alternate within a round); the table shows
    /// the median and the best round, as other work on the machine makes single runs noisy.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Active connections in the throughput comparison (closed loop).
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Seconds measured per run.
    #[arg(long, default_value_t = 1.5)]
    seconds: f64,
    /// Requests per second in the scaling runs.
    #[arg(long, default_value_t = 2000.0)]
    rate: f64,
    /// Idle connection counts of the scaling runs.
    #[arg(long, value_delimiter = ',', default_value = "10,100,1000,10000")]
    idle: Vec<usize>,
    /// Do not pin processes to CPUs.
    #[arg(long)]
    no_pin: bool,
}

const MESSAGE_SIZE: usize = 64;
const WARMUP: Duration = Duration::from_millis(500);
/// Descriptors a tickloop server has open besides connections (stdio, listener, signalfd,
/// eventfd, active connections and slack), for deciding what fits under select's limit.
const SELECT_HEADROOM: usize = 24;

/// A server binary and its arguments.
struct Target {
    label: String,
    binary: PathBuf,
    args: Vec<&'static str>,
}

fn targets() -> Result<Vec<Target>> {
    let mut targets: Vec<Target> = BackendKind::ALL
        .into_iter()
        .map(|kind| -> Result<Target> {
            Ok(Target {
                label: format!("tickloop {kind}"),
                binary: sibling_binary("tickloop-echo")?,
                args: vec!["--backend", kind.name()],
            })
        })
        .collect::<Result<_>>()?;
    for name in ["mio-echo", "tokio-echo"] {
        targets.push(Target {
            label: name.to_owned(),
            binary: sibling_binary(name)?,
            args: Vec::new(),
        });
    }
    Ok(targets)
}

/// One server run: the load report and the server's reports at the window's edges.
struct Run {
    load: LoadReport,
    start: ServerReport,
    end: ServerReport,
}

impl Run {
    fn cpu_micros(&self) -> f64 {
        (self.end.cpu_micros - self.start.cpu_micros) as f64
    }

    fn wakeups(&self) -> Option<u64> {
        Some(self.end.loop_stats?.wakeups - self.start.loop_stats?.wakeups)
    }
}

fn run_one(target: &Target, config: &LoadConfig, pin: bool) -> Result<Run> {
    let mut server = ServerProcess::spawn(&target.binary, &target.args)?;
    if pin {
        server.pin_to_cpu(1)?;
    }
    let config = LoadConfig {
        addr: server.addr(),
        ..config.clone()
    };
    let pid = server.pid();
    let load = loadgen::run(&config, move |_| ServerProcess::request_report(pid))
        .with_context(|| format!("loading {}", target.label))?;
    let start = server.read_report()?;
    let end = server.read_report()?;
    server.shutdown()?;
    Ok(Run { load, start, end })
}

/// The median of one figure over several runs (the upper middle one for an even count).
fn median(runs: &[Run], figure: &dyn Fn(&Run) -> f64) -> f64 {
    let mut values: Vec<f64> = runs.iter().map(figure).collect();
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The largest value of one figure over several runs.
fn best(runs: &[Run], figure: &dyn Fn(&Run) -> f64) -> f64 {
    runs.iter().map(figure).fold(f64::MIN, f64::max)
}

fn throughput_comparison(cli: &Cli, pin: bool) -> Result<()> {
    let targets = targets()?;
    let config = LoadConfig {
        addr: ([127, 0, 0, 1], 0).into(),
        wire: Wire::Echo {
            message_size: MESSAGE_SIZE,
        },
        active: cli.connections,
        idle: 0,
        rate: None,
        warmup: WARMUP,
        duration: Duration::from_secs_f64(cli.seconds),
        requests: None,
    };
    let mut runs: Vec<Vec<Run>> = targets.iter().map(|_| Vec::new()).collect();
    for round in 0..cli.rounds {
        for (target, runs) in targets.iter().zip(&mut runs) {
            let run = run_one(target, &config, pin)?;
            eprintln!("round {round}: {:<18} {}", target.label, run.load);
            runs.push(run);
        }
    }
    let throughput = |r: &Run| r.load.throughput;
    let cpu_per_request = |r: &Run| r.cpu_micros() / r.load.requests.max(1) as f64;
    let mio = &runs[targets
        .iter()
        .position(|t| t.label == "mio-echo")
        .expect("listed")];
    let (mio_best, mio_cpu) = (best(mio, &throughput), median(mio, &cpu_per_request));
    println!(
        "\n### Echo throughput, {} connections, {MESSAGE_SIZE}-byte messages, closed loop, \
         {} rounds x {} s\n",
        cli.connections, cli.rounds, cli.seconds
    );
    println!(
        "| server | req/s median | req/s best | best vs mio | p50 us | p99 us \
         | server CPU us/req | CPU vs mio |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (target, runs) in targets.iter().zip(&runs) {
        println!(
            "| {} | {:.0} | {:.0} | {:.2} | {:.0} | {:.0} | {:.2} | {:.2} |",
            target.label,
            median(runs, &throughput),
            best(runs, &throughput),
            best(runs, &throughput) / mio_best,
            median(runs, &|r| r.load.p50_us as f64),
            median(runs, &|r| r.load.p99_us as f64),
            median(runs, &cpu_per_request),
            median(runs, &cpu_per_request) / mio_cpu,
        );
    }
    Ok(())
}

fn scaling(cli: &Cli, pin: bool) -> Result<()> {
    let binary = sibling_binary("tickloop-echo")?;
    println!(
        "\n### CPU time per wakeup, {:.0} req/s over 4 connections, {} s per run\n",
        cli.rate, cli.seconds
    );
    let header: Vec<String> = cli.idle.iter().map(|n| format!("{n} idle")).collect();
    println!("| backend | {} |", header.join(" | "));
    println!("|---|{}|", vec!["---:"; cli.idle.len()].join("|"));
    for kind in BackendKind::ALL {
        let target = Target {
            label: format!("tickloop {kind}"),
            binary: binary.clone(),
            args: vec!["--backend", kind.name()],
        };
        let mut cells = Vec::new();
        for &idle in &cli.idle {
            if kind == BackendKind::Select && idle + SELECT_HEADROOM > SELECT_FD_LIMIT {
                cells.push("n/a (FD_SETSIZE)".to_owned());
                continue;
            }
            let config = LoadConfig {
                addr: ([127, 0, 0, 1], 0).into(),
                wire: Wire::Echo {
                    message_size: MESSAGE_SIZE,
                },
                active: 4,
                idle,
                rate: Some(cli.rate),
                warmup: WARMUP,
                duration: Duration::from_secs_f64(cli.seconds),
                requests: None,
            };
            let run = run_one(&target, &config, pin)?;
            let wakeups = run
                .wakeups()
                .context("tickloop servers report loop stats")?;
            ensure!(wakeups > 0, "{} saw no wakeups", target.label);
            let per_wakeup = run.cpu_micros() / wakeups as f64;
            eprintln!(
                "{:<18} {idle:>5} idle: {wakeups} wakeups, {:.0} us CPU, {per_wakeup:.2} us/wakeup; {}",
                target.label,
                run.cpu_micros(),
                run.load
            );
            cells.push(format!("{per_wakeup:.2} us"));
        }
        println!("| {kind} | {} |", cells.join(" | "));
    }
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    ensure!(cli.rounds > 0, "--rounds must be at least 1");
    ensure!(
        cli.seconds > 0.0 && cli.seconds <= 30.0,
        "--seconds must be in (0, 30]"
    );
    // SAFETY: sysconf has no preconditions.
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    let pin = !cli.no_pin && cpus >= 2;
    if pin {
        pin_to_cpu(0, 0)?;
    }
    throughput_comparison(&cli, pin)?;
    scaling(&cli, pin)?;
    Ok(())
}
