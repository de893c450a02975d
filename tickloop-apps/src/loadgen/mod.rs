//! A load generator on tickloop: N active connections sending requests (closed loop, or at a
//! fixed total rate), M idle connections held open, for a bounded time, against a loopback
//! server. Latency is measured from the intended send time, so a slow server cannot hide
//! queueing delay in fixed-rate mode.

mod client;
mod framing;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use hdrhistogram::Histogram;
use serde::Serialize;
use tickloop::{BackendKind, EventLoop, RunMode};

pub use framing::Wire;

use client::Clients;

/// The longest run the load generator accepts.
pub const MAX_DURATION: Duration = Duration::from_secs(600);

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What to run.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// The server (must be a loopback address).
    pub addr: SocketAddr,
    /// Request and response format.
    pub wire: Wire,
    /// Connections that send requests.
    pub active: usize,
    /// Connections opened first and then left silent.
    pub idle: usize,
    /// Total requests per second across active connections; `None` for closed loop (each
    /// connection sends its next request when the previous response arrives).
    pub rate: Option<f64>,
    /// Warm-up before measuring.
    pub warmup: Duration,
    /// Measurement window.
    pub duration: Duration,
    /// Closed loop only: send exactly this many requests over the whole run (warm-up
    /// included), and close the window when the last response arrives; `duration` then only
    /// bounds the run. Servers compared this way all do the same work.
    pub requests: Option<u64>,
}

/// The edges of the measurement window, for callers that sample the server around it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    /// Measuring starts now.
    Start,
    /// Measuring ended now.
    End,
}

/// What was measured in the window.
#[derive(Clone, Debug, Serialize)]
pub struct LoadReport {
    /// Responses received in the window.
    pub requests: u64,
    /// Connections that failed during the run.
    pub errors: u64,
    /// Length of the window in seconds.
    pub seconds: f64,
    /// Responses per second.
    pub throughput: f64,
    /// Latency percentiles in microseconds.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest latency seen.
    pub max_us: u64,
}

impl std::fmt::Display for LoadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} requests in {:.2}s: {:.0} req/s, latency p50 {} us, p90 {} us, p99 {} us, \
             p99.9 {} us, max {} us, {} connection errors",
            self.requests,
            self.seconds,
            self.throughput,
            self.p50_us,
            self.p90_us,
            self.p99_us,
            self.p999_us,
            self.max_us,
            self.errors
        )
    }
}

/// Latency samples and window bookkeeping, shared by the loop's callbacks.
pub(crate) struct Measurements {
    latencies: Histogram<u64>,
    measuring: bool,
    requests: u64,
    errors: u64,
}

impl Measurements {
    pub(crate) fn record(&mut self, latency: Duration) {
        if self.measuring {
            let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
            self.latencies.saturating_record(micros.max(1));
            self.requests += 1;
        }
    }

    pub(crate) fn error(&mut self) {
        self.errors += 1;
    }
}

/// Runs the load; `on_window` is called at the start and end of the measurement window.
pub fn run(config: &LoadConfig, on_window: impl FnMut(Window) + 'static) -> Result<LoadReport> {
    ensure!(
        config.addr.ip().is_loopback(),
        "only loopback targets are allowed"
    );
    ensure!(
        config.active > 0,
        "at least one active connection is needed"
    );
    ensure!(
        config.warmup + config.duration <= MAX_DURATION,
        "runs are limited to {} s",
        MAX_DURATION.as_secs()
    );
    if let Some(rate) = config.rate {
        ensure!(rate > 0.0 && rate.is_finite(), "the rate must be positive");
    }
    if let Some(requests) = config.requests {
        ensure!(requests > 0, "the request count must be positive");
        ensure!(
            config.rate.is_none(),
            "a request count needs the closed loop"
        );
    }
    let needed = (config.active + config.idle) as u64 + 256;
    let limit = crate::net::raise_fd_limit(needed)?;
    ensure!(
        limit >= needed,
        "{needed} descriptors needed, RLIMIT_NOFILE allows {limit}"
    );

    let idle = (0..config.idle)
        .map(|_| crate::net::connect_loopback(config.addr, CONNECT_TIMEOUT))
        .collect::<Result<Vec<_>>>()
        .context("opening idle connections")?;
    let mut lp = EventLoop::new(BackendKind::Epoll)?;
    let measurements = Rc::new(RefCell::new(Measurements {
        latencies: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
        measuring: false,
        requests: 0,
        errors: 0,
    }));
    let (window, close_window) = schedule_window(&mut lp, config, &measurements, on_window);
    let clients = Clients::connect(&mut lp, config, Rc::clone(&measurements), close_window)?;
    match config.rate {
        None => clients.start_closed_loop(&mut lp),
        Some(rate) => clients.start_fixed_rate(&mut lp, rate),
    }
    lp.run(RunMode::Default).context("running the load loop")?;
    drop(idle);

    let seconds = window
        .get()
        .map(|(start, end)| end.duration_since(start).as_secs_f64())
        .context("the run ended before its measurement window did")?;
    let m = measurements.borrow();
    let h = &m.latencies;
    Ok(LoadReport {
        requests: m.requests,
        errors: m.errors,
        seconds,
        throughput: m.requests as f64 / seconds,
        p50_us: h.value_at_quantile(0.50),
        p90_us: h.value_at_quantile(0.90),
        p99_us: h.value_at_quantile(0.99),
        p999_us: h.value_at_quantile(0.999),
        max_us: h.max(),
    })
}

type WindowTimes = Rc<std::cell::Cell<Option<(Instant, Instant)>>>;

/// Ends the measurement window and stops the loop: at the end of the duration, or earlier
/// when the last of a request count is answered.
pub(crate) type CloseWindow = Rc<dyn Fn(&mut EventLoop)>;

/// Starts measuring after the warm-up and stops the loop when the window closes.
fn schedule_window(
    lp: &mut EventLoop,
    config: &LoadConfig,
    measurements: &Rc<RefCell<Measurements>>,
    on_window: impl FnMut(Window) + 'static,
) -> (WindowTimes, CloseWindow) {
    let times: WindowTimes = Rc::default();
    let on_window = Rc::new(RefCell::new(on_window));
    let (start_measurements, start_hook) = (Rc::clone(measurements), Rc::clone(&on_window));
    let start_time = Rc::clone(&times);
    lp.start_timer(config.warmup, move |_, _| {
        (start_hook.borrow_mut())(Window::Start);
        let now = Instant::now();
        start_time.set(Some((now, now)));
        start_measurements.borrow_mut().measuring = true;
    });
    let (end_measurements, end_time) = (Rc::clone(measurements), Rc::clone(&times));
    let close: CloseWindow = Rc::new(move |lp: &mut EventLoop| {
        end_measurements.borrow_mut().measuring = false;
        let start = end_time.get().map_or_else(Instant::now, |(start, _)| start);
        end_time.set(Some((start, Instant::now())));
        (on_window.borrow_mut())(Window::End);
        lp.stop();
    });
    let at_end = Rc::clone(&close);
    lp.start_timer(config.warmup + config.duration, move |lp, _| at_end(lp));
    (times, close)
}
