//! The loops benchmark: instructions per echoed request and per wakeup of tickloop's echo
//! server on each backend, mio's and tokio's, counted deterministically inside a stock kernel
//! under qemu `-icount` (see `icount_vm`): on the noisy development machines throughput varies
//! several-fold between rounds, but instruction counts do not.
//!
//! Inside the VM (`bench loops --guest`), each server in turn serves the same closed-loop load
//! from `tickloop-loadgen --requests N` (the same N requests for every server). Around the
//! load, the server's CPU time comes from `/proc/PID/schedstat`, its blocking waits from
//! `/proc/PID/status` and its wait returns from its own report (see `figures`).

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
use crate::loops::subjects::{Subject, loadgen_requests, run_stdout};
use figures::{PerRequest, Run, Sample};

/// The servers compared, in row order; the last ones are the references.
const SERVERS: [Subject; 6] = [
    Subject::Tickloop("epoll"),
    Subject::Tickloop("epoll-et"),
    Subject::Tickloop("poll"),
    Subject::Tickloop("select"),
    Subject::Mio,
    Subject::Tokio,
];
/// The server every row is compared with, and the one the target names.
const BASELINE: Subject = Subject::Mio;
const TARGET: Subject = Subject::Tickloop("epoll");
/// The binaries the VM needs beside xtask.
const BINARIES: [&str; 4] = [
    "tickloop-echo",
    "mio-echo",
    "tokio-echo",
    "tickloop-loadgen",
];
/// Closed-loop connections of the load (as `cargo xtask loops`).
const CONNECTIONS: usize = 16;
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
                requests: 10_000,
                rounds: 1,
            }
        } else {
            Plan {
                requests: 30_000,
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
    let served = (plan.requests as usize * plan.rounds * SERVERS.len()) as f64;
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
        "== loops: each echo server serves the same {} requests of 64 bytes from {CONNECTIONS} \
         closed-loop connections (tickloop-loadgen --requests), {} round(s)",
        plan.requests, plan.rounds
    );
    println!(
        "   instructions of the server process (user + kernel), from its CPU time under icount"
    );
    let mut rounds: Vec<Vec<PerRequest>> = vec![Vec::new(); SERVERS.len()];
    for round in 1..=plan.rounds {
        for (subject, figures) in SERVERS.iter().zip(&mut rounds) {
            eprintln!(
                "bench: loops round {round}/{}: {}",
                plan.rounds,
                subject.name()
            );
            let run = serve(*subject, bin, plan.requests)
                .with_context(|| format!("{} round {round}", subject.name()))?;
            figures.push(run.per_request()?);
        }
    }
    let rows: Vec<(String, PerRequest)> = SERVERS
        .iter()
        .zip(&rounds)
        .map(|(subject, figures)| (subject.name(), figures::median_of(figures)))
        .collect();
    println!();
    for line in figures::table(&rows, &BASELINE.name())? {
        println!("{line}");
    }
    println!(
        "   waits: returns of epoll_wait/poll/select (the servers' own counts; tokio keeps none); \
         sleeps: voluntary context switches (/proc/PID/status), the waits that blocked"
    );
    if plan.rounds > 1 {
        println!("   instructions per request, round by round:");
        for (subject, figures) in SERVERS.iter().zip(&rounds) {
            let each: Vec<String> = figures
                .iter()
                .map(|f| format!("{:.0}", f.instructions))
                .collect();
            println!("     {:<16} {}", subject.name(), each.join(" "));
        }
    }
    println!();
    let instructions = |subject: Subject| {
        rows.iter()
            .find(|(name, _)| *name == subject.name())
            .map(|(_, row)| row.instructions)
            .expect("every server has a row")
    };
    let ratio = instructions(TARGET) / instructions(BASELINE);
    Ok(vec![Target {
        what: format!("VM: {} instructions/request", TARGET.name()),
        goal: "<= mio's",
        measured: format!("x{ratio:.3} of mio's"),
        met: ratio <= 1.0,
    }])
}

/// Starts `subject`, puts the load on it, and samples it around the load.
fn serve(subject: Subject, bin: &Path, requests: u64) -> Result<Run> {
    let mut server = subject.start_echo(bin)?;
    // The reports' own work falls outside the window: the first is asked for before it
    // opens, the last after it closed.
    let report = ask_report(&mut server)?;
    let (schedstat, status) = proc_files(&server)?;
    let before = Sample::parse(&schedstat, &status, &report)?;
    let mut loadgen = Command::new(bin.join("tickloop-loadgen"));
    loadgen
        .args(["--port", &server.addr().port().to_string()])
        .args(["--connections", &CONNECTIONS.to_string()])
        .args(["--requests", &requests.to_string()])
        .args(["--warmup", "0", "--json"])
        .args(["--duration", &MAX_GUEST_SECONDS.to_string()]);
    let answered = run_stdout(&mut loadgen).and_then(|out| loadgen_requests(&out))?;
    if answered != requests {
        bail!("tickloop-loadgen had {answered} of {requests} requests answered");
    }
    let (schedstat, status) = proc_files(&server)?;
    let report = ask_report(&mut server)?;
    let after = Sample::parse(&schedstat, &status, &report)?;
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

/// The server's `/proc/PID/schedstat` and `/proc/PID/status`.
fn proc_files(server: &ServerProcess) -> Result<(String, String)> {
    let read = |name: &str| {
        let path = format!("/proc/{}/{name}", server.pid());
        fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))
    };
    Ok((read("schedstat")?, read("status")?))
}
