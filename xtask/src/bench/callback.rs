//! The callback benchmark: what uprof's callback tier (`ep_poll_callback` as fentry or kprobe)
//! costs on top of the syscall tier. Kernels that allow it do not run on the development
//! machines, so the benchmark boots one of the stock Debian kernels of `cargo xtask vm` under
//! qemu (TCG, one vCPU) and runs inside it, through this same xtask binary (`bench callback
//! --guest`), with uprof, redis-server and redis-benchmark copied into the initramfs.
//!
//! Inside, two sets of interleaved rounds (see `overhead`), each over the set-ups of
//! [`SETUPS`]:
//! - **traced**: the redis-server untraced, traced with each set-up, and untraced again (the
//!   noise); then, in separate runs, the instructions each of uprof's programs takes with each
//!   fentry set-up (see `programs`; `--only programs` measures only these);
//! - **bystander**: the redis-server untraced while uprof traces a busy epoll loop beside it,
//!   with no uprof, each set-up, and no uprof again. The callback program runs for every epoll
//!   instance of the machine, traced or not.
//!
//! The callback runs in the waker's context: when redis-benchmark writes a request, the
//! callback for the server's epoll instance runs in redis-benchmark, and the reply's callback
//! (for the client's instance) in redis-server. So both processes' CPU is shown.
//!
//! The VM runs under qemu's `-icount` (see `icount_vm`): CPU times count instructions.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};

use super::bystander::{Busy, Verdict};
use super::icount_vm::{self, GuestBench};
use super::overhead::{self, Field, Run, UPROF_MAX_CPU_RATIO, Variant};
use super::programs;
use super::redis::Redis;
use super::stats::list;
use super::uprof::{Hooks, Options, Tier};
use super::{Bench, Plan, Target};

/// The busy loop's epoll_wait calls per second inside the VM (which runs about 7x slower than
/// its clock says, and that clock a few times slower than the host).
const VM_BUSY_RATE: u64 = 2_000;
/// Wall seconds per guest second of a redis-benchmark run (measured: about 7 with icount on
/// the development machines), with room for a busier host.
const WALL_PER_GUEST_SECOND: f64 = 20.0;
/// Wall seconds to start and stop uprof inside the VM, with room (measured: about 15).
const WALL_PER_UPROF_START: f64 = 45.0;

/// The plan inside the VM: the host's rounds, and shorter runs (in guest seconds; with icount
/// a guest second is 10^9 instructions, about 7 s of wall time here). The CPU times are read to
/// the nanosecond, and the emulated machine has none of the host's noise: short runs suffice.
pub fn guest_plan(quick: bool) -> Plan {
    Plan {
        redis_seconds: if quick { 0.5 } else { 1.0 },
        ..Plan::new(quick)
    }
}

/// Options of `cargo xtask bench callback`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub vm: icount_vm::Args,
    /// Leave out part of the benchmark.
    #[arg(long, value_enum)]
    pub only: Option<Only>,
}

/// The parts `--only` keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Only {
    /// The traced server's rounds and the programs' statistics, without the bystander rounds:
    /// about half the time.
    Traced,
    /// The instructions of each of uprof's programs per request (BPF run-time statistics, one
    /// traced run per set-up with fentry hooks), without any rounds.
    Programs,
}

/// Requests of each statistics run with `--only programs` (what `--quick`'s rounds make).
const PROGRAMS_ONLY_REQUESTS: u64 = 20_000;

/// Runs `cargo xtask bench callback`: on the host, boots the VM and relays what the benchmark
/// printed inside; inside the VM (`--guest`), measures.
pub fn run(bench: &Bench, args: &Args, quick: bool) -> Result<Vec<Target>> {
    if args.vm.guest {
        return guest(bench, args.only);
    }
    let uprof_name = bench
        .uprof
        .file_name()
        .with_context(|| format!("{} names no file", bench.uprof.display()))?
        .to_string_lossy()
        .into_owned();
    // Per round: six runs of each set, four of them with uprof starting; then three runs with
    // the programs' statistics.
    let plan = guest_plan(quick);
    let round = 6.0 * plan.redis_seconds * WALL_PER_GUEST_SECOND + 4.0 * WALL_PER_UPROF_START;
    let statistics = 3.0 * (plan.redis_seconds * WALL_PER_GUEST_SECOND + WALL_PER_UPROF_START);
    let seconds = 120.0 + 2.0 * (plan.rounds + 1) as f64 * round + statistics;
    GuestBench {
        name: "callback",
        files: vec![
            bench.uprof.clone(),
            on_path("redis-server")?,
            on_path("redis-benchmark")?,
        ],
        guest_options: format!("{} --uprof '/payload/{uprof_name}'", only_option(args.only)),
        timeout: Duration::from_secs_f64(seconds),
    }
    .run(&args.vm, quick)?;
    // The guest printed its targets with the rest of its output.
    Ok(Vec::new())
}

/// `--only`'s option on the guest's command line (with a leading space), or nothing.
fn only_option(only: Option<Only>) -> String {
    only.and_then(|only| clap::ValueEnum::to_possible_value(&only))
        .map(|value| format!(" --only {}", value.get_name()))
        .unwrap_or_default()
}

/// `name` as found on `$PATH`, not resolved any further (redis-server is a link whose name
/// decides what the program does).
fn on_path(name: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .with_context(|| format!("`{name}` is not on $PATH (Debian: redis-server, redis-tools)"))
}

/// The uprof set-ups both sets compare: the syscall tier hooked by tracepoints (what kernels
/// refusing fentry get), the syscall tier and the callback tier hooked by fentry, and the
/// latter without the wake-up probes.
const SETUPS: [Options; 4] = [
    Options {
        tier: Some(Tier::Syscall),
        hooks: Some(Hooks::Tracepoint),
        no_wakeups: false,
    },
    Options {
        tier: Some(Tier::Syscall),
        hooks: Some(Hooks::Fentry),
        no_wakeups: false,
    },
    Options {
        tier: Some(Tier::Callback),
        hooks: Some(Hooks::Fentry),
        no_wakeups: false,
    },
    Options {
        tier: Some(Tier::Callback),
        hooks: Some(Hooks::Fentry),
        no_wakeups: true,
    },
];

/// The measurements, inside the VM.
fn guest(bench: &Bench, only: Option<Only>) -> Result<Vec<Target>> {
    let redis = Redis::start(bench.scratch_dir())?;
    if only == Some(Only::Programs) {
        for options in &SETUPS[1..] {
            programs::print_costs(bench, &redis, *options, PROGRAMS_ONLY_REQUESTS)?;
        }
        return Ok(Vec::new());
    }
    let traced_variants = SETUPS.map(Variant::traced);
    let [tracepoints, syscall, callback, _] = traced_variants;
    overhead::heading(bench, &redis, "callback, traced server");
    let variants = between_untraced(&traced_variants);
    let traced = overhead::interleave(bench, &redis, &variants, "callback traced")?;
    traced.print_table();
    print_ratios(
        &traced,
        "syscall tier: fentry / tracepoint hooks",
        syscall,
        tracepoints,
    );
    print_ratios(
        &traced,
        "callback tier / syscall tier (fentry hooks)",
        callback,
        syscall,
    );
    for options in &SETUPS[1..] {
        programs::print_costs(bench, &redis, *options, traced.requests())?;
    }
    if only == Some(Only::Traced) {
        return Ok(traced_targets(&traced, traced_variants));
    }

    let mut busy = Busy::start(VM_BUSY_RATE)?;
    overhead::heading(bench, &redis, "callback, untraced server (bystander)");
    busy.print()?;
    let elsewhere = SETUPS.map(|options| busy.traced_by(options));
    let bystander = overhead::interleave(
        bench,
        &redis,
        &between_untraced(&elsewhere),
        "callback bystander",
    )?;
    busy.check_running()?;
    bystander.print_table();
    let server = |r: &Run| r.server_us;
    let both = |r: &Run| r.server_us + r.client_us;
    let mut verdicts = Vec::new();
    for (variant, options) in elsewhere.into_iter().zip(SETUPS) {
        let label = options.label();
        let verdict = Verdict::of(&bystander, variant, server);
        verdict.print(&format!("{label}: redis-server CPU per request"));
        Verdict::of(&bystander, variant, both)
            .print(&format!("{label}: redis-server + redis-benchmark CPU"));
        verdicts.push((label, verdict));
    }
    println!();

    let mut targets = traced_targets(&traced, traced_variants);
    targets.extend(
        verdicts
            .iter()
            .map(|(label, verdict)| verdict.target(&format!("VM: bystander CPU/req, {label}"))),
    );
    Ok(targets)
}

/// The traced server's CPU per request with each set-up, against its target.
fn traced_targets(traced: &overhead::Rounds, variants: [Variant; 4]) -> Vec<Target> {
    variants
        .into_iter()
        .zip(SETUPS)
        .map(|(variant, options)| {
            let ratio = traced.ratio(variant, Variant::Untraced, |r| r.server_us);
            Target {
                what: format!("VM: redis CPU/req, {}", options.label()),
                goal: "<= x1.05",
                measured: format!("x{ratio:.3}"),
                met: ratio <= UPROF_MAX_CPU_RATIO,
            }
        })
        .collect()
}

/// `variants` between an untraced run and the untraced-again one (the noise).
fn between_untraced(variants: &[Variant]) -> Vec<Variant> {
    let mut all = vec![Variant::Untraced];
    all.extend_from_slice(variants);
    all.push(Variant::UntracedAgain);
    all
}

/// Prints variant `a`'s cost over `b`'s, round by round.
fn print_ratios(rounds: &overhead::Rounds, title: &str, a: Variant, b: Variant) {
    let fields: [(&str, Field); 4] = [
        ("redis-server CPU per request", |r| r.server_us),
        ("redis-benchmark CPU per request", |r| r.client_us),
        ("server + client CPU per request", |r| {
            r.server_us + r.client_us
        }),
        ("requests per second", |r| r.throughput),
    ];
    println!("   {title}, same round (per round, then median):");
    for (what, field) in fields {
        println!(
            "     {what:<32} {}  x{:.3}",
            list(&rounds.ratios(a, b, field)),
            rounds.ratio(a, b, field)
        );
    }
    println!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_is_passed_on_to_the_guest_by_its_command_line_name() {
        assert_eq!(only_option(None), "");
        assert_eq!(only_option(Some(Only::Programs)), " --only programs");
        assert_eq!(only_option(Some(Only::Traced)), " --only traced");
    }
}
