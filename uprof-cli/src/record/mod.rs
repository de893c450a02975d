//! `uprof record`: load the programs, trace the targets, store records until Ctrl-C, the
//! duration or the targets' exit, then close the file cleanly (or print the report).
mod launch;
mod live;
mod recorder;
mod status;

use std::io::IsTerminal as _;
use std::time::Duration;

use anyhow::{Context as _, Result};
use aya::maps::{MapData, RingBuf};
use tokio::{
    io::unix::AsyncFd,
    signal::unix::{SignalKind, signal},
    time::{Instant, MissedTickBehavior, interval},
};
use uprof_analysis::Analyzer;
use uprof_common::{Header, Lost, Record, WAIT_UNFINISHED, Wait, WaitSyscall};
use uprof_record::{ProbeInfo, SessionEnd, SessionHeader, Target, Writer};
use uprof_trace::{SyscallHooks, Tier, Tracer, TracerOptions, clock, procfs};

use crate::{
    cli::{RecordArgs, SyscallHooksArg, TierArg},
    report,
};
use live::LiveOutput;
use recorder::{Recorder, Sink};
use status::StatusLine;

/// How often the file is flushed, lost records are counted and stop conditions checked.
const TICK: Duration = Duration::from_millis(100);

pub fn run(args: RecordArgs) -> Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?
        .block_on(record(args))
}

async fn record(args: RecordArgs) -> Result<()> {
    for &pid in &args.pid {
        procfs::check_alive(pid)?;
    }
    let mut tracer = Tracer::load(&TracerOptions {
        buffer_bytes: args.buffer_mib << 20,
        tier: args.tier.map(|t| match t {
            TierArg::Callback => Tier::Callback,
            TierArg::Socket => Tier::Socket,
            TierArg::Syscall => Tier::Syscall,
        }),
        wakeups: !args.no_wakeups,
        syscall_hooks: args.syscall_hooks.map(|h| match h {
            SyscallHooksArg::Fentry => SyscallHooks::Fentry,
            SyscallHooksArg::Tracepoint => SyscallHooks::Tracepoint,
        }),
    })?;
    let held = if args.command.is_empty() {
        None
    } else {
        Some(launch::hold(&args.command)?)
    };
    let pids = held
        .as_ref()
        .map_or_else(|| args.pid.clone(), |h| vec![h.pid]);
    for &pid in &pids {
        tracer.trace(pid)?;
    }

    let header = session_header(&tracer, &args, &pids);
    let sink = match &args.output {
        Some(path) => Sink::File(
            Writer::create(path, &header)
                .with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => Sink::Live(Box::new(Analyzer::new())),
    };
    let mut recorder = Recorder::new(sink, LiveOutput::new(&args.output_format, &header));
    // The status line would land in the middle of live output on the same terminal.
    let live_on_terminal = recorder.live.is_some() && std::io::stdout().is_terminal();
    if held.is_none() {
        // Attaching to running processes: describe what they had before tracing began.
        for &pid in &pids {
            for record in procfs::snapshot(pid)? {
                if let Record::Socket(s) = &record
                    && tracer.tier() == Tier::Socket
                {
                    tracer.watch_socket(s.ino)?;
                }
                recorder.push_user(record)?;
            }
        }
    }
    let launched = held.map(|h| h.release()).transpose()?;
    let attached = tracer.probes().iter().filter(|p| p.attached).count();
    eprintln!(
        "uprof: tracing pid {} with {attached} of {} probes ({} tier: {}; syscalls hooked by {}: {}); \
         Ctrl-C to stop",
        pids.iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(","),
        tracer.probes().len(),
        tracer.tier().name(),
        tracer.tier_reason(),
        tracer.syscall_hooks().name(),
        tracer.syscall_hooks_reason()
    );

    // SAFETY: the ring buffer owns its fd and keeps it open until the AsyncFd is dropped.
    let mut ring = unsafe { AsyncFd::register(tracer.take_ring()?) }
        .map_err(|e| anyhow::anyhow!("cannot watch the ring buffer: {e}"))?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut tick = interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut drain = interval(Tracer::DRAIN_INTERVAL);
    drain.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let deadline = args.duration.map(|d| Instant::now() + d);
    let mut status = StatusLine::new();
    let mut lost_seen = 0;

    let reason = loop {
        tokio::select! {
            guard = ring.readable_mut() => {
                let mut guard = guard?;
                drain_ring(guard.get_inner_mut(), &mut recorder)?;
                guard.clear_ready();
            }
            _ = drain.tick() => drain_ring(ring.get_mut(), &mut recorder)?,
            _ = tick.tick() => {
                lost_seen = note_lost(&tracer, &mut recorder, lost_seen)?;
                if let Sink::File(writer) = &mut recorder.sink {
                    writer.flush().context("cannot write the record file")?;
                }
                if !live_on_terminal {
                    status.update(recorder.records, lost_seen);
                }
                if recorder.live.is_some() {
                    // What the ring holds is older than the clock read after it.
                    drain_ring(ring.get_mut(), &mut recorder)?;
                }
                if let Some(live) = &mut recorder.live {
                    live.advance(clock::monotonic_ns());
                    if live.failed() {
                        break "stdout closed".to_owned();
                    }
                }
                for pid in std::mem::take(&mut recorder.exited) {
                    if !pids.contains(&pid) && !procfs::is_alive(pid) {
                        tracer.untrace(pid)?;
                    }
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break "duration reached".to_owned();
                }
                if let Some(launched) = &launched {
                    if let launch::Status::Exited(how) = launched.status() {
                        break format!("command {how}");
                    }
                } else if pids.iter().all(|&pid| !procfs::is_alive(pid)) {
                    break "target exited".to_owned();
                }
            }
            _ = sigint.recv() => break "interrupted".to_owned(),
            _ = sigterm.recv() => break "terminated".to_owned(),
        }
    };
    status.clear();

    // Whatever the kernel produced before we stopped.
    drain_ring(ring.get_mut(), &mut recorder)?;
    let end_ts = clock::monotonic_ns();
    note_unfinished_waits(&tracer, &mut recorder, end_ts)?;
    let lost = note_lost(&tracer, &mut recorder, lost_seen)?;
    if recorder.malformed > 0 {
        eprintln!(
            "uprof: warning: {} malformed records from the kernel were skipped",
            recorder.malformed
        );
    }
    eprintln!(
        "uprof: stopped ({reason}): {} records, {lost} lost",
        recorder.records
    );
    if lost > 0 {
        eprintln!(
            "uprof: warning: {lost} records were lost because the ring buffer was full; raise --buffer-mib"
        );
    }

    let end = SessionEnd {
        end_ts,
        records: recorder.records,
        lost_events: lost,
        reason,
    };
    let info = report::session_info(&header, Some(&end), end_ts);
    // Written before the report, but its failure must not leave the file unfinished.
    let live = recorder
        .live
        .take()
        .map_or(Ok(()), |live| live.finish(&info));
    match recorder.sink {
        Sink::File(writer) => {
            writer
                .finish(&end)
                .context("cannot finish the record file")?;
            if let Some(path) = &args.output {
                eprintln!(
                    "uprof: wrote {}; see it with `uprof report {}`",
                    path.display(),
                    path.display()
                );
            }
            live
        }
        Sink::Live(analyzer) => {
            live?;
            report::print(&analyzer.finish(&info), &args.output_format)
        }
    }
}

fn drain_ring(ring: &mut RingBuf<MapData>, recorder: &mut Recorder) -> Result<()> {
    while let Some(item) = ring.next() {
        recorder.push_kernel(&item)?;
    }
    Ok(())
}

fn session_header(tracer: &Tracer, args: &RecordArgs, pids: &[u32]) -> SessionHeader {
    SessionHeader {
        format_version: uprof_record::FORMAT_VERSION,
        uprof_version: env!("CARGO_PKG_VERSION").to_owned(),
        kernel_release: tracer.kernel_release().to_owned(),
        hostname: std::fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap_or_default()
            .trim()
            .to_owned(),
        probes: tracer
            .probes()
            .iter()
            .map(|p| ProbeInfo {
                name: p.name.clone(),
                kind: p.kind,
                attached: p.attached,
                note: p.note.clone(),
            })
            .collect(),
        tier: tracer.tier(),
        wakeups: tracer.wakeups(),
        clock: "CLOCK_MONOTONIC".to_owned(),
        boot_offset_ns: clock::boot_offset_ns(),
        start_ts: clock::monotonic_ns(),
        target: Target {
            command: (!args.command.is_empty()).then(|| args.command.clone()),
            pids: pids.to_vec(),
        },
    }
}

/// Stores a [`Lost`] record when the kernel's drop count grew; returns the count.
fn note_lost(tracer: &Tracer, recorder: &mut Recorder, seen: u64) -> Result<u64> {
    let total = tracer.lost()?;
    if total != seen {
        let (pid, tid) = (std::process::id(), std::process::id());
        recorder.push_user(Record::Lost(Lost {
            header: Header::user::<Lost>(clock::monotonic_ns(), pid, tid),
            total,
        }))?;
    }
    Ok(total)
}

/// Waits that are still blocked now: stored as unfinished, so their time is not lost silently.
fn note_unfinished_waits(tracer: &Tracer, recorder: &mut Recorder, end_ts: u64) -> Result<()> {
    for (tid, f) in tracer.in_flight()? {
        if let Some(syscall) = WaitSyscall::from_u8(f.call) {
            let header = Header::user::<Wait>(end_ts, f.pid, tid);
            recorder.push_user(Record::Wait(Wait::new(
                header,
                &f,
                syscall,
                0,
                WAIT_UNFINISHED,
                0,
            )))?;
        }
    }
    Ok(())
}
