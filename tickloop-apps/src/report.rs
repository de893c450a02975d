//! The JSON line a server prints on SIGUSR1 and on exit: its loop counters and CPU time.

use serde::{Deserialize, Serialize};
use tickloop::LoopStats;

/// A snapshot of a server process.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServerReport {
    /// Which server: `tickloop-epoll`, `mio`, …
    pub server: String,
    /// User plus system CPU time of the whole process so far, in microseconds.
    pub cpu_micros: u64,
    /// Connections open right now.
    pub open_connections: u64,
    /// The loop's own counters (tickloop servers only).
    pub loop_stats: Option<LoopStats>,
    /// Returns from the readiness wait (`epoll_wait`, `poll`, `select`) so far, for the
    /// servers that count them (tickloop's and mio's; tokio does not expose it).
    #[serde(default)]
    pub wait_returns: Option<u64>,
}

impl ServerReport {
    /// Prints the report as one JSON line on stdout.
    pub fn print(&self) {
        use std::io::Write;
        let line = serde_json::to_string(self).expect("a report serializes");
        let mut out = std::io::stdout().lock();
        // A closed stdout (nobody listening) must not take the server down.
        let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    }
}

/// User plus system CPU time of this process, from getrusage(RUSAGE_SELF), in microseconds.
pub fn process_cpu_micros() -> u64 {
    // SAFETY: getrusage fills a live struct.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    micros(usage.ru_utime) + micros(usage.ru_stime)
}
