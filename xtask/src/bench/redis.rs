//! A private redis-server on a unix socket, and redis-benchmark runs against it.

use std::fs;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::procs::describe;

/// Connections redis-benchmark keeps open (`-c`).
pub const CLIENTS: u32 = 50;
/// The redis-benchmark test: a PING answered with a bulk string, the cheapest round trip.
pub const TEST: &str = "ping_mbulk";

/// A redis-server without persistence, killed when dropped.
pub struct Redis {
    server: Child,
    socket: PathBuf,
}

impl Redis {
    /// Starts redis-server listening on `dir/redis.sock` only, and waits until it accepts.
    pub fn start(dir: &Path) -> Result<Redis> {
        let socket = dir.join("redis.sock");
        // A killed server leaves its socket behind, and nothing listens on it.
        if socket.exists() {
            fs::remove_file(&socket)
                .with_context(|| format!("cannot remove {}", socket.display()))?;
        }
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", "0", "--unixsocket"])
            .arg(&socket)
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .current_dir(dir)
            .stdout(Stdio::null());
        let server = cmd
            .spawn()
            .with_context(|| format!("cannot run `{}`", describe(&cmd)))?;
        let redis = Redis { server, socket };
        let deadline = Instant::now() + Duration::from_secs(10);
        while UnixStream::connect(&redis.socket).is_err() {
            if Instant::now() >= deadline {
                bail!("redis-server does not accept on {}", redis.socket.display());
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(redis)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.server.id()
    }

    /// `redis-benchmark` with `args` after the socket, test and client count.
    pub fn benchmark_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("redis-benchmark");
        cmd.arg("-s")
            .arg(&self.socket)
            .args(["-t", TEST, "-c", &CLIENTS.to_string()])
            .args(args);
        cmd
    }

    /// Runs `requests` requests and returns redis-benchmark's throughput, in requests/s.
    pub fn benchmark(&self, requests: u64) -> Result<f64> {
        let mut cmd = self.benchmark_command(&["-n", &requests.to_string(), "--csv"]);
        let output = cmd
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("cannot run `{}`", describe(&cmd)))?;
        let csv = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            bail!("`{}` failed ({}): {csv}", describe(&cmd), output.status);
        }
        csv_throughput(&csv)
            .with_context(|| format!("no throughput in redis-benchmark's output: {csv}"))
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// The `rps` column of redis-benchmark's `--csv` output (one header line, one line per test).
fn csv_throughput(csv: &str) -> Option<f64> {
    let mut lines = csv.lines().filter(|l| !l.trim().is_empty());
    let unquote = |line: &str| -> Vec<String> {
        line.split(',')
            .map(|f| f.trim_matches('"').to_owned())
            .collect()
    };
    let header = unquote(lines.next()?);
    let column = header.iter().position(|h| h == "rps")?;
    unquote(lines.next()?).get(column)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throughput_is_the_rps_column() {
        let csv = "\"test\",\"rps\",\"avg_latency_ms\"\n\"PING_MBULK\",\"69557.15\",\"0.447\"\n";
        assert_eq!(csv_throughput(csv), Some(69557.15));
    }

    #[test]
    fn output_without_a_result_line_has_no_throughput() {
        assert_eq!(csv_throughput("\"test\",\"rps\"\n"), None);
    }
}
