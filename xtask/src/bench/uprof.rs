//! Driving the `uprof` binary under measurement: building it, attaching `uprof record` to a
//! process, waiting for its start signal (`--ready-fd`), and reading the counts the
//! recording stored.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::procs::Spawned;
pub use uprof_testprogs::attach::{READY_FD, Ready};

/// Builds `uprof` (release) with the cargo running this xtask and returns its path.
pub fn build() -> Result<PathBuf> {
    Ok(crate::release::build("bench", &["uprof-cli"])?.join("uprof"))
}

/// `uprof record --ready-fd 3 -p PID -o FILE`, its stdout silenced: give it its [`Ready`]
/// before starting it.
pub fn record_pid(uprof: &Path, pid: u32, out: &Path) -> Command {
    let mut record = uprof_testprogs::attach::record_pids(uprof, &[pid], out);
    record.stdout(Stdio::null());
    record
}

/// A probe tier `uprof record --tier` forces (see docs/probe-tiers.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    /// Syscall hooks only.
    Syscall,
    /// Syscall hooks plus `ep_poll_callback` (fentry or kprobe).
    Callback,
}

impl Tier {
    /// Its name on uprof's command line.
    pub fn arg(self) -> &'static str {
        match self {
            Tier::Syscall => "syscall",
            Tier::Callback => "callback",
        }
    }
}

/// How `uprof record --syscall-hooks` is told to hook the syscalls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hooks {
    Fentry,
    Tracepoint,
}

impl Hooks {
    /// Its name on uprof's command line.
    pub fn arg(self) -> &'static str {
        match self {
            Hooks::Fentry => "fentry",
            Hooks::Tracepoint => "tracepoint",
        }
    }
}

/// What `uprof record` is told besides what to trace; the default leaves every choice to uprof.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub tier: Option<Tier>,
    pub hooks: Option<Hooks>,
    /// `--no-wakeups`.
    pub no_wakeups: bool,
}

impl Options {
    /// uprof's choices, without the wake-up probes.
    pub const NO_WAKEUPS: Options = Options {
        tier: None,
        hooks: None,
        no_wakeups: true,
    };

    /// The syscall tier, with uprof's choice of hooks.
    pub const SYSCALL_TIER: Options = Options {
        tier: Some(Tier::Syscall),
        hooks: None,
        no_wakeups: false,
    };

    /// The arguments that say it.
    pub fn args(self) -> Vec<&'static str> {
        let mut args = Vec::new();
        if let Some(tier) = self.tier {
            args.extend(["--tier", tier.arg()]);
        }
        if let Some(hooks) = self.hooks {
            args.extend(["--syscall-hooks", hooks.arg()]);
        }
        if self.no_wakeups {
            args.push("--no-wakeups");
        }
        args
    }

    /// A short name for tables (empty for the default): the tier, `tp` or `fentry` for the
    /// hooks, `-w` without wake-ups.
    pub fn label(self) -> String {
        let words: [Option<&str>; 3] = [
            self.tier.map(Tier::arg),
            self.hooks.map(|h| match h {
                Hooks::Fentry => "fentry",
                Hooks::Tracepoint => "tp",
            }),
            self.no_wakeups.then_some("-w"),
        ];
        words.into_iter().flatten().collect::<Vec<_>>().join(" ")
    }
}

/// Waits until a started `uprof record` says it is tracing; fails if it ends first or takes
/// over 30 s.
pub fn wait_attached(record: &mut Spawned, mut ready: Ready) -> Result<()> {
    if !ready.wait(Duration::from_secs(30))? {
        bail!(
            "`uprof record` ended before tracing: {}",
            record.stderr_lines().join("\n")
        );
    }
    Ok(())
}

/// What a recording stored: the counts of its `END` chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stopped {
    pub records: u64,
    pub lost: u64,
}

impl Stopped {
    /// The counts of the finished recording at `file`.
    pub fn of(file: &Path) -> Result<Stopped> {
        let mut reader = uprof_record::Reader::open(file)?;
        let summary = reader.for_each_record(|_| {})?;
        let end = summary.end.with_context(|| {
            format!(
                "{} has no END chunk: uprof did not finish it",
                file.display()
            )
        })?;
        Ok(Stopped {
            records: end.records,
            lost: end.lost_events,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_say_what_they_force() {
        assert!(Options::default().args().is_empty());
        assert_eq!(Options::default().label(), "");
        let all = Options {
            tier: Some(Tier::Callback),
            hooks: Some(Hooks::Tracepoint),
            no_wakeups: true,
        };
        assert_eq!(
            all.args(),
            [
                "--tier",
                "callback",
                "--syscall-hooks",
                "tracepoint",
                "--no-wakeups"
            ]
        );
        assert_eq!(all.label(), "callback tp -w");
    }
}
