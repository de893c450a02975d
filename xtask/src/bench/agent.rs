//! The agent benchmark: what `uprof agent` costs while a process makes a known rate of waits
//! (its CPU share of one core and its RSS, sampled every second while /metrics is scraped
//! every second as Prometheus would), beside `uprof record -o` at the same rate, and how long a
//! /metrics scrape with 1,000 label sets takes (in process, over HTTP, on a synthetic stream).

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use uprof_analysis::stream::Reconstructor;
use uprof_analysis::synth::Task;
use uprof_common::{EPOLL_CTL_ADD, EPOLLIN, FdKind};
use uprof_metrics::{Config, Info, Metrics};

use super::load;
use super::procs::{self, KillOnDrop, Spawned, describe};
use super::stats::{median, mib};
use super::uprof::{self, READY_FD, Ready};
use super::{Bench, Target};

/// Label sets in the scrape benchmark.
const LABEL_SETS: u32 = 1_000;
/// Scrapes timed.
const SCRAPES: usize = 30;

/// What one traced run cost.
struct Cost {
    /// CPU time over wall time, in % of one core.
    cpu_percent: f64,
    /// Peak sampled RSS, and the first and last samples, in bytes.
    rss_max: u64,
    rss_first: u64,
    rss_last: u64,
    /// Waits the load made per second.
    rate: f64,
    /// Waits /metrics counted at the last scrape (agent only).
    counted: Option<u64>,
}

pub fn run(bench: &Bench) -> Result<Vec<Target>> {
    let seconds = bench.plan.load_seconds * 3.0;
    println!(
        "== agent: uprof agent -p (scraped every second) and uprof record -o, {seconds} s at each rate of zero-timeout epoll_waits"
    );
    let mut targets = Vec::new();
    for rate in [10_000, 50_000] {
        let agent = traced(bench, rate, seconds, true)?;
        let record = traced(bench, rate, seconds, false)?;
        println!(
            "   {rate:>6}/s asked ({:.0}/s made): agent CPU {:.2}% of a core, RSS max {:.1} MiB \
             (first {:.1}, last {:.1}), /metrics counted {} waits; record -o CPU {:.2}%, RSS max {:.1} MiB",
            agent.rate,
            agent.cpu_percent,
            mib(agent.rss_max),
            mib(agent.rss_first),
            mib(agent.rss_last),
            agent.counted.unwrap_or(0),
            record.cpu_percent,
            mib(record.rss_max),
        );
        if rate == 10_000 {
            targets.push(Target {
                what: "agent: CPU at 10k waits/s".into(),
                goal: "< 2% of a core",
                measured: format!("{:.2}%", agent.cpu_percent),
                met: agent.cpu_percent < 2.0,
            });
        } else {
            targets.push(Target {
                what: format!("agent: RSS at 50k waits/s ({seconds} s)"),
                goal: "< 32 MiB",
                measured: format!("{:.1} MiB", mib(agent.rss_max)),
                met: agent.rss_max < 32 << 20,
            });
        }
    }
    let (median_ms, max_ms, bytes) = scrape()?;
    println!(
        "   /metrics with {LABEL_SETS} label sets: {bytes} bytes, median {median_ms:.1} ms, max {max_ms:.1} ms over {SCRAPES} scrapes\n"
    );
    targets.push(Target {
        what: format!("agent: /metrics scrape, {LABEL_SETS} label sets"),
        goal: "< 50 ms",
        measured: format!("{median_ms:.1} ms (max {max_ms:.1})"),
        met: median_ms < 50.0,
    });
    Ok(targets)
}

/// Runs the wait generator at `rate` for `seconds` under `uprof agent` (`agent`) or `uprof
/// record -o`, and measures the tracer.
fn traced(bench: &Bench, rate: u64, seconds: f64, agent: bool) -> Result<Cost> {
    // The load outlives the measured window: the tracer attaches to it while it runs.
    let mut load_cmd = load::Args {
        threads: 1,
        rate,
        seconds: seconds + 10.0,
    }
    .command()?;
    load_cmd.stdout(Stdio::piped());
    let load = KillOnDrop::spawn(&mut load_cmd)?;
    let pid = load.pid().to_string();
    let listen = format!("127.0.0.1:{}", free_port()?);
    let out = bench.scratch("agent-baseline.uprof");
    let mut cmd = Command::new(&bench.uprof);
    if agent {
        cmd.args([
            "agent",
            "--ready-fd",
            READY_FD,
            "-p",
            &pid,
            "--listen",
            &listen,
        ]);
    } else {
        cmd = uprof::record_pid(&bench.uprof, load.pid(), &out);
    }
    cmd.stdout(Stdio::null());
    println!("   traced: {}", describe(&cmd));
    let ready = Ready::give_to(&mut cmd)?;
    let mut tracer = Spawned::start(&mut cmd)?;
    ready.wait(&mut tracer, Duration::from_secs(30))?;
    let (cpu0, start) = (procs::cpu_time(tracer.pid())?, Instant::now());
    let mut samples = Vec::new();
    let mut counted = None;
    while start.elapsed().as_secs_f64() < seconds {
        thread::sleep(Duration::from_secs(1));
        if agent {
            counted = Some(waits_counted(&get_metrics(&listen)?)?);
        }
        samples.push(
            procs::memory(tracer.pid())
                .context("the tracer ended early")?
                .rss,
        );
    }
    let cpu = procs::cpu_time(tracer.pid())? - cpu0;
    let elapsed = start.elapsed().as_secs_f64();
    tracer.stop()?;
    drop(load);
    let _ = std::fs::remove_file(&out);
    Ok(Cost {
        cpu_percent: 100.0 * cpu.as_secs_f64() / elapsed,
        rss_max: samples.iter().copied().max().unwrap_or(0),
        rss_first: samples.first().copied().unwrap_or(0),
        rss_last: samples.last().copied().unwrap_or(0),
        rate: match counted {
            // The agent's own count over the whole run, for the rate actually made.
            Some(n) => n as f64 / (elapsed + 1.0),
            None => rate as f64,
        },
        counted,
    })
}

/// The sum of the wait histograms' counts in a /metrics answer.
fn waits_counted(body: &str) -> Result<u64> {
    let mut total = 0;
    for line in body.lines() {
        if line.starts_with("uprof_wait_duration_seconds_count{") {
            let (_, value) = line.rsplit_once(' ').context("a sample without a value")?;
            total += value.parse::<u64>().context("a count that is no integer")?;
        }
    }
    Ok(total)
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn get_metrics(addr: &str) -> Result<String> {
    let mut stream = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let Some(("HTTP/1.1 200 OK", rest)) = response.split_once("\r\n") else {
        bail!("/metrics did not answer 200: {response:.200}");
    };
    let (_, body) = rest.split_once("\r\n\r\n").context("no body")?;
    Ok(body.to_owned())
}

/// Times /metrics scrapes over HTTP of a [`Metrics`] holding [`LABEL_SETS`] label sets, each
/// with waits of two outcomes, events, `epoll_ctl` calls and ticks: (median ms, max ms, bytes).
fn scrape() -> Result<(f64, f64, usize)> {
    let metrics = Metrics::new(Config::default(), Info::default());
    let mut feed = metrics.feed();
    let mut stream = Reconstructor::new();
    for i in 0..LABEL_SETS {
        let t = Task::new(10_000 + i, 10_000 + i);
        let ts = 1_000_000 + u64::from(i) * 1_000;
        let mut records = vec![
            t.task_info(ts, &format!("worker-{i}")),
            t.epoll_create(ts + 1, 3),
            t.epoll_ctl(ts + 2, 3, EPOLL_CTL_ADD, 5, 5, 0),
            t.fd_info(ts + 2, 5, FdKind::Socket),
            t.epoll_wait(ts + 10, ts + 20, 3, 1),
        ];
        records.extend(t.events(ts + 20, &[(EPOLLIN, 5)]));
        records.push(t.epoll_wait(ts + 30, ts + 500, 3, 0));
        for r in &records {
            stream.push(r, &mut feed);
        }
    }
    stream.advance(10_000_000_000, &mut feed);
    if metrics.label_sets() != LABEL_SETS as usize {
        bail!(
            "{} label sets instead of {LABEL_SETS}",
            metrics.label_sets()
        );
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?.to_string();
    listener.set_nonblocking(true)?;
    let served = metrics.clone();
    thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("a listener");
            uprof_metrics::serve(listener, served).await;
        });
    });
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..SCRAPES {
        let start = Instant::now();
        bytes = get_metrics(&addr)?.len();
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    let max = times.iter().copied().fold(0.0, f64::max);
    Ok((median(&times), max, bytes))
}
