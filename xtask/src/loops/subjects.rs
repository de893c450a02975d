//! The event loops compared, how each is started, and how one is recorded under load.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use tickloop_apps::server_process::ServerProcess;

use crate::bench::procs::{Spawned, describe};
use crate::bench::redis::Redis;
use crate::bench::uprof::{Ready, Stopped, record_pid, wait_attached};

/// An event loop under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// `tickloop-echo --backend NAME`.
    Tickloop(&'static str),
    /// `mio-echo`.
    Mio,
    /// `tokio-echo` (current-thread runtime).
    Tokio,
    /// `node echo.js` (libuv).
    Node,
    /// `redis-server` (its own `ae` loop), driven by redis-benchmark.
    Redis,
}

impl Subject {
    /// Every loop of the main comparison, in column order.
    pub const ALL: [Subject; 8] = [
        Subject::Tickloop("epoll"),
        Subject::Tickloop("epoll-et"),
        Subject::Tickloop("poll"),
        Subject::Tickloop("select"),
        Subject::Mio,
        Subject::Tokio,
        Subject::Node,
        Subject::Redis,
    ];

    /// The column name.
    pub fn name(self) -> String {
        match self {
            Subject::Tickloop(backend) => format!("tickloop-{backend}"),
            Subject::Mio => "mio".into(),
            Subject::Tokio => "tokio".into(),
            Subject::Node => "node".into(),
            Subject::Redis => "redis".into(),
        }
    }
}

impl Subject {
    /// Starts this echo server, the binaries' from `bin` (node runs xtask's echo.js); redis is
    /// driven by redis-benchmark instead.
    pub fn start_echo(self, bin: &Path) -> Result<ServerProcess> {
        match self {
            Subject::Tickloop(backend) => {
                ServerProcess::spawn(&bin.join("tickloop-echo"), &["--backend", backend])
            }
            Subject::Mio => ServerProcess::spawn(&bin.join("mio-echo"), &[]),
            Subject::Tokio => ServerProcess::spawn(&bin.join("tokio-echo"), &[]),
            Subject::Node => {
                let echo_js = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/loops/echo.js");
                let script = echo_js.to_str().context("non-UTF-8 xtask path")?;
                ServerProcess::spawn(Path::new("node"), &[script])
            }
            Subject::Redis => bail!("redis is no echo server"),
        }
        .with_context(|| format!("starting {}", self.name()))
    }
}

/// The load every TCP server gets from `tickloop-loadgen` (closed loop, no warm-up, so every
/// request it counts happened while uprof was recording).
#[derive(Clone, Copy, Debug)]
pub struct Load {
    pub connections: usize,
    pub idle: usize,
    pub seconds: f64,
    /// Requests redis-benchmark sends (redis only), over as many connections.
    pub redis_requests: u64,
}

/// Where the binaries are and where recordings go.
pub struct Setup {
    /// `target/release`, holding `uprof` and the tickloop-apps binaries.
    pub bin: PathBuf,
    pub out: PathBuf,
}

/// One finished recording, named after its file.
pub struct Recorded {
    pub file: PathBuf,
    pub requests: u64,
}

impl Setup {
    fn uprof(&self) -> PathBuf {
        self.bin.join("uprof")
    }

    /// Starts `subject`, records it with `uprof record -p` while the load runs, stops both.
    pub fn record(&self, subject: Subject, name: &str, load: Load) -> Result<Recorded> {
        let file = self.out.join(format!("{name}.uprof"));
        let (requests, stopped) = match subject {
            Subject::Redis => self.record_redis(&file, load)?,
            _ => self.record_tcp(subject, &file, load)?,
        };
        println!(
            "  {name:<22} {requests:>9} requests, {} records, {} lost",
            stopped.records, stopped.lost
        );
        Ok(Recorded { file, requests })
    }

    fn record_tcp(&self, subject: Subject, file: &Path, load: Load) -> Result<(u64, Stopped)> {
        let server = subject.start_echo(&self.bin)?;
        let mut cmd = record_pid(&self.uprof(), server.pid() as u32, file);
        let ready = Ready::give_to(&mut cmd)?;
        let mut record = Spawned::start(&mut cmd)?;
        wait_attached(&mut record, ready)?;
        let mut loadgen = Command::new(self.bin.join("tickloop-loadgen"));
        loadgen
            .args(["--port", &server.addr().port().to_string()])
            .args(["--connections", &load.connections.to_string()])
            .args(["--idle", &load.idle.to_string()])
            .args(["--duration", &load.seconds.to_string()])
            .args(["--warmup", "0", "--json"]);
        let requests = run_stdout(&mut loadgen).and_then(|out| loadgen_requests(&out));
        record.stop()?;
        let stopped = Stopped::of(file)?;
        server.shutdown()?;
        Ok((requests?, stopped))
    }

    fn record_redis(&self, file: &Path, load: Load) -> Result<(u64, Stopped)> {
        let redis = Redis::start(&self.out)?;
        let mut cmd = record_pid(&self.uprof(), redis.pid(), file);
        let ready = Ready::give_to(&mut cmd)?;
        let mut record = Spawned::start(&mut cmd)?;
        wait_attached(&mut record, ready)?;
        let requests = load.redis_requests.to_string();
        // A later -c overrides the client count `benchmark_command` sets.
        let clients = load.connections.to_string();
        let mut benchmark = redis.benchmark_command(&["-n", &requests, "-c", &clients, "-q"]);
        let ran = run_stdout(&mut benchmark);
        record.stop()?;
        let stopped = Stopped::of(file)?;
        ran?;
        Ok((load.redis_requests, stopped))
    }
}

/// Runs `cmd` to completion and returns its stdout; fails on a non-zero exit.
pub(crate) fn run_stdout(cmd: &mut Command) -> Result<String> {
    let output = cmd
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run `{}`", describe(cmd)))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!("`{}` failed ({}): {stdout}", describe(cmd), output.status);
    }
    Ok(stdout)
}

/// The `requests` field of `tickloop-loadgen --json`'s report line.
pub(crate) fn loadgen_requests(stdout: &str) -> Result<u64> {
    let report: serde_json::Value = serde_json::from_str(stdout.trim())
        .with_context(|| format!("tickloop-loadgen printed no JSON report: {stdout}"))?;
    if report["errors"].as_u64() != Some(0) {
        bail!("tickloop-loadgen saw connection errors: {report}");
    }
    report["requests"]
        .as_u64()
        .with_context(|| format!("no request count in {report}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_come_from_the_loadgen_report() {
        let line = r#"{"requests":41234,"errors":0,"seconds":2.0,"throughput":20617.0}"#;
        assert_eq!(loadgen_requests(line).unwrap(), 41234);
    }

    #[test]
    fn a_run_with_connection_errors_is_refused() {
        let line = r#"{"requests":10,"errors":2,"seconds":2.0,"throughput":5.0}"#;
        let err = loadgen_requests(line).unwrap_err().to_string();
        assert!(err.contains("connection errors"), "{err}");
    }
}
