//! Findings: the anti-patterns of an event loop, named, with their evidence and the fix.
//!
//! [`Findings`] is one more consumer of the reconstructed [`stream`](crate::stream): each rule
//! (one module each) watches the events it needs, keeps a bounded state (counters per thread,
//! epoll instance or fd, and its worst few occurrences, never the events) and judges at the
//! end against [`Thresholds`]. Rules that need readiness or wake-ups say so: in a recording
//! without them they are skipped with a note ([`Skipped`]), never guessed.
mod busy_poll;
mod ctl_churn;
mod hangup;
mod herd;
mod imbalance;
mod leak;
mod linear_scan;
mod long_tick;
mod lost;
mod maxevents;
mod saturated;
mod spurious;
mod threads;
mod thresholds;
mod timers;

pub use thresholds::{BadThreshold, KNOBS, Knob, Thresholds, Unit};

use threads::Threads;

use serde::Serialize;

use crate::stream::{
    Consumer, EntryKey, EntryRef, EpollId, EpollRef, Event, ThreadChange, ThreadId, ThreadRef,
};
use crate::{Coverage, SessionInfo};

/// What a finding is about; the kebab-case names are part of the JSON contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    LostRecords,
    LongTick,
    BusyPoll,
    ThunderingHerd,
    CtlChurn,
    MaxeventsSaturated,
    SpuriousWakeups,
    TimerWakeups,
    SaturatedLoop,
    ImbalancedWorkers,
    LinearScan,
    StaleInterest,
}

impl Kind {
    pub const ALL: [Kind; 12] = [
        Kind::LostRecords,
        Kind::LongTick,
        Kind::BusyPoll,
        Kind::ThunderingHerd,
        Kind::CtlChurn,
        Kind::MaxeventsSaturated,
        Kind::SpuriousWakeups,
        Kind::TimerWakeups,
        Kind::SaturatedLoop,
        Kind::ImbalancedWorkers,
        Kind::LinearScan,
        Kind::StaleInterest,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::LostRecords => "lost-records",
            Kind::LongTick => "long-tick",
            Kind::BusyPoll => "busy-poll",
            Kind::ThunderingHerd => "thundering-herd",
            Kind::CtlChurn => "ctl-churn",
            Kind::MaxeventsSaturated => "maxevents-saturated",
            Kind::SpuriousWakeups => "spurious-wakeups",
            Kind::TimerWakeups => "timer-wakeups",
            Kind::SaturatedLoop => "saturated-loop",
            Kind::ImbalancedWorkers => "imbalanced-workers",
            Kind::LinearScan => "linear-scan",
            Kind::StaleInterest => "stale-interest",
        }
    }

    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warn,
    Error,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warn => "warn",
            Severity::Error => "error",
        }
    }
}

/// What a rule needs beyond the syscall hooks every tier has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Needs {
    Syscalls,
    /// Readiness (callback tier; socket tier for sockets).
    Readiness,
    /// Wake-ups of blocked waiters (`sched_waking`).
    Wakeups,
}

/// Where a finding is: as much as applies.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Place {
    pub pid: Option<u32>,
    pub tid: Option<u32>,
    pub comm: Option<String>,
    pub epfd: Option<i32>,
    /// Generation of `epfd` in `pid`.
    pub epoll_generation: Option<u32>,
    pub fd: Option<i32>,
    /// Generation of `fd` in `pid`.
    pub fd_generation: Option<u32>,
    /// Every thread involved, for findings about several (`pid`/`tid` pairs).
    pub threads: Vec<ThreadAt>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ThreadAt {
    pub pid: u32,
    pub tid: u32,
}

/// When: `ns` times are `CLOCK_MONOTONIC` nanoseconds, the clock of every record.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct When {
    pub first_ns: u64,
    pub last_ns: u64,
    /// The occurrences that make the case (the worst few, or the intervals), by time.
    pub ranges: Vec<Range>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Range {
    pub start_ns: u64,
    pub end_ns: u64,
}

impl When {
    /// The times to mark it at on a time line: each evidence range's start, else its first
    /// occurrence (none when the recording does not say when, as for the recorder's count of
    /// lost records).
    pub fn marks(&self) -> Vec<u64> {
        let mut times: Vec<u64> = self.ranges.iter().map(|r| r.start_ns).collect();
        if times.is_empty() && self.first_ns > 0 {
            times.push(self.first_ns);
        }
        times
    }
}

/// One figure of the evidence.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Figure {
    pub name: &'static str,
    pub value: f64,
    pub unit: &'static str,
}

/// One finding: `{kind, severity, tier, where, when, evidence, advice}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    pub kind: Kind,
    pub severity: Severity,
    /// The tier whose probes the evidence comes from: `"syscall"` for rules that need only the
    /// syscall hooks, else the recording's tier.
    pub tier: String,
    #[serde(rename = "where")]
    pub at: Place,
    pub when: When,
    /// What was seen, in one sentence with its figures.
    pub summary: String,
    pub evidence: Vec<Figure>,
    pub advice: &'static str,
}

/// A rule that could not judge this recording, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Skipped {
    pub kind: Kind,
    pub reason: &'static str,
}

/// What the rules learn of threads and epoll instances along the way, shared by all.
#[derive(Default)]
struct Known {
    /// By [`ThreadId`].
    threads: Vec<Option<ThreadInfo>>,
    /// By [`EpollId`].
    epolls: Vec<Option<EpollRef>>,
}

#[derive(Clone, Default)]
struct ThreadInfo {
    pid: Option<u32>,
    tid: u32,
    comm: Option<String>,
}

fn slot<T>(v: &mut Vec<Option<T>>, index: usize) -> &mut Option<T> {
    if v.len() <= index {
        v.resize_with(index + 1, || None);
    }
    &mut v[index]
}

impl Known {
    fn thread(&mut self, t: ThreadRef) {
        let info = slot(&mut self.threads, t.id.0 as usize).get_or_insert_with(|| ThreadInfo {
            tid: t.tid,
            ..ThreadInfo::default()
        });
        info.pid = Some(t.pid);
    }

    /// Learns epoll instance `e` (inline: every delivering wait calls it, most know it already).
    #[inline]
    fn epoll(&mut self, e: &EpollRef) {
        if !matches!(self.epolls.get(e.id.0 as usize), Some(Some(_))) {
            self.new_epoll(e);
        }
    }

    #[cold]
    #[inline(never)]
    fn new_epoll(&mut self, e: &EpollRef) {
        *slot(&mut self.epolls, e.id.0 as usize) = Some(*e);
    }

    /// Learns from an event other than a wait (the engine learns those: see [`Threads::get`]).
    fn event(&mut self, event: &Event<'_>) {
        match event {
            Event::Ctl(c) => {
                self.thread(c.thread);
                self.epoll(&c.epoll);
            }
            Event::EpollCreated(c) => self.epoll(&c.epoll),
            Event::InterestSnapshot(s) => self.epoll(&s.epoll),
            Event::Ready(r) => self.epoll(&r.epoll),
            Event::Thread(t) => match t.what {
                ThreadChange::Forked {
                    child,
                    child_tid,
                    comm,
                    ..
                } => {
                    let info = slot(&mut self.threads, child.0 as usize).get_or_insert_with(|| {
                        ThreadInfo {
                            tid: child_tid,
                            ..ThreadInfo::default()
                        }
                    });
                    info.comm.get_or_insert_with(|| comm.to_owned());
                }
                ThreadChange::Named { thread, comm, .. }
                | ThreadChange::Exited { thread, comm } => {
                    self.thread(thread);
                    if let Some(Some(info)) = self.threads.get_mut(thread.id.0 as usize) {
                        info.comm = Some(comm.to_owned());
                    }
                }
            },
            _ => {}
        }
    }

    /// The place of thread `id`.
    fn place_of_thread(&self, id: ThreadId) -> Place {
        let info = self
            .threads
            .get(id.0 as usize)
            .cloned()
            .flatten()
            .unwrap_or_default();
        Place {
            pid: info.pid,
            tid: Some(info.tid),
            comm: info.comm,
            ..Place::default()
        }
    }

    fn thread_at(&self, id: ThreadId) -> Option<ThreadAt> {
        let info = self.threads.get(id.0 as usize)?.as_ref()?;
        Some(ThreadAt {
            pid: info.pid?,
            tid: info.tid,
        })
    }

    /// `place` with the epoll instance `id` filled in.
    fn with_epoll(&self, place: Place, id: EpollId) -> Place {
        match self.epolls.get(id.0 as usize) {
            Some(Some(e)) => at_epoll(place, *e),
            _ => place,
        }
    }

    /// `place` with the fd entry `entry` (and its epoll instance) filled in.
    fn with_entry(&self, place: Place, entry: EntryRef) -> Place {
        let mut place = self.with_epoll(place, entry.epoll);
        if let EntryKey::Fd { fd, generation } = entry.key {
            place.fd = Some(fd);
            place.fd_generation = Some(generation);
        }
        place
    }
}

/// `place` at epoll instance `e`.
fn at_epoll(mut place: Place, e: EpollRef) -> Place {
    place.pid = Some(e.pid);
    place.epfd = Some(e.epfd);
    place.epoll_generation = Some(e.generation);
    place
}

/// Findings kept per kind, at most: a server with thousands of threads could otherwise have a
/// finding per thread, and memory must not grow with them.
pub const KEPT_PER_KIND: usize = 16;

/// What the rules found, at most [`KEPT_PER_KIND`] of a kind (the most severe).
#[derive(Default)]
struct Found {
    items: Vec<Finding>,
    omitted: std::collections::BTreeMap<Kind, u64>,
}

impl Found {
    fn push(&mut self, f: Finding) {
        let same = self.items.iter().filter(|g| g.kind == f.kind).count();
        if same < KEPT_PER_KIND {
            self.items.push(f);
            return;
        }
        *self.omitted.entry(f.kind).or_default() += 1;
        // Keep the more severe one.
        if let Some(least) = self
            .items
            .iter_mut()
            .filter(|g| g.kind == f.kind)
            .min_by_key(|g| g.severity)
            && least.severity < f.severity
        {
            *least = f;
        }
    }
}

/// The result of judging a recording.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Judged {
    /// Most severe first.
    pub findings: Vec<Finding>,
    /// Findings left out past [`KEPT_PER_KIND`] of a kind.
    pub omitted: Vec<Omitted>,
    pub skipped: Vec<Skipped>,
}

/// Findings of a kind left out of the list.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Omitted {
    pub kind: Kind,
    pub count: u64,
}

/// What every rule's `finish` gets.
struct Judge<'a> {
    limits: &'a Thresholds,
    known: &'a Known,
    tier: &'a str,
}

impl Judge<'_> {
    fn tier(&self, needs: Needs) -> String {
        match needs {
            Needs::Syscalls => "syscall".to_owned(),
            Needs::Readiness | Needs::Wakeups => self.tier.to_owned(),
        }
    }
}

/// The findings engine: a [`Consumer`] of the stream. Each rule is a field updated by a
/// direct call; the per-thread rules share one [`threads::ThreadState`] per thread.
pub struct Findings {
    limits: Thresholds,
    /// Every kind silenced: the stream is not looked at (the report costs what it did without).
    off: bool,
    /// Width of saturated-loop's intervals (ns, at least 1).
    width: u64,
    known: Known,
    threads: Threads,
    lost: lost::Lost,
    herds: herd::Herds,
    churn: ctl_churn::CtlChurn,
    hangups: hangup::Hangup,
    leaks: leak::Leaks,
}

impl Default for Findings {
    fn default() -> Self {
        Self::new(Thresholds::default())
    }
}

impl Kind {
    /// What the rule needs beyond the syscall hooks.
    fn needs(self) -> Needs {
        match self {
            Kind::LongTick => Needs::Readiness,
            Kind::ThunderingHerd | Kind::SpuriousWakeups => Needs::Wakeups,
            _ => Needs::Syscalls,
        }
    }
}

impl Findings {
    pub fn new(limits: Thresholds) -> Self {
        Self {
            off: Kind::ALL.iter().all(|&k| !limits.reports(k)),
            width: limits.saturated_interval_ns.max(1),
            limits,
            known: Known::default(),
            threads: Threads::default(),
            lost: lost::Lost::default(),
            herds: herd::Herds::default(),
            churn: ctl_churn::CtlChurn::default(),
            hangups: hangup::Hangup::default(),
            leaks: leak::Leaks::default(),
        }
    }

    /// Kind `kind`'s findings into `out`.
    fn judge(&mut self, kind: Kind, judge: &Judge<'_>, out: &mut Found) {
        let threads = &mut self.threads;
        match kind {
            Kind::LostRecords => self.lost.finish(out),
            Kind::LongTick => long_tick::finish(threads, judge, out),
            Kind::BusyPoll => busy_poll::finish(threads, judge, out),
            Kind::ThunderingHerd => self.herds.finish(judge, out),
            Kind::CtlChurn => self.churn.finish(judge, out),
            Kind::MaxeventsSaturated => maxevents::finish(threads, judge, out),
            Kind::SpuriousWakeups => spurious::finish(threads, judge, out),
            Kind::TimerWakeups => timers::finish(threads, judge, out),
            Kind::SaturatedLoop => saturated::finish(threads, self.width, judge, out),
            Kind::ImbalancedWorkers => imbalance::finish(threads, judge, out),
            Kind::LinearScan => linear_scan::finish(threads, judge, out),
            Kind::StaleInterest => {
                self.hangups.finish(judge, out);
                self.leaks.finish(judge, out);
            }
        }
    }

    /// The findings, most severe first, and the rules this recording could not judge.
    pub fn finish(mut self, info: &SessionInfo) -> Judged {
        let coverage = Coverage::of(info);
        let known = std::mem::take(&mut self.known);
        let limits = self.limits.clone();
        let judge = Judge {
            limits: &limits,
            known: &known,
            tier: &info.tier,
        };
        let mut found = Found::default();
        let mut skipped = Vec::new();
        for kind in Kind::ALL.into_iter().filter(|&k| limits.reports(k)) {
            let missing = match kind.needs() {
                Needs::Readiness if !coverage.readiness => {
                    Some("needs readiness (callback or socket tier); this recording has none")
                }
                Needs::Wakeups if !coverage.wakeups => {
                    Some("needs wake-ups (sched_waking); this recording has none")
                }
                _ => None,
            };
            match missing {
                Some(reason) => skipped.push(Skipped { kind, reason }),
                None => self.judge(kind, &judge, &mut found),
            }
        }
        // The recorder's own count of lost records, when no Lost record carried it.
        if info.lost_events > 0
            && limits.reports(Kind::LostRecords)
            && !found.items.iter().any(|f| f.kind == Kind::LostRecords)
        {
            found.push(lost::finding(info.lost_events, When::default()));
        }
        let Found {
            items: mut found,
            omitted,
        } = found;
        // A spinning thread is busy all the time: that is busy-poll's finding, not saturation.
        let spinning: Vec<Option<u32>> = found
            .iter()
            .filter(|f| f.kind == Kind::BusyPoll)
            .map(|f| f.at.tid)
            .collect();
        found.retain(|f| f.kind != Kind::SaturatedLoop || !spinning.contains(&f.at.tid));
        found.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.kind.cmp(&b.kind)));
        Judged {
            findings: found,
            omitted: omitted
                .into_iter()
                .map(|(kind, count)| Omitted { kind, count })
                .collect(),
            skipped,
        }
    }
}

impl Consumer for Findings {
    fn event(&mut self, event: &Event<'_>) {
        if self.off {
            return;
        }
        // Most events are waits: tested first, without the jump through the kinds.
        if let Event::Wait(w) = event {
            self.threads
                .get(&w.thread, &mut self.known)
                .wait(w, &self.limits, self.width);
            // The findings that name an instance learned from waits name it by a delivered
            // fd (or keep it: maxevents-saturated): a wait that delivers nothing teaches
            // nothing, and most waits of a spinning loop are such.
            if !w.delivered.is_empty() {
                if let Some(e) = &w.epoll {
                    self.known.epoll(e);
                }
                self.churn.wait(w);
                self.hangups.wait(w);
                self.leaks.wait(w);
            }
            return;
        }
        match event {
            Event::Ctl(c) => {
                self.known.event(event);
                self.churn.ctl(c);
                self.leaks.ctl(c);
            }
            Event::InterestSnapshot(s) => {
                self.known.event(event);
                self.leaks.found(s.epoll.pid, s.entry, s.ts);
            }
            Event::FdEnded(e) => self.leaks.ended(e, &self.limits),
            Event::Wake(w) => self
                .threads
                .get(&w.thread, &mut self.known)
                .wakes
                .woken(w.ts),
            Event::Herd(h) => {
                for t in &h.woken {
                    self.threads.get(t, &mut self.known).wakes.in_herd();
                }
                self.herds.herd(h);
            }
            Event::Lost(l) => self.lost.lost(l),
            _ => self.known.event(event),
        }
    }
}

/// Keeps the `N` largest items by key (a bounded "worst N").
struct Worst<T, const N: usize>(Vec<(u64, T)>);

impl<T, const N: usize> Default for Worst<T, N> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T, const N: usize> Worst<T, N> {
    fn offer(&mut self, key: u64, item: T) {
        if self.0.len() < N {
            self.0.push((key, item));
        } else if let Some(min) = self.0.iter_mut().min_by_key(|(k, _)| *k)
            && min.0 < key
        {
            *min = (key, item);
        }
    }

    /// Largest first.
    fn into_sorted(mut self) -> Vec<(u64, T)> {
        self.0.sort_by_key(|item| std::cmp::Reverse(item.0));
        self.0
    }
}

/// `n / d`, 0 when `d` is 0.
fn ratio(n: u64, d: u64) -> f64 {
    if d == 0 { 0.0 } else { n as f64 / d as f64 }
}

fn figure(name: &'static str, value: f64, unit: &'static str) -> Figure {
    Figure { name, value, unit }
}

/// `1 tick`, `3 ticks`.
fn plural(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// First and last time of something seen several times.
#[derive(Clone, Copy, Default)]
struct Seen {
    first: Option<u64>,
    last: u64,
}

impl Seen {
    fn at(&mut self, ts: u64) {
        self.first.get_or_insert(ts);
        self.last = self.last.max(ts);
    }

    fn when(self, ranges: Vec<Range>) -> When {
        When {
            first_ns: self.first.unwrap_or(0),
            last_ns: self.last,
            ranges,
        }
    }
}

/// An entry's identity for maps: unmapped entries are not fds.
fn is_fd(entry: EntryRef) -> bool {
    matches!(entry.key, EntryKey::Fd { .. })
}

#[cfg(test)]
mod tests;
