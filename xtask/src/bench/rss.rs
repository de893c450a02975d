//! The RSS benchmark: uprof's memory during a long recording of a busy redis-server (driven by
//! redis-benchmark in a loop), sampled every second from `/proc`, and its lifetime peak from
//! `wait4` (which also covers the final flush).

use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::procs::{self, KillOnDrop, Spawned, describe};
use super::redis::Redis;
use super::stats::{mib, millions};
use super::uprof::{self, Stopped};
use super::{Bench, Target};

/// The target: peak RSS, in bytes.
const TARGET_BYTES: u64 = 64 << 20;
/// Time between two samples.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// Runs the RSS benchmark and returns its target.
pub fn run(bench: &Bench) -> Result<Vec<Target>> {
    let seconds = bench.plan.rss_seconds;
    let redis = Redis::start(bench.scratch_dir())?;
    let mut load_cmd = redis.benchmark_command(&["-n", "1000000", "-l", "-q"]);
    let out = bench.scratch("rss.uprof");
    let mut record = uprof::record_pid(&bench.uprof, redis.pid(), &out);
    record.args(["--duration", &format!("{seconds}s")]);
    println!("== rss: {seconds} s recording of a busy redis-server, sampled every second");
    println!("   load:   {}", describe(&load_cmd));
    println!("   traced: {}", describe(&record));

    // redis-benchmark looping (`-l`) until killed.
    let mut looping = KillOnDrop::spawn(&mut load_cmd)?;
    let ready = uprof::Ready::give_to(&mut record)?;
    let mut recorder = Spawned::start(&mut record)?;
    uprof::wait_attached(&mut recorder, ready)?;
    let start = Instant::now();
    let mut samples = Vec::new();
    while let Some(memory) = procs::memory(recorder.pid()) {
        samples.push(memory);
        thread::sleep(SAMPLE_EVERY);
    }
    let finished = recorder.finish()?;
    looping
        .check_running()
        .context("redis-benchmark stopped during the recording")?;
    let elapsed = start.elapsed().as_secs_f64();
    let stopped = Stopped::of(&out)?;
    let size = std::fs::metadata(&out)?.len();
    std::fs::remove_file(&out).context("removing the RSS recording")?;

    let max_sampled = samples.iter().map(|m| m.rss).max().unwrap_or(0);
    // Growth shows as a higher peak in the last tenth of the recording than in the first.
    let tenth = samples.len().div_ceil(10);
    let peak_of = |part: &[procs::Memory]| part.iter().map(|m| m.rss).max().unwrap_or(0);
    println!(
        "   {} samples; VmRSS max {:.1} MiB (first tenth {:.1} MiB, last tenth {:.1} MiB); \
         peak (wait4 ru_maxrss) {:.1} MiB",
        samples.len(),
        mib(max_sampled),
        mib(peak_of(&samples[..tenth])),
        mib(peak_of(&samples[samples.len() - tenth..])),
        mib(finished.max_rss),
    );
    println!(
        "   {} records ({:.3} M/s), {} lost, {:.0} MiB file; uprof CPU {:.1}% of one core\n",
        stopped.records,
        millions(stopped.records as f64 / elapsed),
        stopped.lost,
        mib(size),
        100.0 * finished.cpu.as_secs_f64() / elapsed,
    );
    let peak = finished.max_rss.max(max_sampled);
    Ok(vec![Target {
        what: "rss: peak RSS while recording".into(),
        goal: "< 64 MiB",
        measured: format!("{:.1} MiB", mib(peak)),
        met: peak < TARGET_BYTES,
    }])
}
