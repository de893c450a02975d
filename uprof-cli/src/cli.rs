//! Command-line arguments.
use std::{path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};
use uprof_analysis::findings::{Kind, Severity, Thresholds};
use uprof_analysis::{TextOptions, View};

#[derive(Parser, Debug)]
#[command(
    name = "uprof",
    version,
    about = "See how a program's event loop really behaves: epoll waits, wakeups, \
    block and busy time, ready events per fd and interest-list churn, traced with eBPF."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Trace processes' epoll activity; write it to a file (-o) or print a report when done.
    ///
    /// Examples:
    ///   uprof record -p 1234 --duration 10s
    ///   uprof record -o redis.uprof -p $(pidof redis-server)
    ///   uprof record -o demo.uprof -- uprof-demo
    ///   uprof record -p 1234 --interval 1s
    #[command(verbatim_doc_comment)]
    Record(RecordArgs),
    /// Report on a recording made with `uprof record -o FILE`.
    ///
    /// Examples:
    ///   uprof report redis.uprof
    ///   uprof report redis.uprof --view fds
    ///   uprof report redis.uprof --format json | jq '.threads[].waits.calls'
    ///   uprof report redis.uprof --format perfetto -o redis.pftrace   # open in ui.perfetto.dev
    ///   uprof report redis.uprof --interval 1s
    ///   uprof report redis.uprof --format hdrlog -o redis.hlog
    ///   uprof report redis.uprof --format html -o redis.html      # open in a browser
    ///   uprof report redis.uprof --threshold long-tick-ms=50 --silence timer-wakeups
    #[command(verbatim_doc_comment)]
    Report(ReportArgs),
    /// Compare recordings side by side: wakeups, events per wakeup, epoll_ctl churn, fds
    /// scanned, blocked and busy time of each event loop.
    ///
    /// Examples:
    ///   uprof compare epoll.uprof poll.uprof
    ///   uprof compare a.uprof b.uprof --requests 20000,19500 --name tickloop,mio
    ///   uprof compare a.uprof b.uprof --format html -o compare.html
    #[command(verbatim_doc_comment)]
    Compare(CompareArgs),
    /// Judge a recording: print its findings (anti-patterns of its event loops, with their
    /// evidence and the fix; see docs/findings.md) and fail when one reaches --fail-on.
    ///
    /// Exit status: 0 when no finding reaches the level, 3 when one does, 1 on an error (a
    /// file that cannot be read).
    ///
    /// Examples:
    ///   uprof check server.uprof
    ///   uprof check server.uprof --fail-on error
    ///   uprof check server.uprof --threshold long-tick-ms=50 --silence timer-wakeups
    #[command(verbatim_doc_comment)]
    Check(CheckArgs),
    /// What this kernel lets uprof do: BTF, lockdown, tracefs, which program types load and
    /// attach, and the probe tier `uprof record` will use.
    Doctor,
    /// A live view of processes' event loops, refreshed every second: per-thread waits,
    /// utilization, blocked and busy p99, the busiest fds, herds, lost records. q quits.
    ///
    /// Examples:
    ///   uprof top -p $(pidof redis-server)
    ///   uprof top -p 1234 -o redis.uprof      # and keep the recording
    ///   uprof top -- ./server --port 8080
    #[command(verbatim_doc_comment)]
    Top(TopArgs),
    /// Serve Prometheus metrics of processes' event loops on /metrics until stopped (SIGINT,
    /// SIGTERM): processes by pid, by name (picked up as they start) or by cgroup. Logs go to
    /// stderr. The metrics are described in docs/metrics.md.
    ///
    /// Examples:
    ///   uprof agent -p $(pidof redis-server)
    ///   uprof agent --comm nginx --listen 0.0.0.0:9464
    ///   uprof agent --cgroup /sys/fs/cgroup/system.slice/redis-server.service
    #[command(verbatim_doc_comment)]
    // Always on: the ring buffer's pages are mapped twice and count in the agent's RSS, and
    // 4 MiB loses nothing at 50,000 waits/s (docs/benchmarks.md).
    #[command(mut_arg("buffer_mib", |a| a.default_value(AGENT_BUFFER_MIB)))]
    Agent(AgentArgs),
    /// Shell completions for uprof, on stdout.
    ///
    /// Examples:
    ///   uprof completions bash > /etc/bash_completion.d/uprof
    ///   uprof completions zsh > "${fpath[1]}/_uprof"
    ///   uprof completions fish > ~/.config/fish/completions/uprof.fish
    #[command(verbatim_doc_comment)]
    Completions {
        #[arg(value_enum)]
        shell: crate::manual::Shell,
    },
    /// The manual pages of uprof and its subcommands (roff): uprof(1) on stdout, or every page
    /// into a directory.
    ///
    /// Examples:
    ///   uprof man | man -l -
    ///   uprof man record | man -l -
    ///   uprof man --dir /usr/local/share/man/man1
    #[command(verbatim_doc_comment)]
    Man(crate::manual::ManArgs),
}

#[derive(Args, Debug)]
pub struct RecordArgs {
    #[command(flatten)]
    pub tracing: TracingArgs,
    /// Write the recording to FILE instead of printing a report at the end. FILE is created
    /// with mode 0600 under a temporary name and takes its place (replacing a file, or a
    /// symbolic link, never following it) only once tracing has started: an existing FILE is
    /// kept if the recording cannot start.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Stop after this long (e.g. 500ms, 10s, 2m; more than 0, at most a year). Default: until
    /// Ctrl-C or the target exits.
    #[arg(short, long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Say why this tier and these syscall hooks were chosen, and why a probe did not attach.
    #[arg(short, long)]
    pub verbose: bool,
    /// For scripts: once tracing has started, write `ready` and a newline to the inherited
    /// file descriptor FD (3 or more) and close it, instead of making scripts wait for a message.
    #[arg(long, value_name = "FD")]
    pub ready_fd: Option<i32>,
    #[command(flatten)]
    pub output_format: OutputArgs,
    /// Also serve Prometheus metrics on /metrics at ADDR (e.g. 127.0.0.1:9464) while
    /// recording, as `uprof agent` does.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,
    /// Command to start and trace from its first instruction (with its children).
    #[arg(last = true, value_name = "CMD", conflicts_with = "pid")]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct AgentArgs {
    /// Processes to trace, comma-separated (each must be running at start); their future
    /// children are traced too.
    #[arg(short, long, value_delimiter = ',', required_unless_present_any = ["comm", "cgroup"])]
    pub pid: Vec<u32>,
    /// Also trace every process with this name (comm, at most 15 bytes), comma-separated:
    /// processes that start later are picked up within a second.
    #[arg(long, value_delimiter = ',', value_name = "NAME")]
    pub comm: Vec<String>,
    /// Also trace every process of this cgroup v2 directory (a container, a systemd service),
    /// e.g. /sys/fs/cgroup/system.slice/nginx.service.
    #[arg(long, value_name = "PATH")]
    pub cgroup: Option<PathBuf>,
    #[command(flatten)]
    pub metrics: MetricsArgs,
    /// For scripts: once tracing has started and /metrics answers, write `ready` and a newline
    /// to the inherited file descriptor FD (3 or more) and close it.
    #[arg(long, value_name = "FD")]
    pub ready_fd: Option<i32>,
    /// Where waits and busy times are counted: in kernel maps (only waits that returned
    /// events reach user space) or from the stream of every wait.
    #[arg(long, value_enum, default_value_t = Aggregation::Kernel)]
    pub aggregation: Aggregation,
    #[command(flatten)]
    pub probes: ProbeArgs,
}

/// Where `uprof agent` counts waits and busy times.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    /// Per-thread log2 histograms in a BPF map, read at each scrape: the waits that return
    /// no events are never streamed.
    Kernel,
    /// Every wait streamed through the ring buffer and counted in user space.
    Stream,
}

/// What the metrics are labelled with and how many series they keep.
#[derive(Args, Debug)]
pub struct MetricsArgs {
    /// Serve /metrics on this address (HOST:PORT; 0.0.0.0:9464 for every interface).
    #[arg(long, value_name = "ADDR", default_value = uprof_metrics::DEFAULT_LISTEN)]
    pub listen: String,
    /// At most this many (process, thread) label sets; threads beyond go to one overflow
    /// series (process="_overflow") and are counted in uprof_label_sets_dropped_total.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub max_label_sets: usize,
    /// Label series with pid and tid too (one label set per thread: many more series).
    #[arg(long)]
    pub pid_labels: bool,
    /// Drop a label set this long after the last of its threads exited (e.g. 30s, 5m).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub stale_after: Duration,
}

impl MetricsArgs {
    pub fn config(&self) -> uprof_metrics::Config {
        uprof_metrics::Config {
            max_label_sets: self.max_label_sets,
            ids: self.pid_labels,
            stale_after: self.stale_after,
        }
    }
}

#[derive(Args, Debug)]
pub struct TopArgs {
    #[command(flatten)]
    pub tracing: TracingArgs,
    /// Also keep the recording in FILE (as `uprof record -o FILE` writes it).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Command to start and watch from its first instruction (with its children).
    #[arg(last = true, value_name = "CMD", conflicts_with = "pid")]
    pub command: Vec<String>,
}

/// What to trace and how: `uprof record` and `uprof top` alike.
#[derive(Args, Debug)]
pub struct TracingArgs {
    /// Processes to trace, comma-separated; their future children are traced too. A thread id
    /// stands for its process (uprof says so), and an id given twice is traced once.
    #[arg(
        short,
        long,
        value_delimiter = ',',
        required_unless_present = "command"
    )]
    pub pid: Vec<u32>,
    #[command(flatten)]
    pub probes: ProbeArgs,
}

/// How to trace: `uprof record`, `uprof top` and `uprof agent` alike.
#[derive(Args, Debug)]
pub struct ProbeArgs {
    /// Ring buffer size in MiB (a power of two): raise it if records are lost.
    #[arg(long, default_value_t = 16, value_name = "MIB", value_parser = parse_buffer_mib)]
    pub buffer_mib: u32,
    /// Probe tier (default: the best this kernel allows; see `uprof doctor`). A forced tier
    /// that cannot load is an error.
    #[arg(long, value_enum)]
    pub tier: Option<TierArg>,
    /// Do not follow wake-ups of blocked waiters (sched_waking, sched_switch): no per-thread
    /// `wakeups`, herds or wake-to-run delay, and no hook on every context switch of the
    /// machine (see docs/benchmarks.md for what they cost).
    #[arg(long)]
    pub no_wakeups: bool,
    /// How to hook the syscalls (default: fentry where the kernel allows it, else
    /// tracepoints). While any syscall tracepoint is enabled every syscall of every process
    /// on the machine is slower; fentry only touches the hooked syscalls.
    #[arg(long, value_enum, value_name = "HOOKS")]
    pub syscall_hooks: Option<SyscallHooksArg>,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// A file written by `uprof record -o`.
    pub file: PathBuf,
    #[command(flatten)]
    pub output_format: OutputArgs,
    /// Write the output to FILE instead of stdout (binary formats need a file or a pipe).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub findings: FindingsArgs,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// A file written by `uprof record -o`.
    pub file: PathBuf,
    /// The least severe finding that fails the check.
    #[arg(long, value_enum, default_value_t = FailOn::Warn)]
    pub fail_on: FailOn,
    /// List every finding, not only the first few of each kind.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub findings: FindingsArgs,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    /// Any warn or error finding fails.
    Warn,
    /// Only error findings fail.
    Error,
}

impl FailOn {
    pub fn severity(self) -> Severity {
        match self {
            FailOn::Warn => Severity::Warn,
            FailOn::Error => Severity::Error,
        }
    }
}

/// How findings are judged: `uprof report`, `check` and `compare` alike.
#[derive(Args, Debug, Clone, Default)]
pub struct FindingsArgs {
    /// Override a finding's threshold, KEY=VALUE (repeatable; keys and defaults in
    /// docs/findings.md), e.g. long-tick-ms=50, ctl-churn-per-event=2.
    #[arg(long = "threshold", value_name = "KEY=VALUE", value_parser = parse_threshold)]
    pub thresholds: Vec<String>,
    /// Do not report findings of this kind (repeatable or comma-separated), e.g.
    /// timer-wakeups.
    #[arg(long, value_name = "KIND", value_delimiter = ',', value_parser = parse_kind)]
    pub silence: Vec<Kind>,
}

impl FindingsArgs {
    pub fn thresholds(&self) -> Thresholds {
        let mut t = Thresholds::default();
        for assignment in &self.thresholds {
            t.set(assignment)
                .expect("the argument parser checked every assignment");
        }
        t.silenced = self.silence.clone();
        t
    }
}

fn parse_threshold(s: &str) -> Result<String, String> {
    Thresholds::default()
        .set(s)
        .map(|()| s.to_owned())
        .map_err(|e| e.to_string())
}

fn parse_kind(s: &str) -> Result<Kind, String> {
    Kind::from_name(s).ok_or_else(|| {
        let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
        format!("no finding `{s}` (kinds: {})", kinds.join(", "))
    })
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Files written by `uprof record -o`, one column each.
    #[arg(required = true)]
    pub files: Vec<std::path::PathBuf>,
    /// Column names, comma-separated, one per file (default: the file names without extension).
    #[arg(long, value_delimiter = ',')]
    pub name: Vec<String>,
    /// Requests each recorded program served, comma-separated, one per file (`-`: unknown);
    /// adds per-request rows.
    #[arg(long, value_delimiter = ',', value_parser = parse_requests)]
    pub requests: Vec<Option<u64>>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CompareFormat::Table)]
    pub format: CompareFormat,
    /// Write the output to FILE instead of stdout (the html format needs a file or a pipe).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub findings: FindingsArgs,
}

#[derive(Args, Debug, Clone, Copy)]
pub struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Which tables to print (table format).
    #[arg(long, value_enum, default_value_t = ViewArg::All)]
    pub view: ViewArg,
    /// List every thread, epoll instance and fd (table format), and every thread of each
    /// interval. By default the tables show the busiest ones and add up the rest (a busy
    /// server has thousands of short connections).
    #[arg(long)]
    pub all: bool,
    /// Per-interval rows per thread (e.g. 1s, 100ms; whole milliseconds), before the report;
    /// `uprof record` prints them as it records. The hdrlog's interval (default 1s).
    #[arg(short, long, value_name = "DURATION", value_parser = parse_interval)]
    pub interval: Option<Duration>,
}

impl OutputArgs {
    pub fn format(&self) -> uprof_output::Format {
        self.format.into()
    }

    /// The output's options; `start`: the recording's, which intervals are aligned on.
    /// The output options for a recording that says `source` of itself.
    pub fn options(&self, source: uprof_output::Source) -> uprof_output::Options {
        let view = match self.view {
            ViewArg::Threads => View::Threads,
            ViewArg::Fds => View::Fds,
            ViewArg::All => View::All,
        };
        uprof_output::Options {
            text: TextOptions {
                view,
                all: self.all,
            },
            source,
            intervals: uprof_output::Intervals {
                width: self.interval,
            },
            findings: Thresholds::default(),
        }
    }
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TierArg {
    /// ep_poll_callback (fentry, else kprobe) plus syscall hooks.
    Callback,
    /// sock:sk_data_ready (tp_btf) plus syscall hooks: readiness of sockets only.
    Socket,
    /// Syscall hooks only.
    Syscall,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyscallHooksArg {
    /// fentry and fexit on the kernel's syscall functions (__x64_sys_*).
    Fentry,
    /// The syscalls:sys_enter_* and sys_exit_* tracepoints.
    Tracepoint,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    /// A Perfetto trace of the loop over time, for ui.perfetto.dev (`uprof report` only).
    Perfetto,
    /// HdrHistogram interval log of blocked, busy and ready→delivered times per thread.
    Hdrlog,
    /// One self-contained web page: latency percentile plots, utilization over time, the top
    /// fds (`uprof report` only; --interval sets the utilization cells, default 100ms).
    Html,
}

/// The formats of `uprof compare`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareFormat {
    Table,
    Json,
    /// One self-contained web page: each loop's percentile plots on the same axes.
    Html,
}

impl From<Format> for uprof_output::Format {
    fn from(format: Format) -> Self {
        match format {
            Format::Table => uprof_output::Format::Table,
            Format::Json => uprof_output::Format::Json,
            Format::Perfetto => uprof_output::Format::Perfetto,
            Format::Hdrlog => uprof_output::Format::Hdrlog,
            Format::Html => uprof_output::Format::Html,
        }
    }
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewArg {
    /// Per thread: waits, wakeups, blocked and busy time.
    Threads,
    /// Per epoll instance and fd: delivered events and epoll_ctl churn.
    Fds,
    All,
}

/// `uprof agent`'s ring buffer, in MiB (`uprof record`'s is 16).
const AGENT_BUFFER_MIB: &str = "4";

/// The longest `--duration`: a longer one is surely a typo, and leaving `--duration` out records
/// for as long as it takes.
const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

fn parse_duration(s: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(s).map_err(|e| format!("`{s}`: {e}"))?;
    let unbounded = "leave --duration out to record until Ctrl-C or the target exits";
    if duration.is_zero() {
        return Err(format!("a duration must be more than 0 ({unbounded})"));
    }
    if duration > MAX_DURATION {
        return Err(format!("`{s}` is more than a year ({unbounded})"));
    }
    Ok(duration)
}

fn parse_buffer_mib(s: &str) -> Result<u32, String> {
    let mib: u32 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of MiB"))?;
    if mib == 0 || !mib.is_power_of_two() || mib > 2048 {
        return Err(format!(
            "{mib} MiB: the ring buffer size must be a power of two between 1 and 2048"
        ));
    }
    Ok(mib)
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("`{s}`: {e}"))?;
    if d < Duration::from_millis(1) || d.subsec_nanos() % 1_000_000 != 0 {
        return Err(format!(
            "`{s}`: an interval is a whole number of milliseconds, at least 1ms"
        ));
    }
    Ok(d)
}

fn parse_requests(s: &str) -> Result<Option<u64>, String> {
    if s == "-" {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|_| format!("`{s}` is not a request count (or `-` for unknown)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_more_than_zero_and_at_most_a_year() {
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("366d"), Ok(MAX_DURATION));
        assert!(parse_duration("0").unwrap_err().contains("more than 0"));
        assert!(parse_duration("0s").unwrap_err().contains("more than 0"));
        assert!(
            parse_duration("367d")
                .unwrap_err()
                .contains("more than a year")
        );
        assert!(parse_duration("300000000000y").is_err());
        assert!(parse_duration("soon").unwrap_err().starts_with("`soon`: "));
    }
}
