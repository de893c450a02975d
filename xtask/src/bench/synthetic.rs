//! Recordings of any size without tracing anything: a busy server made of synthetic records
//! (`uprof_analysis::synth`), written by uprof's own `Writer`, for the export benchmarks.
//!
//! The server is one process with four event-loop threads, each on its own epoll instance (the
//! callback tier's view). Every tick of a thread, a connection of its becomes ready, the
//! readiness wakes the thread, and its `epoll_wait` returns that event; after 20 microseconds
//! of work it waits again. Every 64th tick it closes that connection and accepts a new one on
//! the same fd number (`EPOLL_CTL_DEL`, close, `EPOLL_CTL_ADD`); every 256th a new connection
//! on the shared listening socket wakes all four threads (a thundering herd). A lost-record
//! count grows now and then, as it does under load.
use std::path::{Path, PathBuf};

use anyhow::Result;
use uprof_analysis::synth::Task;
use uprof_common::{EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLLIN, FdKind, Record};
use uprof_record::{SessionEnd, SessionHeader, Target, Writer};

const PID: u32 = 4000;
const THREADS: u32 = 4;
const LISTEN_FD: i32 = 5;
/// Each thread's epoll instance is `EPFD + i`, its connection `CONN_FD + i`.
const EPFD: i32 = 10;
const CONN_FD: i32 = 100;
/// One tick of a thread: blocked 30 µs, busy 20 µs (about 80 000 wakeups a second in all).
const TICK_NS: u64 = 50_000;
const START_TS: u64 = 1_000_000_000;

/// `cargo xtask bench synthetic`: writes one such recording.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Its size, in MiB (at least).
    #[arg(long, default_value_t = 1024)]
    mib: u64,
    /// The file to write.
    #[arg(short, long)]
    output: PathBuf,
}

pub fn main(args: Args) -> Result<()> {
    let records = write(&args.output, args.mib << 20)?;
    println!("wrote {} records to {}", records, args.output.display());
    Ok(())
}

/// Writes a recording of at least `bytes` bytes to `path`; returns its record count.
pub fn write(path: &Path, bytes: u64) -> Result<u64> {
    let header = SessionHeader {
        format_version: uprof_record::FORMAT_VERSION,
        uprof_version: env!("CARGO_PKG_VERSION").to_owned(),
        kernel_release: "synthetic".to_owned(),
        hostname: "synthetic".to_owned(),
        probes: Vec::new(),
        tier: uprof_common::Tier::Callback,
        wakeups: true,
        clock: "CLOCK_MONOTONIC".to_owned(),
        boot_offset_ns: 0,
        start_ts: START_TS,
        target: Target {
            command: None,
            pids: vec![PID],
        },
    };
    let mut out = Out {
        writer: Writer::create(path, &header)?,
        size: 0,
    };
    let threads: Vec<Task> = (0..THREADS).map(|i| Task::new(PID, PID + i)).collect();
    let softirq = Task::new(0, 9);
    for (i, t) in threads.iter().enumerate() {
        let i = i as i32;
        let ts = START_TS + i as u64;
        out.push(t.task_info(ts, if i == 0 { "server" } else { "worker" }))?;
        out.push(t.epoll_create(ts, EPFD + i))?;
        out.push(t.epoll_ctl(ts, EPFD + i, EPOLL_CTL_ADD, LISTEN_FD, 0, 0))?;
        out.push(t.fd_info(ts, LISTEN_FD, FdKind::Listener))?;
        out.push(t.epoll_ctl(ts, EPFD + i, EPOLL_CTL_ADD, CONN_FD + i, 1, 0))?;
        out.push(t.fd_info(ts, CONN_FD + i, FdKind::Socket))?;
    }
    let mut tick = 0u64;
    let mut lost = 0;
    while out.size < bytes {
        let base = START_TS + 1_000_000 + tick * TICK_NS;
        let herd = tick % 256 == 255;
        for (i, t) in threads.iter().enumerate() {
            let i = i as i32;
            let (epfd, conn) = (EPFD + i, CONN_FD + i);
            let enter = base + i as u64 * 50;
            let (fd, data) = if herd { (LISTEN_FD, 0) } else { (conn, 1) };
            // The herd's callbacks run back to back in one task, for the one listening file.
            out.push(softirq.ready(enter + 10_000, PID, epfd, fd, fd as u32))?;
            out.push(t.wake(enter + 15_000, enter, epfd, softirq))?;
            out.push(t.woken_epoll_wait(enter, enter + 30_000, epfd, 1, 5_000))?;
            for record in t.events(enter + 30_000, &[(EPOLLIN, data)]) {
                out.push(record)?;
            }
            if tick % 64 == 63 {
                let ts = enter + 35_000;
                out.push(t.epoll_ctl(ts, epfd, EPOLL_CTL_DEL, conn, 0, 0))?;
                out.push(t.close(ts + 100, conn, 0))?;
                out.push(t.epoll_ctl(ts + 200, epfd, EPOLL_CTL_ADD, conn, 1, 0))?;
                out.push(t.fd_info(ts + 200, conn, FdKind::Socket))?;
            }
        }
        if tick % 100_000 == 99_999 {
            lost += 10;
            out.push(softirq.lost(base + 49_000, lost))?;
        }
        tick += 1;
    }
    let records = out.writer.records_written();
    out.writer.finish(&SessionEnd {
        end_ts: START_TS + 2_000_000 + tick * TICK_NS,
        records,
        lost_events: lost,
        reason: "synthetic".to_owned(),
    })?;
    Ok(records)
}

/// The recording being written, and its size so far.
struct Out {
    writer: Writer,
    size: u64,
}

impl Out {
    fn push(&mut self, record: Record) -> Result<()> {
        let bytes = record.as_bytes();
        self.size += bytes.len() as u64;
        self.writer.push(bytes)?;
        Ok(())
    }
}
