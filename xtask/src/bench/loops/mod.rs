//! The loops benchmark: instructions per echoed request and per wakeup of tickloop's echo
//! server on each backend, mio's and tokio's, counted deterministically inside a stock kernel
//! under qemu `-icount` (see `icount_vm`): on the noisy development machines throughput varies
//! several-fold between rounds, but instruction counts do not.
//!
//! Inside the VM (`bench loops --guest`), each server in turn serves the same closed-loop load
//! from `tickloop-loadgen --requests N` (the same N requests for every server). Around the
//! load, the server's CPU time comes from schedstat (`procs::thread_cpu_time`), its blocking
//! waits from `/proc/PID/status` and its wait returns from its own report (see `figures`).

mod figures;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tickloop_apps::report::ServerReport;
use tickloop_apps::server_process::ServerProcess;

use super::Target;
use super::icount_vm::{Args, GuestBench};
use super::procs::thread_cpu_time;
use crate::loops::subjects::{Subject, loadgen_requests, run_stdout};
use figures::{PerRequest, Run, Sample};

/// The servers compared, in row order: the loops of `cargo xtask loops` but node and redis,
/// which the VM does not hold; the last ones are the references.
const SERVERS: &[Subject] = Subject::ALL.as_slice().split_at(Subject::ALL.len() - 2).0;
/// The server every row is compared with.
const BASELINE: Subject = Subject::Mio;
/// The server whose instructions per request must not exceed the baseline's.
const TARGET: Subject = Subject::Tickloop("epoll");
/// The binaries the VM needs beside xtask.
const BINARIES: [&str; 4] = [
    "tickloop-echo",
    "mio-echo",
    "tokio-echo",
    "tickloop-loadgen",
];
/// Closed-loop connections of the two loads: with one, every request takes a wakeup of its
/// own, so the loops' cost per iteration shows; with 16 (as `cargo xtask loops`), wakeups
/// batch requests as the scheduler lets them.
const CONNECTIONS: [usize; 2] = [1, 16];
/// The load generator's bound on one run, in guest seconds (it ends with its last answer).
const MAX_GUEST_SECONDS: u32 = 300;

/// How much the guest runs.
#[derive(Clone, Copy, Debug)]
struct Plan {
    /// Requests per server and round.
    requests: u64,
    /// Rounds over all servers; the table shows each server's median.
    rounds: usize,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                requests: 15_000,
                rounds: 1,
            }
        } else {
            Plan {
                requests: 20_000,
                rounds: 3,
            }
        }
    }
}

/// Wall seconds per request served in the VM, with room for a busier host.
const WALL_PER_REQUEST: f64 = 0.01;

/// Runs `cargo xtask bench loops`: on the host, boots the VM and relays what the benchmark
/// printed inside; inside the VM (`--guest`), measures.
pub fn run(args: &Args, quick: bool) -> Result<Vec<Target>> {
    let plan = Plan::new(quick);
    if args.guest {
        return guest(plan);
    }
    let bin = crate::release::build("bench loops", &["tickloop-apps"])?;
    let served = (plan.requests as usize * plan.rounds * SERVERS.len() * CONNECTIONS.len()) as f64;
    GuestBench {
        name: "loops",
        files: BINARIES.iter().map(|name| bin.join(name)).collect(),
        guest_options: String::new(),
        timeout: Duration::from_secs_f64(120.0 + served * WALL_PER_REQUEST),
    }
    .run(args, quick)?;
    // The guest printed its target with the rest of its output.
    Ok(Vec::new())
}

/// The measurements, inside the VM.
fn guest(plan: Plan) -> Result<Vec<Target>> {
    let exe = std::env::current_exe().context("cannot find the xtask binary")?;
    let bin = exe.parent().context("the xtask binary has no directory")?;
    println!(
        "== loops: each echo server serves the same {} requests of 64 bytes (tickloop-loadgen \
         --requests, closed loop), {} round(s); instructions of the server process (user + \
         kernel), from its CPU time under icount",
        plan.requests, plan.rounds
    );
    let mut targets = Vec::new();
    for connections in CONNECTIONS {
        println!();
        println!("   {connections} connection(s):");
        let rows = compare(plan, bin, connections)?;
        let instructions = |subject: Subject| {
            rows.iter()
                .find(|(name, _)| *name == subject.name())
                .map(|(_, row)| row.instructions)
                .expect("every server has a row")
        };
        let ratio = instructions(TARGET) / instructions(BASELINE);
        targets.push(Target {
            what: format!("VM: {} instr/request, {connections} conn", TARGET.name()),
            goal: "<= mio's",
            measured: format!("x{ratio:.3} of mio's"),
            met: ratio <= 1.0,
        });
    }
    println!(
        "   waits: returns of epoll_wait/poll/select (the servers' own counts; tokio keeps none); \
         sleeps: voluntary context switches (/proc/PID/status), the waits that blocked\n"
    );
    Ok(targets)
}

/// Every server under `connections`, round by round; prints the table and returns its rows.
fn compare(plan: Plan, bin: &Path, connections: usize) -> Result<Vec<(String, PerRequest)>> {
    let mut rounds: Vec<Vec<PerRequest>> = vec![Vec::new(); SERVERS.len()];
    for round in 1..=plan.rounds {
        for (subject, figures) in SERVERS.iter().zip(&mut rounds) {
            let name = subject.name();
            eprintln!(
                "bench: loops, {connections} connection(s), round {round}/{}: {name}",
                plan.rounds
            );
            let run = serve(*subject, bin, connections, plan.requests)
                .with_context(|| format!("{name}, {connections} connection(s), round {round}"))?;
            figures.push(run.per_request()?);
        }
    }
    let rows: Vec<(String, PerRequest)> = SERVERS
        .iter()
        .zip(&rounds)
        .map(|(subject, figures)| (subject.name(), figures::median_of(figures)))
        .collect();
    for line in figures::table(&rows, &BASELINE.name())? {
        println!("{line}");
    }
    if plan.rounds > 1 {
        println!("   instructions per request, round by round:");
        for (subject, figures) in SERVERS.iter().zip(&rounds) {
            let each: Vec<String> = figures
                .iter()
                .map(|f| format!("{:.0}", f.instructions))
                .collect();
            println!("     {:<18} {}", subject.name(), each.join(" "));
        }
    }
    Ok(rows)
}

/// Starts `subject`, puts the load on it, and samples it around the load.
fn serve(subject: Subject, bin: &Path, connections: usize, requests: u64) -> Result<Run> {
    let mut server = subject.start_echo(bin)?;
    // The reports' own work falls outside the window: the first is asked for before it
    // opens, the last after it closed.
    let report = ask_report(&mut server)?;
    let before = sample(&server, &report)?;
    let mut loadgen = Command::new(bin.join("tickloop-loadgen"));
    loadgen
        .args(["--port", &server.addr().port().to_string()])
        .args(["--connections", &connections.to_string()])
        .args(["--requests", &requests.to_string()])
        .args(["--warmup", "0", "--json"])
        .args(["--duration", &MAX_GUEST_SECONDS.to_string()]);
    let answered = run_stdout(&mut loadgen).and_then(|out| loadgen_requests(&out))?;
    if answered != requests {
        bail!("tickloop-loadgen had {answered} of {requests} requests answered");
    }
    let cpu_ns = cpu_ns(&server)?;
    let status = status(&server)?;
    let report = ask_report(&mut server)?;
    let after = Sample::new(cpu_ns, &status, &report)?;
    server.shutdown()?;
    Ok(Run {
        requests,
        before,
        after,
    })
}

/// The server's report, asked for with SIGUSR1.
fn ask_report(server: &mut ServerProcess) -> Result<ServerReport> {
    ServerProcess::request_report(server.pid());
    server.read_report()
}

/// The server's counters now, with its last report.
fn sample(server: &ServerProcess, report: &ServerReport) -> Result<Sample> {
    Sample::new(cpu_ns(server)?, &status(server)?, report)
}

/// The server's CPU time so far, in nanoseconds: its instructions under icount.
fn cpu_ns(server: &ServerProcess) -> Result<u64> {
    let cpu = thread_cpu_time(server.pid() as u32)?;
    Ok(u64::try_from(cpu.as_nanos()).expect("CPU time fits 64-bit nanoseconds"))
}

/// The server's `/proc/PID/status`.
fn status(server: &ServerProcess) -> Result<String> {
    let path = format!("/proc/{}/status", server.pid());
    fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))
}
