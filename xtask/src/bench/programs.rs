//! Where a traced server's extra instructions go, program by program: the kernel's BPF
//! statistics (`BPF_ENABLE_STATS`: how often each program ran and for how long) over one
//! redis-benchmark run while uprof traces the redis-server. Inside the callback benchmark's VM
//! (`-icount`), a nanosecond of run time is one instruction. The statistics cost time of their
//! own, so this run is separate from the interleaved rounds.

use std::collections::HashMap;

use anyhow::{Context, Result};
use aya::programs::loaded_programs;
use aya::sys::{Stats, enable_stats};

use super::Bench;
use super::overhead::Variant;
use super::redis::Redis;
use super::uprof::Options;

/// Run count and run time (ns) of every loaded program, by program id, with its name (the
/// kernel keeps 15 characters of it).
fn snapshot() -> Result<HashMap<u32, (String, u64, u64)>> {
    loaded_programs()
        .map(|info| {
            let info = info.context("cannot read a loaded program's info")?;
            let name = info.name_as_str().unwrap_or("?").to_owned();
            let ns = info.run_time().as_nanos() as u64;
            Ok((info.id(), (name, info.run_count(), ns)))
        })
        .collect()
}

/// Traces the redis-server with `options` through `requests` requests and prints, for each of
/// uprof's programs that ran, its runs and run time per request.
pub fn print_costs(bench: &Bench, redis: &Redis, options: Options, requests: u64) -> Result<()> {
    let _stats = enable_stats(Stats::RunTime).context("cannot enable BPF run-time statistics")?;
    let others = snapshot()?;
    let variant = Variant::traced(options);
    let tracer = variant.attach(bench, redis.pid())?;
    let before = snapshot()?;
    redis.benchmark(requests)?;
    let after = snapshot()?;
    if let Some(tracer) = tracer {
        tracer.stop()?;
    }
    let mut rows: Vec<(String, f64, f64)> = after
        .iter()
        .filter(|(id, _)| !others.contains_key(id))
        .filter_map(|(id, (name, count, ns))| {
            let (_, count_before, ns_before) = before.get(id)?;
            let runs = count - count_before;
            (runs > 0).then(|| {
                let per_request = |n: u64| n as f64 / requests as f64;
                (name.clone(), per_request(runs), per_request(ns - ns_before))
            })
        })
        .collect();
    rows.sort_by(|a, b| b.2.total_cmp(&a.2));
    println!(
        "   {}: uprof's programs over {requests} requests (BPF run-time statistics; \
         under -icount 1 ns = 1 instruction)",
        variant.name()
    );
    println!(
        "     {:<16} {:>12} {:>12} {:>12}",
        "program", "runs/req", "ns/run", "ns/req"
    );
    for (name, runs, ns) in &rows {
        println!(
            "     {name:<16} {runs:>12.2} {:>12.0} {ns:>12.0}",
            ns / runs
        );
    }
    let total: f64 = rows.iter().map(|r| r.2).sum();
    println!("     {:<16} {:>12} {:>12} {total:>12.0}\n", "all", "", "");
    Ok(())
}
