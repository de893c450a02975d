//! `uprof record`: the command line and the terminal around a [`Capture`]. The order is what
//! keeps failures cheap and harmless: signal handlers and every check of the arguments and the
//! output path first, then the programs load (the slow part), then the capture starts; the
//! output file takes its place only once tracing has started.
pub(crate) mod ready;
pub(crate) mod signals;
mod status;

use std::io::IsTerminal as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use tokio::time::interval_at;
use uprof_analysis::terminal_safe;
use uprof_capture::{Capture, Destination, Finished, Stop, Target};
use uprof_metrics::{Info, Metrics};
use uprof_output::{Both, Printer, Source};
use uprof_record::Output;
use uprof_trace::{SyscallHooks, Tier, Tracer, TracerOptions, absent_syscalls_note, procfs};

use crate::{
    cli::{ProbeArgs, RecordArgs, SyscallHooksArg, TierArg, TracingArgs},
    report,
    say::say,
};
use ready::Ready;
use signals::Signals;
use status::StatusLine;

/// Loading takes this long before the terminal shows that it is in progress.
const LOADING_QUIET: Duration = Duration::from_secs(1);

/// How many pids the start line names before it counts the rest.
const PIDS_SHOWN: usize = 4;

pub fn run(args: RecordArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let result = runtime.block_on(record(args));
    // A load given up on for a signal may still run on its thread: do not wait for it. The
    // kernel releases whatever it loaded when uprof exits.
    runtime.shutdown_background();
    result
}

async fn record(args: RecordArgs) -> Result<()> {
    if args.output.is_none() {
        report::check_live(&args.output_format)?;
    }
    let mut signals = Signals::install()?;
    let ready = args.ready_fd.map(Ready::take).transpose()?;
    let target = target(&args.tracing, &args.command)?;
    let destination = match &args.output {
        Some(path) => Destination::File(Output::create(path)?),
        None => Destination::Live,
    };
    let listener = match &args.metrics {
        Some(addr) => Some(uprof_metrics::bind(addr).await?),
        None => None,
    };
    let tracer = match load(tracer_options(&args.tracing.probes), &mut signals).await? {
        Ok(tracer) => tracer,
        Err(stop) => bail!("{stop} while the eBPF programs were loading: nothing was recorded"),
    };
    let metrics = listener.is_some().then(|| {
        Metrics::new(
            uprof_metrics::Config::default(),
            Info {
                tier: tracer.tier().name().to_owned(),
                kernel: tracer.kernel_release().to_owned(),
                wakeups: tracer.wakeups(),
            },
        )
    });
    // `--interval` rows or a streamed hdrlog go to stdout while recording, as bcc tools print;
    // the metrics are one more consumer of the same reconstruction.
    let output = &args.output_format;
    let mut watching = false;
    let mut capture = Capture::start(tracer, &target, destination, |header| {
        let options = output.options(Source::of(header));
        let live = output.format().live(&options, Box::new(std::io::stdout()));
        watching = live.is_some();
        let feed = metrics
            .as_ref()
            .map(|m| Box::new(m.feed()) as Box<dyn Printer>);
        match (live, feed) {
            (Some(live), Some(feed)) => Some(Box::new(Both(live, feed))),
            (live, feed) => live.or(feed),
        }
    })?;
    let server = listener
        .zip(metrics)
        .map(|(listener, metrics)| tokio::spawn(uprof_metrics::serve(listener, metrics)));
    // The status line would land in the middle of those rows on the same terminal.
    let show_status = !(watching && std::io::stdout().is_terminal());
    say!("{}", start_line(&capture));
    if args.verbose {
        for line in reasons(capture.tracer()) {
            say!("uprof: {line}");
        }
    }
    if let Some(ready) = ready {
        ready.signal();
    }

    let mut status = StatusLine::new(show_status);
    let started = Instant::now();
    let stop = capture
        .run(signals.next_or_after(args.duration), |progress| {
            let lost = match progress.lost {
                0 => "0 lost".to_owned(),
                lost => format!("\x1b[1;31m{lost} lost\x1b[0m"),
            };
            status.show(format!(
                "uprof: recording {:.1}s, {} records, {lost} (Ctrl-C to stop)",
                started.elapsed().as_secs_f64(),
                progress.records
            ));
        })
        .await;
    status.clear();
    if let Some(server) = server {
        server.abort();
    }
    let stop = stop?;
    let finished = capture.finish(stop)?;
    say_stopped(stop, &finished, args.output.as_deref());
    if let Some(watched) = finished.watched {
        watched.context("cannot write the output made while recording")?;
    }
    match &finished.report {
        Some(report) => report::print(report, &args.output_format),
        None => Ok(()),
    }
}

/// What `-p` or the command after `--` asks to trace (a thread id given is said to stand for
/// its process).
pub(crate) fn target(args: &TracingArgs, command: &[String]) -> Result<Target> {
    if !command.is_empty() {
        return Ok(Target::Command(command.to_vec()));
    }
    let (pids, threads) = uprof_capture::processes(&args.pid)?;
    for thread in threads {
        say!(
            "uprof: {} is a thread of process {} ({}): tracing the process",
            thread.tid,
            thread.pid,
            terminal_safe(&procfs::comm(thread.pid))
        );
    }
    Ok(Target::Pids(pids))
}

pub(crate) fn tracer_options(args: &ProbeArgs) -> TracerOptions {
    TracerOptions {
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
        // A recording keeps every wait; only `uprof agent` may count them in the kernel.
        aggregate_waits: false,
    }
}

/// Loads the programs on a thread of their own (it takes seconds on a slow machine), showing
/// that it is in progress on a terminal once it takes longer than [`LOADING_QUIET`]. A signal
/// stops the wait: its [`uprof_capture::Stop`] is returned instead.
pub(crate) async fn load(
    options: TracerOptions,
    signals: &mut Signals,
) -> Result<Result<Tracer, uprof_capture::Stop>> {
    let started = Instant::now();
    let mut loading = tokio::task::spawn_blocking(move || Tracer::load(&options));
    let mut status = StatusLine::new(true);
    let mut tick = interval_at(
        tokio::time::Instant::now() + LOADING_QUIET,
        Duration::from_millis(100),
    );
    let result = loop {
        tokio::select! {
            loaded = &mut loading => break Ok(Ok(loaded.context("loading the programs failed")??)),
            stop = signals.next() => break Ok(Err(stop)),
            _ = tick.tick() => status.show(format!(
                "uprof: loading eBPF programs… {:.1}s",
                started.elapsed().as_secs_f64()
            )),
        }
    };
    status.clear();
    result
}

/// The line that says tracing has started, short enough for one line of a terminal: the
/// reasons behind the tier and the hooks are for `--verbose` and `uprof doctor`.
fn start_line(capture: &Capture) -> String {
    let tracer = capture.tracer();
    let who = who(capture.pids());
    let probes = tracer.probes();
    let attached = probes.iter().filter(|p| p.attached).count();
    let short_of_best = attached < probes.len()
        || tracer.tier() != Tier::Callback
        || tracer.syscall_hooks() != SyscallHooks::Fentry;
    format!(
        "uprof: tracing {who} ({} tier, syscalls by {}, {attached}/{} probes{}); Ctrl-C to stop",
        tracer.tier().name(),
        tracer.syscall_hooks().name(),
        probes.len(),
        if short_of_best {
            "; --verbose says why"
        } else {
            ""
        },
    )
}

/// The traced processes, for people: `pid 1234`, `pids 1,2,3,4 and 2 more`.
pub(crate) fn who(pids: &[u32]) -> String {
    let mut who = match pids {
        [pid] => format!("pid {pid}"),
        _ => format!(
            "pids {}",
            pids.iter()
                .take(PIDS_SHOWN)
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ),
    };
    if pids.len() > PIDS_SHOWN {
        who.push_str(&format!(" and {} more", pids.len() - PIDS_SHOWN));
    }
    who
}

/// What `--verbose` adds after the start line: why this tier and these hooks (and which hooked
/// syscalls the architecture lacks), and why each probe that did not attach did not.
fn reasons(tracer: &Tracer) -> Vec<String> {
    let absent = absent_syscalls_note().map(|note| format!("; {note}"));
    let mut lines = vec![
        format!("{} tier: {}", tracer.tier().name(), tracer.tier_reason()),
        format!(
            "syscalls hooked by {}: {}{}",
            tracer.syscall_hooks().name(),
            tracer.syscall_hooks_reason(),
            absent.unwrap_or_default()
        ),
    ];
    lines.extend(tracer.probes().iter().filter(|p| !p.attached).map(|p| {
        format!(
            "{} not attached: {}",
            p.name,
            p.note.as_deref().unwrap_or("no reason given")
        )
    }));
    lines
}

/// What a finished capture stored and where, with a warning for anything it could not store.
pub(crate) fn say_stopped(stop: Stop, finished: &Finished, output: Option<&Path>) {
    if finished.malformed > 0 {
        say!(
            "uprof: warning: {} malformed records from the kernel were skipped",
            finished.malformed
        );
    }
    say!(
        "uprof: stopped ({stop}): {} records, {} lost",
        finished.records,
        finished.lost
    );
    if finished.lost > 0 {
        say!(
            "uprof: warning: {} records were lost because the ring buffer was full; raise --buffer-mib",
            finished.lost
        );
    }
    if let Some(path) = output {
        say!(
            "uprof: wrote {}; see it with `uprof report {}`",
            path.display(),
            path.display()
        );
    }
}
