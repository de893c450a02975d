//! The overhead benchmark: redis-server answering redis-benchmark's PINGs, untraced and under
//! each tracer in turn, round after round (interleaved, so that drift in the machine's load
//! hits every variant alike). Per run: redis-benchmark's throughput, and the CPU time the
//! redis-server process used per request — tracing probes run in its context, so their cost
//! shows there. Ratios are taken within a round, against that round's untraced run.

use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};

use super::procs::{self, Spawned, describe};
use super::redis::{self, Redis};
use super::stats::median;
use super::uprof::{self, Stopped};
use super::{Bench, Target};

/// Requests of the warm-up run that measures each variant's speed.
const WARMUP_REQUESTS: u64 = 20_000;
/// perf trace says nothing when it is ready: give it this long to set up.
const PERF_SETTLE: Duration = Duration::from_secs(2);
/// uprof's CPU target: at most this much more server CPU per request.
const UPROF_MAX_CPU_RATIO: f64 = 1.05;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    Untraced,
    Uprof,
    Strace,
    PerfTrace,
}

impl Variant {
    const ALL: [Variant; 4] = [Self::Untraced, Self::Uprof, Self::Strace, Self::PerfTrace];

    fn name(self) -> &'static str {
        match self {
            Self::Untraced => "untraced",
            Self::Uprof => "uprof record",
            Self::Strace => "strace -f",
            Self::PerfTrace => "perf trace",
        }
    }

    /// The tracer's command line for `pid`, if it has one.
    fn command(self, bench: &Bench, pid: u32) -> Option<Command> {
        let mut cmd = match self {
            Self::Untraced => return None,
            Self::Uprof => uprof::record_pid(&bench.uprof, pid, &bench.scratch("overhead.uprof")),
            Self::Strace => {
                let mut cmd = Command::new("strace");
                cmd.args(["-f", "-e", "trace=epoll_wait,epoll_ctl,epoll_pwait"])
                    .args(["-p", &pid.to_string(), "-o", "/dev/null"]);
                cmd
            }
            Self::PerfTrace => {
                let mut cmd = Command::new("perf");
                cmd.args([
                    "trace",
                    "-e",
                    "epoll_*",
                    "-p",
                    &pid.to_string(),
                    "-o",
                    "/dev/null",
                ]);
                cmd
            }
        };
        cmd.stdout(Stdio::null());
        Some(cmd)
    }

    /// Starts tracing `pid` and returns once the tracer is in place.
    fn attach(self, bench: &Bench, pid: u32) -> Result<Option<Spawned>> {
        let Some(mut cmd) = self.command(bench, pid) else {
            return Ok(None);
        };
        let mut tracer = Spawned::start(&mut cmd)?;
        match self {
            Self::Uprof => uprof::wait_attached(&mut tracer)?,
            Self::Strace => tracer.wait_for_line("attached", Duration::from_secs(30))?,
            // A perf trace that could not start fails when it is finished.
            _ => thread::sleep(PERF_SETTLE),
        }
        Ok(Some(tracer))
    }
}

/// One redis-benchmark run.
struct Run {
    /// redis-benchmark's requests per second.
    throughput: f64,
    /// redis-server's CPU time per request, in µs.
    server_us: f64,
    /// The tracer's CPU time from the moment it traces to its exit, per request, in µs.
    tracer_us: Option<f64>,
    /// uprof's counts.
    stopped: Option<Stopped>,
}

fn measure(bench: &Bench, redis: &Redis, variant: Variant, requests: u64) -> Result<Run> {
    let tracer = variant.attach(bench, redis.pid())?;
    let tracer_start_up = tracer
        .as_ref()
        .map(|t| procs::cpu_time(t.pid()))
        .transpose()?;
    let before = procs::cpu_time(redis.pid())?;
    let throughput = redis.benchmark(requests)?;
    let server = procs::cpu_time(redis.pid())? - before;
    let finished = match tracer {
        Some(tracer) => Some(tracer.stop()?),
        None => None,
    };
    let per_request = |cpu: Duration| cpu.as_secs_f64() * 1e6 / requests as f64;
    let stopped = match (&finished, variant) {
        (Some(f), Variant::Uprof) => Some(Stopped::of(f)?),
        _ => None,
    };
    let tracer_us = finished
        .zip(tracer_start_up)
        .map(|(f, start_up)| per_request(f.cpu.saturating_sub(start_up)));
    Ok(Run {
        throughput,
        server_us: per_request(server),
        tracer_us,
        stopped,
    })
}

/// Runs the overhead benchmark, prints its table and returns uprof's CPU target.
pub fn run(bench: &Bench) -> Result<Vec<Target>> {
    let redis = Redis::start(bench.scratch_dir())?;
    println!(
        "== overhead: redis-server PING ({} clients, unix socket), {} interleaved rounds",
        redis::CLIENTS,
        bench.plan.rounds
    );
    println!(
        "   load: {}",
        describe(&redis.benchmark_command(&["-n", "N", "--csv"]))
    );
    let sized = warm_up(bench, &redis)?;
    let mut runs: Vec<Vec<Run>> = sized.iter().map(|_| Vec::new()).collect();
    for round in 1..=bench.plan.rounds {
        eprintln!("bench: overhead round {round}/{}", bench.plan.rounds);
        for (&(variant, requests), runs) in sized.iter().zip(&mut runs) {
            let run = measure(bench, &redis, variant, requests)
                .with_context(|| format!("{} run", variant.name()))?;
            eprintln!(
                "bench:   {:<13} {:>8.0} req/s {:>6.2} server µs/req",
                variant.name(),
                run.throughput,
                run.server_us
            );
            runs.push(run);
        }
    }
    let uprof_ratio = print_table(&sized, &runs);
    Ok(vec![Target {
        what: "uprof: redis-server CPU per request",
        goal: "<= x1.05",
        measured: format!("x{uprof_ratio:.3}"),
        met: uprof_ratio <= UPROF_MAX_CPU_RATIO,
    }])
}

/// One short run per variant, which sizes its runs to last about `redis_seconds`; prints the
/// tracers' commands and drops strace or perf trace if they do not work here.
fn warm_up(bench: &Bench, redis: &Redis) -> Result<Vec<(Variant, u64)>> {
    let mut sized = Vec::new();
    for variant in Variant::ALL {
        match measure(bench, redis, variant, WARMUP_REQUESTS) {
            Ok(warmup) => {
                let thousands = (warmup.throughput * bench.plan.redis_seconds / 1000.0).ceil();
                if let Some(cmd) = variant.command(bench, redis.pid()) {
                    println!("   {:<13} {}", variant.name(), describe(&cmd));
                }
                sized.push((variant, (thousands as u64 * 1000).max(WARMUP_REQUESTS)));
            }
            Err(e) if matches!(variant, Variant::Strace | Variant::PerfTrace) => {
                println!("   {:<13} unavailable here: {e:#}", variant.name());
            }
            Err(e) => return Err(e).with_context(|| format!("{} warm-up", variant.name())),
        }
    }
    Ok(sized)
}

/// Prints one row per variant (medians over rounds, ratios to the same round's untraced run,
/// which is the first variant) and returns uprof's server CPU ratio.
fn print_table(sized: &[(Variant, u64)], runs: &[Vec<Run>]) -> f64 {
    let untraced = &runs[0];
    println!(
        "   {:<13} {:>9} {:>10} {:>8} {:>13} {:>8} {:>13} {:>9}",
        "variant",
        "requests",
        "req/s",
        "x req/s",
        "server µs/req",
        "x CPU",
        "tracer µs/req",
        "uprof lost"
    );
    let mut uprof_ratio = f64::NAN;
    for (&(variant, requests), runs) in sized.iter().zip(runs) {
        let ratio = |field: fn(&Run) -> f64| {
            median(
                &runs
                    .iter()
                    .zip(untraced)
                    .map(|(r, u)| field(r) / field(u))
                    .collect::<Vec<_>>(),
            )
        };
        let each = |field: fn(&Run) -> f64| median(&runs.iter().map(field).collect::<Vec<_>>());
        let cpu_ratio = ratio(|r| r.server_us);
        let tracer_us = runs.iter().map(|r| r.tracer_us).collect::<Option<Vec<_>>>();
        // Only uprof's runs have counts.
        let stopped = runs.iter().map(|r| r.stopped).collect::<Option<Vec<_>>>();
        let lost = stopped
            .as_ref()
            .map(|s| s.iter().map(|s| s.lost).sum::<u64>());
        println!(
            "   {:<13} {:>9} {:>10.0} {:>8.3} {:>13.2} {:>8.3} {:>13} {:>9}",
            variant.name(),
            requests,
            each(|r| r.throughput),
            ratio(|r| r.throughput),
            each(|r| r.server_us),
            cpu_ratio,
            tracer_us.map_or("-".into(), |t| format!("{:.2}", median(&t))),
            lost.map_or("-".into(), |l| l.to_string()),
        );
        if let Some(stopped) = stopped {
            uprof_ratio = cpu_ratio;
            let records: u64 = stopped.iter().map(|s| s.records).sum();
            let requests = requests * runs.len() as u64;
            println!(
                "   (uprof stored {:.2} records per request)",
                records as f64 / requests as f64
            );
        }
    }
    println!(
        "   x = median over rounds of (variant / same round's untraced); tracer CPU excludes its start-up\n"
    );
    uprof_ratio
}
