//! The overhead benchmark: redis-server answering redis-benchmark's PINGs, untraced and under
//! each tracer in turn (uprof with its own choices, with `--no-wakeups`, with `--tier syscall`;
//! strace; perf trace), round after round (interleaved, so that drift in the machine's load
//! hits every variant alike). Per run: redis-benchmark's throughput, and the CPU time the
//! redis-server process and its redis-benchmark client used per request — tracing probes run in
//! the context of the process that hits them, so their cost shows there. Ratios are taken within
//! a round, against that round's untraced run.
//!
//! The rounds ([`interleave`]) and the table ([`Rounds::print_table`]) also serve the
//! `bystander` benchmark (uprof tracing another process) and the `callback` one (uprof's probe
//! tiers, inside a VM).

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
/// How long bpftrace gets to end after a SIGINT before it gets another.
const BPFTRACE_STOP_INTERVAL: Duration = Duration::from_secs(10);
/// uprof's CPU target: at most this much more server CPU per request.
pub const UPROF_MAX_CPU_RATIO: f64 = 1.05;

/// How the redis-server runs in one column of the benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// No tracer.
    Untraced,
    /// No tracer either, run a second time in each round: its ratio to [`Variant::Untraced`]
    /// shows how far two runs of the same thing differ here (the noise).
    UntracedAgain,
    /// `uprof record -p PID` with `options`. `PID` is the redis-server's, unless `elsewhere`
    /// names another process: then the redis-server is not traced and pays only for uprof's
    /// programs being attached.
    Uprof {
        options: uprof::Options,
        elsewhere: Option<u32>,
    },
    /// `strace -f` on the redis-server.
    Strace,
    /// `perf trace` on the redis-server.
    PerfTrace,
    /// bpftrace on the redis-server's epoll syscalls, at the tracepoints uprof uses where
    /// fentry is refused.
    Bpftrace(BpftraceScript),
}

/// What the bpftrace variant's programs do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BpftraceScript {
    /// What uprof's default report says of waits, aggregated in the kernel: a histogram of
    /// wait times and a count of `epoll_ctl` per thread.
    Equivalent,
    /// The same probes with empty bodies: the floor of a bpftrace tracepoint program.
    Empty,
}

impl BpftraceScript {
    /// The script for the redis-server `pid`.
    fn text(self, pid: u32) -> String {
        let enter =
            "tracepoint:syscalls:sys_enter_epoll_wait,tracepoint:syscalls:sys_enter_epoll_pwait";
        let exit =
            "tracepoint:syscalls:sys_exit_epoll_wait,tracepoint:syscalls:sys_exit_epoll_pwait";
        let ctl = "tracepoint:syscalls:sys_exit_epoll_ctl";
        match self {
            // One line, so that the printed command is one line too.
            Self::Equivalent => format!(
                "{enter} /pid == {pid}/ {{ @start[tid] = nsecs; }} \
                 {exit} /@start[tid]/ {{ @wait_ns[tid] = hist(nsecs - @start[tid]); delete(@start[tid]); }} \
                 {ctl} /pid == {pid}/ {{ @epoll_ctl[tid] = count(); }}"
            ),
            Self::Empty => format!("{enter} {{ }} {exit} {{ }} {ctl} {{ }}"),
        }
    }
}

impl Variant {
    /// `uprof record -p <redis-server>`, uprof's own choices.
    pub const UPROF: Variant = Variant::traced(uprof::Options {
        tier: None,
        hooks: None,
        no_wakeups: false,
    });

    /// `uprof record -p <redis-server>` with `options`.
    pub const fn traced(options: uprof::Options) -> Variant {
        Variant::Uprof {
            options,
            elsewhere: None,
        }
    }

    /// Its name in the tables.
    pub fn name(self) -> String {
        match self {
            Self::Untraced => "untraced".into(),
            Self::UntracedAgain => "untraced again".into(),
            Self::Uprof { options, elsewhere } => {
                let label = options.label();
                match (label.is_empty(), elsewhere) {
                    (true, None) => "uprof record".into(),
                    (false, None) => format!("uprof {label}"),
                    (true, Some(_)) => "uprof elsewhere".into(),
                    (false, Some(_)) => format!("{label} elsewhere"),
                }
            }
            Self::Strace => "strace -f".into(),
            Self::PerfTrace => "perf trace".into(),
            Self::Bpftrace(BpftraceScript::Equivalent) => "bpftrace".into(),
            Self::Bpftrace(BpftraceScript::Empty) => "bpftrace empty".into(),
        }
    }

    /// The tracer's command line when the redis-server is `pid`, if it has one.
    fn command(self, bench: &Bench, pid: u32) -> Option<Command> {
        let mut cmd = match self {
            Self::Untraced | Self::UntracedAgain => return None,
            Self::Uprof { options, elsewhere } => {
                let traced = elsewhere.unwrap_or(pid);
                let mut cmd = uprof::record_pid(&bench.uprof, traced, &recording(bench));
                cmd.args(options.args());
                cmd
            }
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
            Self::Bpftrace(script) => {
                // Its "Attaching N probes..." goes to stdout: sent to stderr, where we read it.
                let mut cmd = Command::new("sh");
                cmd.args([
                    "-c",
                    "exec bpftrace -e \"$1\" 1>&2",
                    "sh",
                    &script.text(pid),
                ]);
                cmd
            }
        };
        cmd.stdout(Stdio::null());
        Some(cmd)
    }

    /// Starts the tracer (redis-server is `pid`) and returns once it is in place.
    pub(super) fn attach(self, bench: &Bench, pid: u32) -> Result<Option<Spawned>> {
        let Some(mut cmd) = self.command(bench, pid) else {
            return Ok(None);
        };
        let ready = match self {
            Self::Uprof { .. } => Some(uprof::Ready::give_to(&mut cmd)?),
            _ => None,
        };
        let mut tracer = Spawned::start(&mut cmd)?;
        match (self, ready) {
            (_, Some(ready)) => uprof::wait_attached(&mut tracer, ready)?,
            (Self::Strace, None) => tracer.wait_for_line("attached", Duration::from_secs(30))?,
            (Self::Bpftrace(_), None) => {
                tracer.wait_for_line("Attaching", Duration::from_secs(60))?;
                // The line comes just before the probes are attached.
                thread::sleep(PERF_SETTLE);
            }
            // A perf trace that could not start fails when it is finished.
            _ => thread::sleep(PERF_SETTLE),
        }
        Ok(Some(tracer))
    }

    /// Whether its runs make as many requests as the first variant's: all but the comparison
    /// tracers, which can be ten times slower and are sized by a warm-up run of their own.
    fn sized_like_first(self) -> bool {
        !matches!(self, Self::Strace | Self::PerfTrace)
    }

    /// Stops the tracer started by [`Variant::attach`].
    pub(super) fn stop(self, tracer: Spawned) -> Result<procs::Finished> {
        match self {
            Self::Bpftrace(_) => tracer.stop_insisting(BPFTRACE_STOP_INTERVAL, 5),
            _ => tracer.stop(),
        }
    }

    /// Whether a failure of this variant leaves it out instead of failing the benchmark: the
    /// comparison tracers may be missing or not allowed here.
    fn optional(self) -> bool {
        matches!(self, Self::Strace | Self::PerfTrace | Self::Bpftrace(_))
    }
}

/// One redis-benchmark run.
pub struct Run {
    /// redis-benchmark's requests per second.
    pub throughput: f64,
    /// redis-server's CPU time per request, in µs.
    pub server_us: f64,
    /// redis-benchmark's CPU time per request, in µs.
    pub client_us: f64,
    /// The tracer's CPU time from the moment it traces to its exit, per request, in µs.
    pub tracer_us: Option<f64>,
    /// uprof's counts.
    pub stopped: Option<Stopped>,
}

/// Where a traced run's recording goes (each run overwrites the last).
fn recording(bench: &Bench) -> std::path::PathBuf {
    bench.scratch("run.uprof")
}

fn measure(bench: &Bench, redis: &Redis, variant: Variant, requests: u64) -> Result<Run> {
    let tracer = variant.attach(bench, redis.pid())?;
    let tracer_start_up = tracer
        .as_ref()
        .map(|t| procs::cpu_time(t.pid()))
        .transpose()?;
    let before = procs::thread_cpu_time(redis.pid())?;
    // redis-benchmark is the only child that ends (and is reaped) during the run.
    let client_before = procs::children_cpu_time();
    let throughput = redis.benchmark(requests)?;
    let client = procs::children_cpu_time().saturating_sub(client_before);
    let server = procs::thread_cpu_time(redis.pid())? - before;
    let finished = match tracer {
        Some(tracer) => Some(variant.stop(tracer)?),
        None => None,
    };
    let per_request = |cpu: Duration| cpu.as_secs_f64() * 1e6 / requests as f64;
    let stopped = match (&finished, variant) {
        (Some(_), Variant::Uprof { .. }) => Some(Stopped::of(&recording(bench))?),
        _ => None,
    };
    let tracer_us = finished
        .zip(tracer_start_up)
        .map(|(f, start_up)| per_request(f.cpu.saturating_sub(start_up)));
    Ok(Run {
        throughput,
        server_us: per_request(server),
        client_us: per_request(client),
        tracer_us,
        stopped,
    })
}

/// A figure of a run, for ratios: `|r| r.server_us`.
pub type Field = fn(&Run) -> f64;

/// The runs of interleaved rounds: per variant, its request count and one run per round.
pub struct Rounds {
    variants: Vec<(Variant, u64)>,
    runs: Vec<Vec<Run>>,
}

/// Prints the benchmark's heading: `== <title>: redis-server PING ...` and the load's command.
pub fn heading(bench: &Bench, redis: &Redis, title: &str) {
    println!(
        "== {title}: redis-server PING ({} clients, unix socket), {} interleaved rounds",
        redis::CLIENTS,
        bench.plan.rounds
    );
    println!(
        "   load: {}",
        describe(&redis.benchmark_command(&["-n", "N", "--csv"]))
    );
}

/// Runs `variants` against `redis`: one warm-up run each, which sizes its runs to last about
/// `redis_seconds` and prints its tracer's command, then `rounds` rounds of one run per variant,
/// in the order given. The first variant is the one the tables compare the others with.
/// `what` names the benchmark in the progress lines.
pub fn interleave(
    bench: &Bench,
    redis: &Redis,
    variants: &[Variant],
    what: &str,
) -> Result<Rounds> {
    let sized = warm_up(bench, redis, variants)?;
    let mut runs: Vec<Vec<Run>> = sized.iter().map(|_| Vec::new()).collect();
    for round in 1..=bench.plan.rounds {
        eprintln!("bench: {what} round {round}/{}", bench.plan.rounds);
        for (&(variant, requests), runs) in sized.iter().zip(&mut runs) {
            let run = measure(bench, redis, variant, requests)
                .with_context(|| format!("{} run", variant.name()))?;
            eprintln!(
                "bench:   {:<21} {:>8.0} req/s {:>7.2} server µs/req {:>7.2} client µs/req",
                variant.name(),
                run.throughput,
                run.server_us,
                run.client_us
            );
            runs.push(run);
        }
    }
    Ok(Rounds {
        variants: sized,
        runs,
    })
}

/// Sizes the runs so that the first variant's last about `redis_seconds`, from a short warm-up
/// run; the others make as many requests, so that compared runs differ in nothing else, except
/// strace and perf trace, which are sized by a warm-up of their own. Prints the tracers' commands
/// and drops the optional tracers (strace, perf trace, bpftrace) that do not work here, saying
/// so.
fn warm_up(bench: &Bench, redis: &Redis, variants: &[Variant]) -> Result<Vec<(Variant, u64)>> {
    let mut sized: Vec<(Variant, u64)> = Vec::new();
    for &variant in variants {
        if let Some(cmd) = variant.command(bench, redis.pid()) {
            println!("   {:<21} {}", variant.name(), describe(&cmd));
        }
        let like_first = sized
            .first()
            .map(|&(_, requests)| requests)
            .filter(|_| variant.sized_like_first());
        // An optional tracer's warm-up also finds out whether it works here.
        if let (Some(requests), false) = (like_first, variant.optional()) {
            sized.push((variant, requests));
            continue;
        }
        match measure(bench, redis, variant, WARMUP_REQUESTS) {
            Ok(warmup) => {
                let thousands = (warmup.throughput * bench.plan.redis_seconds / 1000.0).ceil();
                let own = (thousands as u64 * 1000).max(WARMUP_REQUESTS);
                sized.push((variant, like_first.unwrap_or(own)));
            }
            Err(e) if variant.optional() => {
                println!("   {:<21} unavailable here: {e:#}", variant.name());
            }
            Err(e) => return Err(e).with_context(|| format!("{} warm-up", variant.name())),
        }
    }
    Ok(sized)
}

impl Rounds {
    fn runs_of(&self, variant: Variant) -> &[Run] {
        self.variants
            .iter()
            .position(|&(v, _)| v == variant)
            .map_or(&[], |i| &self.runs[i])
    }

    /// The requests each run of the first variant made.
    pub fn requests(&self) -> u64 {
        self.variants.first().map_or(0, |(_, n)| *n)
    }

    /// Per round, `field` of `variant`'s run divided by `field` of `against`'s run in the same
    /// round (empty if either variant did not run).
    pub fn ratios(&self, variant: Variant, against: Variant, field: Field) -> Vec<f64> {
        self.runs_of(variant)
            .iter()
            .zip(self.runs_of(against))
            .map(|(r, a)| field(r) / field(a))
            .collect()
    }

    /// The median over rounds of [`Rounds::ratios`]; NaN if either variant did not run.
    pub fn ratio(&self, variant: Variant, against: Variant, field: Field) -> f64 {
        median(&self.ratios(variant, against, field))
    }

    /// Prints one row per variant: medians over rounds, and ratios to the same round's run of
    /// the first variant.
    pub fn print_table(&self) {
        let first = self.variants[0].0;
        println!(
            "   {:<21} {:>9} {:>9} {:>7} {:>13} {:>8} {:>13} {:>8} {:>13} {:>6}",
            "variant",
            "requests",
            "req/s",
            "x req/s",
            "server µs/req",
            "x server",
            "client µs/req",
            "x client",
            "tracer µs/req",
            "lost"
        );
        for (&(variant, requests), runs) in self.variants.iter().zip(&self.runs) {
            let each = |field: Field| median(&runs.iter().map(field).collect::<Vec<_>>());
            let ratio = |field| self.ratio(variant, first, field);
            let tracer_us = runs.iter().map(|r| r.tracer_us).collect::<Option<Vec<_>>>();
            // Only uprof's runs have counts.
            let stopped = runs.iter().map(|r| r.stopped).collect::<Option<Vec<_>>>();
            let lost = stopped
                .as_ref()
                .map(|s| s.iter().map(|s| s.lost).sum::<u64>());
            println!(
                "   {:<21} {:>9} {:>9.0} {:>7.3} {:>13.2} {:>8.3} {:>13.2} {:>8.3} {:>13} {:>6}",
                variant.name(),
                requests,
                each(|r| r.throughput),
                ratio(|r| r.throughput),
                each(|r| r.server_us),
                ratio(|r| r.server_us),
                each(|r| r.client_us),
                ratio(|r| r.client_us),
                tracer_us.map_or("-".into(), |t| format!("{:.2}", median(&t))),
                lost.map_or("-".into(), |l| l.to_string()),
            );
            if let Some(stopped) = stopped {
                let records: u64 = stopped.iter().map(|s| s.records).sum();
                println!(
                    "   ({}: uprof stored {:.2} records per request)",
                    variant.name(),
                    records as f64 / (requests * runs.len() as u64) as f64
                );
            }
        }
        println!(
            "   x = median over rounds of (variant / same round's {first}); server = redis-server, \
             client = redis-benchmark;\n   tracer CPU excludes its start-up; lost = records uprof lost\n",
            first = first.name()
        );
    }
}

/// Runs the overhead benchmark, prints its table and returns uprof's CPU target.
pub fn run(bench: &Bench) -> Result<Vec<Target>> {
    let redis = Redis::start(bench.scratch_dir())?;
    heading(bench, &redis, "overhead");
    let variants = [
        Variant::Untraced,
        Variant::UPROF,
        Variant::traced(uprof::Options::NO_WAKEUPS),
        Variant::traced(uprof::Options::SYSCALL_TIER),
        Variant::Strace,
        Variant::PerfTrace,
        Variant::Bpftrace(BpftraceScript::Equivalent),
        Variant::Bpftrace(BpftraceScript::Empty),
    ];
    let rounds = interleave(bench, &redis, &variants, "overhead")?;
    rounds.print_table();
    let uprof_ratio = rounds.ratio(Variant::UPROF, Variant::Untraced, |r| r.server_us);
    Ok(vec![Target {
        what: "uprof: redis-server CPU per request".into(),
        goal: "<= x1.05",
        measured: format!("x{uprof_ratio:.3}"),
        met: uprof_ratio <= UPROF_MAX_CPU_RATIO,
    }])
}
