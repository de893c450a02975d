//! Every rule's thresholds, with their defaults, in one place (docs/findings.md says why each
//! default is what it is). `uprof report --threshold KEY=VALUE` overrides one.
use std::fmt;

use super::Kind;

/// The limits the rules judge by.
#[derive(Clone, Debug, PartialEq)]
pub struct Thresholds {
    /// long-tick: a tick (wait return → next wait) at least this long is long (ns).
    pub long_tick_ns: u64,
    /// long-tick: a tick at least this long makes the finding an error (ns).
    pub long_tick_error_ns: u64,
    /// long-tick: fewer long ticks than this (none reaching the error length) are only `info`:
    /// one stall may be the machine's (a preempted thread), not the program's.
    pub long_tick_count: u64,
    /// busy-poll: share of a thread's waits that are zero-timeout empty polls followed by
    /// another poll (not libuv's one poll before a blocking wait).
    pub busy_poll_share: f64,
    /// ctl-churn: `MOD`s and `DEL`+`ADD`s of one fd per delivered event.
    pub ctl_churn_per_event: f64,
    /// maxevents-saturated: share of a thread's ready returns that filled `maxevents`.
    pub maxevents_share: f64,
    /// timer-wakeups: a timeout this short or shorter is a short timer (ns).
    pub short_timer_ns: u64,
    /// timer-wakeups: share of a thread's waits that are expired short timers.
    pub timer_share: f64,
    /// timer-wakeups: expired short timers per second of the thread's life, at least.
    pub timer_rate_per_s: f64,
    /// spurious-wakeups: share of a thread's wake-ups that did not end its wait.
    pub spurious_share: f64,
    /// saturated-loop: an interval in which a thread is busy this share of the time is
    /// saturated.
    pub saturated_utilization: f64,
    /// saturated-loop: the length of an interval (ns).
    pub saturated_interval_ns: u64,
    /// saturated-loop: consecutive saturated intervals that make a finding.
    pub saturated_intervals: u64,
    /// thundering-herd: herds of one fd that make a finding.
    pub herd_events: u64,
    /// imbalanced-workers: the busiest worker delivers at least this many times the events of
    /// the quietest.
    pub imbalance_ratio: f64,
    /// linear-scan: poll-family fds scanned per ready fd.
    pub scan_per_ready: f64,
    /// stale-interest: EPOLLHUP/EPOLLERR deliveries of one fd.
    pub hangup_deliveries: u64,
    /// stale-interest (leaks): a registration this long without a delivered event, ended by
    /// the fd's close, is idle (ns).
    pub leak_idle_ns: u64,
    /// stale-interest (leaks): idle registrations closed in one epoll instance that make a
    /// finding.
    pub leak_fds: u64,
    /// Every rule but lost-records: events (waits, wake-ups, `epoll_ctl` calls, deliveries)
    /// below which a rule does not judge (too few to say anything).
    pub min_events: u64,
    /// Kinds not reported (`--silence KIND`).
    pub silenced: Vec<Kind>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            long_tick_ns: 20_000_000,
            long_tick_error_ns: 500_000_000,
            long_tick_count: 3,
            busy_poll_share: 0.5,
            ctl_churn_per_event: 1.0,
            maxevents_share: 0.5,
            short_timer_ns: 10_000_000,
            timer_share: 0.5,
            timer_rate_per_s: 50.0,
            spurious_share: 0.25,
            saturated_utilization: 0.9,
            saturated_interval_ns: 1_000_000_000,
            saturated_intervals: 3,
            herd_events: 10,
            imbalance_ratio: 5.0,
            scan_per_ready: 16.0,
            hangup_deliveries: 100,
            leak_idle_ns: 1_000_000_000,
            leak_fds: 8,
            min_events: 100,
            silenced: Vec::new(),
        }
    }
}

/// A `--threshold` key: its name, what it sets, and its unit.
pub struct Knob {
    pub key: &'static str,
    pub unit: Unit,
    pub help: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Milliseconds,
    Share,
    Ratio,
    Count,
    PerSecond,
}

/// Every `--threshold` key.
pub const KNOBS: &[Knob] = &[
    knob(
        "long-tick-ms",
        Unit::Milliseconds,
        "a tick this long is long (warn)",
    ),
    knob(
        "long-tick-error-ms",
        Unit::Milliseconds,
        "a tick this long is an error",
    ),
    knob(
        "busy-poll-share",
        Unit::Share,
        "share of waits that spin (zero-timeout polls in a row)",
    ),
    knob(
        "ctl-churn-per-event",
        Unit::Ratio,
        "epoll_ctl MOD or DEL+ADD per delivered event",
    ),
    knob(
        "maxevents-share",
        Unit::Share,
        "share of ready returns that filled maxevents",
    ),
    knob(
        "short-timer-ms",
        Unit::Milliseconds,
        "a timeout this short is a short timer",
    ),
    knob(
        "timer-share",
        Unit::Share,
        "share of waits that are expired short timers",
    ),
    knob(
        "timer-rate",
        Unit::PerSecond,
        "expired short timers per second",
    ),
    knob(
        "spurious-share",
        Unit::Share,
        "share of wake-ups that did not end the wait",
    ),
    knob(
        "saturated-utilization",
        Unit::Share,
        "busy share of an interval that saturates it",
    ),
    knob(
        "saturated-interval-ms",
        Unit::Milliseconds,
        "interval length for saturated-loop",
    ),
    knob(
        "saturated-intervals",
        Unit::Count,
        "consecutive saturated intervals",
    ),
    knob("herd-events", Unit::Count, "herds of one fd"),
    knob(
        "imbalance-ratio",
        Unit::Ratio,
        "busiest / quietest worker's deliveries",
    ),
    knob(
        "scan-per-ready",
        Unit::Ratio,
        "poll-family fds scanned per ready fd",
    ),
    knob(
        "hangup-deliveries",
        Unit::Count,
        "EPOLLHUP/EPOLLERR deliveries of one fd",
    ),
    knob(
        "leak-idle-ms",
        Unit::Milliseconds,
        "a registration this long without an event, then closed, is idle",
    ),
    knob(
        "leak-fds",
        Unit::Count,
        "idle registrations closed in one epoll instance",
    ),
    knob(
        "min-events",
        Unit::Count,
        "events below which a rule does not judge",
    ),
];

const fn knob(key: &'static str, unit: Unit, help: &'static str) -> Knob {
    Knob { key, unit, help }
}

/// A `--threshold` that cannot be applied.
#[derive(Debug, PartialEq, Eq)]
pub struct BadThreshold(pub String);

impl fmt::Display for BadThreshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadThreshold {}

impl Thresholds {
    /// Applies `KEY=VALUE` (a key of [`KNOBS`]).
    pub fn set(&mut self, assignment: &str) -> Result<(), BadThreshold> {
        let keys = || KNOBS.iter().map(|k| k.key).collect::<Vec<_>>().join(", ");
        let (key, value) = assignment.split_once('=').ok_or_else(|| {
            BadThreshold(format!(
                "`{assignment}` is not KEY=VALUE (keys: {})",
                keys()
            ))
        })?;
        let knob = KNOBS
            .iter()
            .find(|k| k.key == key)
            .ok_or_else(|| BadThreshold(format!("no threshold `{key}` (keys: {})", keys())))?;
        let v: f64 = value
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| BadThreshold(format!("{key}: `{value}` is not a number ≥ 0")))?;
        if knob.unit == Unit::Share && v > 1.0 {
            return Err(BadThreshold(format!(
                "{key}: a share is between 0 and 1, not {v}"
            )));
        }
        let ms = || (v * 1e6).round() as u64;
        let count = || v.round() as u64;
        match key {
            "long-tick-ms" => self.long_tick_ns = ms(),
            "long-tick-error-ms" => self.long_tick_error_ns = ms(),
            "long-tick-count" => self.long_tick_count = count().max(1),
            "busy-poll-share" => self.busy_poll_share = v,
            "ctl-churn-per-event" => self.ctl_churn_per_event = v,
            "maxevents-share" => self.maxevents_share = v,
            "short-timer-ms" => self.short_timer_ns = ms(),
            "timer-share" => self.timer_share = v,
            "timer-rate" => self.timer_rate_per_s = v,
            "spurious-share" => self.spurious_share = v,
            "saturated-utilization" => self.saturated_utilization = v,
            "saturated-interval-ms" => self.saturated_interval_ns = ms().max(1),
            "saturated-intervals" => self.saturated_intervals = count().max(1),
            "herd-events" => self.herd_events = count().max(1),
            "imbalance-ratio" => self.imbalance_ratio = v,
            "scan-per-ready" => self.scan_per_ready = v,
            "hangup-deliveries" => self.hangup_deliveries = count().max(1),
            "leak-idle-ms" => self.leak_idle_ns = ms(),
            "leak-fds" => self.leak_fds = count().max(1),
            "min-events" => self.min_events = count(),
            _ => unreachable!("every knob has a field"),
        }
        Ok(())
    }

    pub fn reports(&self, kind: Kind) -> bool {
        !self.silenced.contains(&kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_knob_sets_something() {
        for knob in KNOBS {
            let mut t = Thresholds::default();
            t.set(&format!("{}=0.75", knob.key)).unwrap();
            assert_ne!(t, Thresholds::default(), "{}", knob.key);
        }
    }

    #[test]
    fn bad_assignments_say_why() {
        let mut t = Thresholds::default();
        assert!(t.set("long-tick-ms").unwrap_err().0.contains("KEY=VALUE"));
        assert!(t.set("nope=1").unwrap_err().0.contains("long-tick-ms"));
        assert!(t.set("long-tick-ms=-1").is_err());
        assert!(t.set("timer-share=2").is_err());
        t.set("long-tick-ms=5").unwrap();
        assert_eq!(t.long_tick_ns, 5_000_000);
    }
}
