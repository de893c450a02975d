//! `uprof agent`: a recording without end whose only output is Prometheus metrics. The same
//! order as `uprof record` keeps failures cheap: signal handlers, the selection and the listening
//! socket (a port in use is one sentence) before the programs load; then the capture runs,
//! rescanning the selection every second, until SIGINT or SIGTERM; the programs are detached
//! when the capture ends.
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use uprof_analysis::terminal_safe;
use uprof_capture::{Capture, Destination, Selection, Stop, Target};
use uprof_metrics::{Info, Metrics};
use uprof_trace::{TracerOptions, procfs};

use crate::{
    cli::{AgentArgs, Aggregation},
    record::{self, ready::Ready, signals::Signals},
    say::say,
};

/// How often `--comm` and `--cgroup` are looked at again for processes that started.
const RESCAN: Duration = Duration::from_secs(1);

pub fn run(args: AgentArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let result = runtime.block_on(agent(args));
    // As in `uprof record`: a load given up on for a signal may still run on its thread.
    runtime.shutdown_background();
    result
}

async fn agent(args: AgentArgs) -> Result<()> {
    let mut signals = Signals::install()?;
    let ready = args.ready_fd.map(Ready::take).transpose()?;
    let selection = Selection {
        comms: args.comm.clone(),
        cgroup: args.cgroup.clone(),
    };
    selection.check()?;
    let (mut pids, _) = uprof_capture::processes(&args.pid)?;
    let listener = uprof_metrics::bind(&args.metrics.listen).await?;
    let address = listener.local_addr()?;
    let in_kernel = args.aggregation == Aggregation::Kernel;
    let options = TracerOptions {
        aggregate_waits: in_kernel,
        ..record::tracer_options(&args.probes)
    };
    let mut tracer = match record::load(options, &mut signals).await? {
        Ok(tracer) => tracer,
        Err(stop) => bail!("{stop} while the eBPF programs were loading"),
    };
    let metrics = Metrics::new(
        args.metrics.config(),
        Info {
            tier: tracer.tier().name().to_owned(),
            kernel: tracer.kernel_release().to_owned(),
            wakeups: tracer.wakeups(),
        },
    );
    if in_kernel {
        metrics.aggregate_in_kernel(tracer.take_loop_hists()?);
    }
    let (selected, _) = selection.processes();
    for pid in selected {
        if !pids.contains(&pid) {
            pids.push(pid);
        }
    }
    let feed = metrics.feed();
    let mut capture = Capture::start(tracer, &Target::Pids(pids), Destination::Nowhere, |_| {
        Some(Box::new(feed))
    })?;
    capture.keep_running();
    let server = tokio::spawn(uprof_metrics::serve(listener, metrics.clone()));
    say!(
        "uprof: agent serving http://{address}/metrics; tracing {} ({} tier); SIGINT or SIGTERM stops it",
        what(&args, capture.pids()),
        capture.tracer().tier().name(),
    );
    if let Some(ready) = ready {
        ready.signal();
    }

    let mut lost = 0;
    let mut cgroup_gone = false;
    let stop = loop {
        let stop = capture
            .run(signals.next_or_after(Some(RESCAN)), |progress| {
                if progress.lost > lost {
                    say!(
                        "uprof: warning: {} records lost (ring buffer full; raise --buffer-mib): \
                         the metrics are short by them",
                        progress.lost - lost
                    );
                    lost = progress.lost;
                }
            })
            .await?;
        if stop != Stop::DurationReached {
            break stop;
        }
        if selection.is_empty() {
            continue;
        }
        let (selected, error) = selection.processes();
        if let Some(e) = &error
            && !cgroup_gone
        {
            say!("uprof: warning: {e:#}");
        }
        cgroup_gone = error.is_some();
        for pid in selected {
            if !capture.pids().contains(&pid) {
                // It may have exited since it was listed: that is no reason to stop.
                match capture.follow(pid) {
                    Ok(false) => {}
                    Ok(true) => say!(
                        "uprof: tracing pid {pid} ({})",
                        terminal_safe(&procfs::comm(pid))
                    ),
                    Err(e) => say!("uprof: warning: cannot trace pid {pid}: {e:#}"),
                }
            }
        }
    };
    server.abort();
    let finished = capture.finish(stop)?;
    record::say_stopped(stop, &finished, None);
    Ok(())
}

/// What the agent traces, for its start line.
fn what(args: &AgentArgs, pids: &[u32]) -> String {
    let mut parts = Vec::new();
    if !pids.is_empty() {
        parts.push(record::who(pids));
    }
    if !args.comm.is_empty() {
        let names: Vec<String> = args
            .comm
            .iter()
            .map(|c| terminal_safe(c).into_owned())
            .collect();
        parts.push(format!("processes named {}", names.join(",")));
    }
    if let Some(cgroup) = &args.cgroup {
        parts.push(format!(
            "cgroup {}",
            terminal_safe(&cgroup.to_string_lossy())
        ));
    }
    parts.join(", ")
}
