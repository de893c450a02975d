//! Records per second through `Analyzer::push` + `finish` on a synthetic event-loop workload.
//!
//! `cargo bench -p uprof-analysis --bench throughput [-- RECORDS] [SCENARIO...]`
//! (default: 10 million records, every scenario).
//!
//! Eight threads in two processes run epoll loops: each tick is an `epoll_wait` returning 1-8
//! events and its `WaitEvents` record; every 4th tick adds an `epoll_ctl MOD`, every 64th a
//! close and a new ADD. Scenarios differ in delivery order:
//! - `in-order`: sorted by timestamp;
//! - `jitter`: each record up to 5 µs late, as from one ring buffer shared by all CPUs;
//! - `cpu-skew`: thread i's records 0.25·i ms late, as from per-CPU buffers read in turn.
use std::hint::black_box;
use std::time::Instant;

use uprof_analysis::findings::{Kind, Thresholds};
use uprof_analysis::synth::Task;
use uprof_analysis::{Analyzer, SessionInfo};
use uprof_common::{EPOLL_CTL_ADD, EPOLL_CTL_MOD, EPOLLIN, Record};

/// Ticks per thread in the pattern that is replayed.
const TICKS: u64 = 10_000;
const TICK_NS: u64 = 20_000;
const FDS: u64 = 32;
const EPFD: i32 = 3;
const SCENARIOS: [&str; 3] = ["in-order", "jitter", "cpu-skew"];

fn main() {
    // `--without-findings`: every finding silenced, the baseline of what findings cost.
    let without_findings = std::env::args().any(|a| a == "--without-findings");
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let records: u64 = args
        .iter()
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let chosen: Vec<&str> = args
        .iter()
        .filter(|a| a.parse::<u64>().is_err())
        .map(String::as_str)
        .collect();
    for scenario in SCENARIOS {
        if chosen.is_empty() || chosen.contains(&scenario) {
            run(scenario, records, without_findings);
        }
    }
}

fn run(scenario: &str, records: u64, without_findings: bool) {
    let pattern = pattern(scenario);
    let span = (TICKS + 10) * TICK_NS;
    let start = Instant::now();
    let mut analyzer = if without_findings {
        Analyzer::with_thresholds(Thresholds {
            silenced: Kind::ALL.to_vec(),
            ..Thresholds::default()
        })
    } else {
        Analyzer::new()
    };
    let mut pushed = 0u64;
    let mut round = 0;
    while pushed < records {
        for rec in &pattern {
            analyzer.push(&shifted(rec, round * span));
        }
        pushed += pattern.len() as u64;
        round += 1;
    }
    let report = analyzer.finish(&SessionInfo::default());
    let secs = start.elapsed().as_secs_f64();
    black_box(&report);
    println!(
        "{scenario:>8}: {pushed} records in {secs:.2} s = {:.2} M records/s",
        pushed as f64 / secs / 1e6
    );
}

/// One replayable stretch of the workload, in delivery order.
fn pattern(scenario: &str) -> Vec<Record> {
    let mut out: Vec<(u64, Record)> = Vec::new();
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    for i in 0..8u32 {
        let pid = 1000 * (1 + i / 4);
        let task = Task::new(pid, pid + i);
        let skew = u64::from(i) * 250_000;
        let base_fd = 10 + u64::from(i) * FDS;
        // A thread's records are delivered in order, whatever their delays.
        let mut last_delivery = 0;
        let mut push = |rec: Record| {
            let delay = match scenario {
                "jitter" => xorshift(&mut rng) % 5_000,
                "cpu-skew" => skew,
                _ => 0,
            };
            last_delivery = (rec.header().ts + delay).max(last_delivery);
            out.push((last_delivery, rec));
        };
        for fd in 0..FDS {
            let fd = (base_fd + fd) as i32;
            push(task.epoll_ctl(1 + u64::from(i), EPFD, EPOLL_CTL_ADD, fd, fd as u64, 0));
        }
        for tick in 0..TICKS {
            let enter = (10 + tick) * TICK_NS + u64::from(i);
            let exit = enter + TICK_NS / 2;
            let n = 1 + tick % 8;
            push(task.epoll_wait(enter, exit, EPFD, n as i64));
            let events: Vec<(u32, u64)> = (0..n)
                .map(|k| (EPOLLIN, base_fd + (tick + k) % FDS))
                .collect();
            task.events(exit, &events).into_iter().for_each(&mut push);
            let fd = (base_fd + tick % FDS) as i32;
            if tick % 4 == 0 {
                push(task.epoll_ctl(exit + 10, EPFD, EPOLL_CTL_MOD, fd, fd as u64, 0));
            }
            if tick % 64 == 0 {
                push(task.close(exit + 20, fd, 0));
                push(task.epoll_ctl(exit + 30, EPFD, EPOLL_CTL_ADD, fd, fd as u64, 0));
            }
        }
    }
    // Stable, so a thread's records with equal delivery times keep their order.
    out.sort_by_key(|(delivery, _)| *delivery);
    out.into_iter().map(|(_, rec)| rec).collect()
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// `rec` moved `offset` ns later.
fn shifted(rec: &Record, offset: u64) -> Record {
    let mut rec = *rec;
    match &mut rec {
        Record::Wait(w) => {
            w.header.ts += offset;
            w.enter_ts += offset;
        }
        Record::WaitEvents(e) => e.header.ts += offset,
        Record::EpollCtl(c) => {
            c.header.ts += offset;
            c.enter_ts += offset;
        }
        Record::Close(c) => c.header.ts += offset,
        _ => unreachable!("the pattern has no other kinds"),
    }
    rec
}
