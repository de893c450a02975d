//! A recording from start to end: the targets traced, the ring buffer drained into the sink
//! until something stops it, and the session closed with what the kernel still holds.
use std::{fmt, future::Future, time::Duration};

use anyhow::Result;
use aya::maps::{MapData, RingBuf};
use tokio::{
    io::unix::AsyncFd,
    time::{MissedTickBehavior, interval},
};
use uprof_analysis::{Report, SessionInfo};
use uprof_common::{Header, Lost, Record, WAIT_UNFINISHED, Wait, WaitSyscall};
use uprof_output::Printer;
use uprof_record::{Output, SessionEnd, SessionHeader, Writer};
use uprof_trace::{Tier, Tracer, clock, procfs};

use crate::{
    launch::{self, Exit, Held, Launched},
    recorder::Recorder,
    session,
    watch::{Ended, Live},
};

/// How often the file is flushed, lost records are counted and the targets checked.
const TICK: Duration = Duration::from_millis(100);

/// What to trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Running processes (see [`crate::processes`]).
    Pids(Vec<u32>),
    /// A command to start, traced from its first instruction.
    Command(Vec<String>),
}

/// Where the records go.
pub enum Destination {
    /// A record file, opened before the programs load so that a bad path fails first.
    File(Output),
    /// The analysis, for a report at the end.
    Live,
    /// Nowhere: only the output made while recording sees the records (`uprof top`).
    Nowhere,
}

/// Why a recording stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// SIGINT (Ctrl-C).
    Interrupted,
    /// SIGTERM.
    Terminated,
    /// SIGHUP: the terminal or the SSH session went away.
    HungUp,
    /// The recording lasted as long as asked.
    DurationReached,
    /// The started command ended.
    CommandExited(Exit),
    /// Every traced process ended.
    TargetsExited,
    /// The output written while recording could not be written (its reader went away).
    OutputClosed,
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Interrupted => f.write_str("interrupted"),
            Stop::Terminated => f.write_str("terminated"),
            Stop::HungUp => f.write_str("hung up"),
            Stop::DurationReached => f.write_str("duration reached"),
            Stop::CommandExited(exit) => write!(f, "command {exit}"),
            Stop::TargetsExited => f.write_str("target exited"),
            Stop::OutputClosed => f.write_str("output closed"),
        }
    }
}

/// The counts so far, given on every tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub records: u64,
    pub lost: u64,
}

/// A recording that has ended.
pub struct Finished {
    /// Records stored.
    pub records: u64,
    /// Records the kernel could not put in the ring buffer.
    pub lost: u64,
    /// Kernel records that did not parse (a uprof bug).
    pub malformed: u64,
    /// The report, when the records went to the analysis.
    pub report: Option<Report>,
    /// How writing the output made while recording ended, if there was one (the file is
    /// finished whatever it says).
    pub watched: Option<std::io::Result<()>>,
}

/// A recording in progress. Dropping it ends the recording without finishing the file (which
/// then reads as interrupted) and detaches the programs.
pub struct Capture {
    tracer: Tracer,
    ring: AsyncFd<RingBuf<MapData>>,
    recorder: Recorder,
    header: SessionHeader,
    launched: Option<Launched>,
    /// The kernel's count of lost records when last looked at.
    lost_seen: u64,
    /// Whether to go on once every target has exited.
    keep_running: bool,
}

impl Capture {
    /// Starts tracing `target` with `tracer`: a command is forked, added to the traced set,
    /// then let run; running processes are traced and described from `/proc`. A record file
    /// gets its header and appears at its path only once this has succeeded; on failure, a
    /// forked command is killed. `watch` gives the output to write while recording, if any,
    /// once the session's header is known. Call it inside a tokio runtime.
    pub fn start(
        mut tracer: Tracer,
        target: &Target,
        destination: Destination,
        watch: impl FnOnce(&SessionHeader) -> Option<Box<dyn Printer>>,
    ) -> Result<Capture> {
        // SAFETY: the ring buffer owns its fd and keeps it open until the AsyncFd is dropped.
        let ring = unsafe { AsyncFd::register(tracer.take_ring()?) }
            .map_err(|e| anyhow::anyhow!("cannot watch the ring buffer: {e}"))?;
        let (held, command) = match target {
            Target::Command(command) => (Some(launch::hold(command)?), Some(command.as_slice())),
            Target::Pids(_) => (None, None),
        };
        let pids = match (&held, target) {
            (Some(held), _) => vec![held.pid()],
            (None, Target::Pids(pids)) => pids.clone(),
            (None, Target::Command(_)) => unreachable!("a command is held above"),
        };
        for &pid in &pids {
            tracer.trace(pid)?;
        }
        let header = session::header(&tracer, command, &pids);
        let (file, summary) = match destination {
            Destination::File(output) => (Some(Writer::start(output, &header)?), false),
            Destination::Live => (None, true),
            Destination::Nowhere => (None, false),
        };
        // Without -o, the summary and the output made while recording share a reconstruction.
        let mut recorder = Recorder::new(file, Live::new(summary, watch(&header)));
        if held.is_none() {
            // Attaching to running processes: describe what they had before tracing began.
            for &pid in &pids {
                describe(&mut tracer, &mut recorder, pid)?;
            }
        }
        let launched = held.map(Held::release).transpose()?;
        if let Some(writer) = &mut recorder.file
            && let Err(e) = writer.publish()
        {
            if let Some(launched) = launched {
                launched.kill();
            }
            return Err(e.into());
        }
        Ok(Capture {
            tracer,
            ring,
            recorder,
            header,
            launched,
            lost_seen: 0,
            keep_running: false,
        })
    }

    /// Runs until stopped even when every traced process has exited (`uprof agent`): a
    /// target that exits is no longer traced, so its pid, once reused, is not.
    pub fn keep_running(&mut self) {
        self.keep_running = true;
    }

    /// Also traces `pid`, a running process (found by `uprof agent`'s selection), described
    /// from `/proc` as the targets are at the start; a process traced already (a child of a
    /// traced one, followed from its fork) stays as it is. Whether it was not traced before.
    pub fn follow(&mut self, pid: u32) -> Result<bool> {
        if self.header.target.pids.contains(&pid) || self.tracer.is_traced(pid)? {
            return Ok(false);
        }
        self.tracer.trace(pid)?;
        self.header.target.pids.push(pid);
        describe(&mut self.tracer, &mut self.recorder, pid)?;
        Ok(true)
    }

    /// The traced processes (the started command's, for a command).
    pub fn pids(&self) -> &[u32] {
        &self.header.target.pids
    }

    /// The programs in use: their tier, hooks and probes.
    pub fn tracer(&self) -> &Tracer {
        &self.tracer
    }

    /// Records until `stop` resolves or the targets have exited; gives the counts to
    /// `progress` on every tick. Fails if a record cannot be stored.
    pub async fn run(
        &mut self,
        stop: impl Future<Output = Stop>,
        mut progress: impl FnMut(Progress),
    ) -> Result<Stop> {
        tokio::pin!(stop);
        let mut tick = interval(TICK);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut drain = interval(Tracer::DRAIN_INTERVAL);
        drain.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                guard = self.ring.readable_mut() => {
                    let mut guard = guard?;
                    drain_ring(guard.get_inner_mut(), &mut self.recorder)?;
                    guard.clear_ready();
                }
                _ = drain.tick() => drain_ring(self.ring.get_mut(), &mut self.recorder)?,
                _ = tick.tick() => {
                    self.note_lost()?;
                    if let Some(writer) = &mut self.recorder.file {
                        writer.flush()?;
                    }
                    if self.recorder.live.as_ref().is_some_and(Live::watched) {
                        // What the ring holds is older than the clock read after it.
                        drain_ring(self.ring.get_mut(), &mut self.recorder)?;
                        if let Some(live) = &mut self.recorder.live {
                            live.advance(clock::monotonic_ns());
                            if live.failed() {
                                return Ok(Stop::OutputClosed);
                            }
                        }
                    }
                    progress(Progress {
                        records: self.recorder.records,
                        lost: self.lost_seen,
                    });
                    self.untrace_exited()?;
                    if let Some(stop) = self.targets_ended() {
                        return Ok(stop);
                    }
                }
                stop = &mut stop => return Ok(stop),
            }
        }
    }

    /// Stores what the kernel still holds, the waits still blocked (as unfinished) and the
    /// final count of lost records, then ends the file (or the analysis). The programs are
    /// detached when it returns.
    pub fn finish(mut self, stop: Stop) -> Result<Finished> {
        drain_ring(self.ring.get_mut(), &mut self.recorder)?;
        let end_ts = clock::monotonic_ns();
        self.note_unfinished_waits(end_ts)?;
        self.note_lost()?;
        let end = SessionEnd {
            end_ts,
            records: self.recorder.records,
            lost_events: self.lost_seen,
            reason: stop.to_string(),
        };
        let info = SessionInfo::of_session(&self.header, Some(&end), end_ts);
        // Written before the file's end, but whatever happens to it the file is finished.
        let Ended { report, watched } = match self.recorder.live.take() {
            Some(live) => live.finish(&info),
            None => Ended {
                report: None,
                watched: None,
            },
        };
        if let Some(writer) = self.recorder.file.take() {
            writer.finish(&end)?;
        }
        Ok(Finished {
            records: self.recorder.records,
            lost: self.lost_seen,
            malformed: self.recorder.malformed,
            report,
            watched,
        })
    }

    /// Stores a [`Lost`] record when the kernel's drop count grew.
    fn note_lost(&mut self) -> Result<()> {
        let total = self.tracer.lost()?;
        if total != self.lost_seen {
            let (pid, tid) = (std::process::id(), std::process::id());
            self.recorder.push_user(Record::Lost(Lost {
                header: Header::user::<Lost>(clock::monotonic_ns(), pid, tid),
                total,
            }))?;
            self.lost_seen = total;
        }
        Ok(())
    }

    /// Waits that are still blocked now: stored as unfinished, so their time is not lost
    /// silently.
    fn note_unfinished_waits(&mut self, end_ts: u64) -> Result<()> {
        for (tid, f) in self.tracer.in_flight()? {
            if let Some(syscall) = WaitSyscall::from_u8(f.call) {
                let header = Header::user::<Wait>(end_ts, f.pid, tid);
                self.recorder.push_user(Record::Wait(Wait::new(
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

    /// Stops tracing the followed processes that have exited (and the targets, when running
    /// on without them).
    fn untrace_exited(&mut self) -> Result<()> {
        for pid in std::mem::take(&mut self.recorder.exited) {
            if !self.header.target.pids.contains(&pid) && !procfs::is_alive(pid) {
                self.tracer.untrace(pid)?;
            }
        }
        if self.keep_running {
            // Checked every tick: a target's exit record may have been lost.
            let (gone, alive) = self
                .header
                .target
                .pids
                .iter()
                .partition(|&&pid| !procfs::is_alive(pid));
            self.header.target.pids = alive;
            for pid in gone {
                self.tracer.untrace(pid)?;
            }
        }
        Ok(())
    }

    /// Why to stop, once the started command or every traced process has ended.
    fn targets_ended(&self) -> Option<Stop> {
        if self.keep_running {
            return None;
        }
        match &self.launched {
            Some(launched) => launched.exit().map(Stop::CommandExited),
            None => self
                .pids()
                .iter()
                .all(|&pid| !procfs::is_alive(pid))
                .then_some(Stop::TargetsExited),
        }
    }
}

/// Describes `pid`, traced from now on, from `/proc`: what it had before tracing began.
fn describe(tracer: &mut Tracer, recorder: &mut Recorder, pid: u32) -> Result<()> {
    for record in procfs::snapshot(pid)? {
        if let Record::Socket(s) = &record
            && tracer.tier() == Tier::Socket
        {
            tracer.watch_socket(s.ino)?;
        }
        recorder.push_user(record)?;
    }
    Ok(())
}

fn drain_ring(ring: &mut RingBuf<MapData>, recorder: &mut Recorder) -> Result<()> {
    while let Some(item) = ring.next() {
        recorder.push_kernel(&item)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reasons stored in the END chunk: scripts and tests read them.
    #[test]
    fn stop_reasons_read_as_before() {
        assert_eq!(Stop::Interrupted.to_string(), "interrupted");
        assert_eq!(Stop::HungUp.to_string(), "hung up");
        assert_eq!(
            Stop::CommandExited(Exit::Status(3)).to_string(),
            "command exited with status 3"
        );
        assert_eq!(
            Stop::CommandExited(Exit::Signal(9)).to_string(),
            "command killed by signal 9"
        );
    }
}
