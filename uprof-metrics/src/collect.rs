//! The metric families, written from the [`State`] on every scrape.
use std::sync::{Arc, Mutex};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeCounterValue, EncodeLabelSet, NoLabelSet},
    metrics::MetricType,
    registry::Unit,
};
use uprof_analysis::stream::CtlOp;

use crate::{
    Info,
    hist::Hist,
    state::{Key, Series, State},
};

#[derive(Debug)]
pub struct Families {
    pub state: Arc<Mutex<State>>,
    pub info: Info,
}

type Labels = Vec<(&'static str, String)>;

/// No labels beyond the label set's.
const NO_LABELS: [(&str, &str); 0] = [];

fn labels(key: &Key) -> Labels {
    let mut labels = vec![
        ("process", key.process.to_string()),
        ("thread", key.thread.to_string()),
    ];
    if let Some((pid, tid)) = key.ids {
        labels.push(("pid", pid.to_string()));
        labels.push(("tid", tid.to_string()));
    }
    labels
}

fn op_name(op: CtlOp) -> String {
    match op {
        CtlOp::Add => "add".into(),
        CtlOp::Mod => "mod".into(),
        CtlOp::Del => "del".into(),
        CtlOp::Other(n) => n.to_string(),
    }
}

/// One family: its descriptor, then one sample (or histogram) per label set and extra labels.
struct Family<'a, 'e> {
    encoder: &'a mut DescriptorEncoder<'e>,
    series: &'a [(Labels, &'a Series)],
}

impl Family<'_, '_> {
    fn counters<'s, I, E, V>(
        &mut self,
        name: &str,
        help: &str,
        unit: Option<&Unit>,
        values: impl Fn(&'s Series) -> I,
    ) -> Result<(), std::fmt::Error>
    where
        I: IntoIterator<Item = (E, V)>,
        E: EncodeLabelSet,
        V: EncodeCounterValue,
        Self: 's,
    {
        let mut metric = self
            .encoder
            .encode_descriptor(name, help, unit, MetricType::Counter)?;
        for (labels, series) in self.series {
            for (extra, value) in values(series) {
                metric
                    .encode_family(&(labels.as_slice(), extra))?
                    .encode_counter::<NoLabelSet, _, u64>(&value, None)?;
            }
        }
        Ok(())
    }

    fn histograms<'s, I, E>(
        &mut self,
        name: &str,
        help: &str,
        values: impl Fn(&'s Series) -> I,
    ) -> Result<(), std::fmt::Error>
    where
        I: IntoIterator<Item = (E, &'s Hist)>,
        E: EncodeLabelSet,
        Self: 's,
    {
        let mut metric = self.encoder.encode_descriptor(
            name,
            help,
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for (labels, series) in self.series {
            for (extra, hist) in values(series) {
                metric
                    .encode_family(&(labels.as_slice(), extra))?
                    .encode_histogram::<NoLabelSet>(
                        hist.sum_ns as f64 / 1e9,
                        hist.count,
                        &hist.buckets_s(),
                        None,
                    )?;
            }
        }
        Ok(())
    }
}

impl Collector for Families {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.collect_kernel();
        let series: Vec<(Labels, &Series)> = state.series().map(|(k, s)| (labels(k), s)).collect();
        let mut family = Family {
            encoder: &mut encoder,
            series: &series,
        };
        family.histograms(
            "wait_duration",
            "Time inside finished wait calls (epoll_wait family, poll, select), by syscall and outcome.",
            |s| {
                s.waits.iter().map(|((syscall, outcome), h)| {
                    ([("syscall", syscall.name()), ("outcome", outcome.name())], h)
                })
            },
        )?;
        family.histograms(
            "busy_duration",
            "Time from a wait's return to the thread's next wait call: one loop iteration's work.",
            |s| std::iter::once((NO_LABELS, &s.busy)),
        )?;
        family.counters(
            "loop_time",
            "Time the loop spent idle (inside wait calls) and active (between them).",
            Some(&Unit::Seconds),
            |s| {
                [
                    ([("state", "idle")], s.idle_ns as f64 / 1e9),
                    ([("state", "active")], s.active_ns as f64 / 1e9),
                ]
                .into_iter()
                .filter(|_| s.busy.count > 0 || !s.waits.is_empty())
            },
        )?;
        family.counters(
            "events_delivered",
            "Events returned by epoll waits (captured ones, at most 256 per call), by the kind of their fd.",
            None,
            |s| s.delivered.iter().map(|(k, &n)| ([("fd_kind", k.name())], n)),
        )?;
        family.histograms(
            "ready_to_delivered",
            "From an fd's readiness (callback or socket tier) to the wait that returned it, by fd kind.",
            |s| {
                s.ready_to_delivered
                    .iter()
                    .map(|(k, h)| ([("fd_kind", k.name())], h))
            },
        )?;
        family.counters(
            "epoll_ctl_calls",
            "epoll_ctl calls by operation and errno (\"0\" for success).",
            None,
            |s| {
                s.ctl.iter().map(|(&(op, errno), &n)| {
                    let errno = errno.map_or_else(|| "0".to_owned(), uprof_analysis::errno_name);
                    ([("op", op_name(op)), ("errno", errno)], n)
                })
            },
        )?;
        family.counters(
            "wakeups",
            "Wake-ups of threads blocked in a wait, by the kind of fd whose readiness caused them (\"unobserved\": not seen).",
            None,
            |s| {
                s.wakeups.iter().map(|(cause, &n)| {
                    let cause = cause.map_or("unobserved", |k| k.name());
                    ([("cause", cause)], n)
                })
            },
        )?;
        family.counters(
            "herds",
            "Thundering herds (one readiness woke two or more waiters), counted for the first thread woken.",
            None,
            |s| (s.herds > 0).then_some((NO_LABELS, s.herds)),
        )?;
        family.counters(
            "herd_wakeups",
            "Wake-ups that were part of a thundering herd.",
            None,
            |s| (s.herd_wakeups > 0).then_some((NO_LABELS, s.herd_wakeups)),
        )?;
        let mut metric = encoder.encode_descriptor(
            "lost_records",
            "Records the kernel could not hand to uprof (ring buffer full), and durations its aggregation map had no room for: figures are short by these.",
            None,
            MetricType::Counter,
        )?;
        // Durations the kernel's aggregation had no room for are lost figures too.
        let lost = state.lost.saturating_add(state.kernel_drops());
        metric.encode_counter::<NoLabelSet, _, u64>(&lost, None)?;
        let mut metric = encoder.encode_descriptor(
            "label_sets_dropped",
            "Threads counted in the overflow series because the label-set cap was reached.",
            None,
            MetricType::Counter,
        )?;
        metric.encode_counter::<NoLabelSet, _, u64>(&state.dropped, None)?;
        let mut metric = encoder.encode_descriptor(
            "label_sets",
            "Label sets (process, thread) with series now, the overflow series not included.",
            None,
            MetricType::Gauge,
        )?;
        metric.encode_gauge(&(state.label_sets() as i64))?;
        let mut metric = encoder.encode_descriptor(
            "tracing",
            "How uprof traces on this host.",
            None,
            MetricType::Info,
        )?;
        metric.encode_info(&[
            ("version", env!("CARGO_PKG_VERSION")),
            ("tier", self.info.tier.as_str()),
            ("kernel", self.info.kernel.as_str()),
            ("wakeups", if self.info.wakeups { "true" } else { "false" }),
        ])?;
        Ok(())
    }
}
