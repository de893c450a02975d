//! uprof's figures as Prometheus metrics, for `uprof agent` and `uprof record --metrics`.
//!
//! [`Metrics`] holds the metric families per label set (process name and thread name, with pid
//! and tid only when asked: [`Config::ids`]). Its [`Feed`] is one more consumer of the
//! reconstructed event stream ([`uprof_analysis::stream`]): it shares the recording's one
//! reconstruction with every other output and never reconstructs on its own.
//! [`Metrics::encode`] writes the OpenMetrics text a scrape gets, and [`serve`] answers
//! `GET /metrics` over HTTP/1.1. Every metric is described in `docs/metrics.md`. With
//! [`Metrics::aggregate_in_kernel`] the wait and busy histograms come from the kernel's loop
//! histograms instead of the stream, into the same series.
//!
//! Cardinality is bounded: past [`Config::max_label_sets`] label sets, new threads are counted
//! in one overflow series (`process="_overflow"`) and in `uprof_label_sets_dropped_total`; a
//! label set whose threads have all exited is dropped [`Config::stale_after`] later.
mod collect;
mod hist;
mod serve;
mod state;

use std::sync::{Arc, Mutex, MutexGuard};
use std::{fmt, io, time::Duration};

use prometheus_client::registry::Registry;
use uprof_analysis::{
    SessionInfo,
    stream::{Consumer, Event},
};
use uprof_output::Printer;

pub use serve::{DEFAULT_LISTEN, bind, serve};

/// What the metrics are labelled with and how many label sets they keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Label sets kept before new threads go to the overflow series.
    pub max_label_sets: usize,
    /// Adds `pid` and `tid` labels (one label set per thread incarnation: many more series).
    pub ids: bool,
    /// How long a label set whose threads have all exited stays before it is dropped.
    pub stale_after: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_label_sets: 1000,
            ids: false,
            stale_after: Duration::from_secs(300),
        }
    }
}

/// What `uprof_tracing_info` says about the session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Info {
    /// The tracing tier (`callback`, `socket`, `syscall`).
    pub tier: String,
    /// `uname -r`.
    pub kernel: String,
    /// Whether wake-ups are traced.
    pub wakeups: bool,
}

/// The metrics of one session, shared between the stream's [`Feed`] and the endpoint.
#[derive(Clone)]
pub struct Metrics {
    state: Arc<Mutex<state::State>>,
    registry: Arc<Registry>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    pub fn new(config: Config, info: Info) -> Self {
        let state = Arc::new(Mutex::new(state::State::new(config)));
        let mut registry = Registry::with_prefix("uprof");
        registry.register_collector(Box::new(collect::Families {
            state: state.clone(),
            info,
        }));
        Metrics {
            state,
            registry: Arc::new(registry),
        }
    }

    /// Takes the waits and busy times from the kernel's loop histograms from now on (`uprof
    /// agent --aggregation kernel`): they are read at each scrape and when a thread exits.
    pub fn aggregate_in_kernel(&self, hists: uprof_trace::LoopHists) {
        self.lock().aggregate_in_kernel(hists);
    }

    /// The consumer of the event stream that fills these metrics.
    pub fn feed(&self) -> Feed {
        Feed {
            metrics: self.clone(),
        }
    }

    /// The OpenMetrics text of every metric now (what `/metrics` answers).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }

    /// Label sets kept now (the overflow series not included).
    pub fn label_sets(&self) -> usize {
        self.lock().label_sets()
    }

    fn lock(&self) -> MutexGuard<'_, state::State> {
        // A panic while holding the lock leaves counts that are still counts.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The stream consumer of [`Metrics`]: a [`Printer`], so a recording can feed it while it
/// records, alongside its other outputs.
pub struct Feed {
    metrics: Metrics,
}

impl Consumer for Feed {
    fn event(&mut self, event: &Event<'_>) {
        self.metrics.lock().event(event);
    }

    fn advance(&mut self, ts: u64) {
        self.metrics.lock().advance(ts);
    }
}

impl Printer for Feed {
    fn finish(self: Box<Self>, _session: &SessionInfo) -> io::Result<()> {
        Ok(())
    }
}
