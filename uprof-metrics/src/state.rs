//! The figures per label set, kept up to date from the event stream.
use std::sync::Arc;

use rustc_hash::FxHashMap;
use uprof_analysis::stream::{
    CtlOp, EntryKey, EntryRef, Event, Outcome, ThreadChange, ThreadId, ThreadRef, Timeout, Wait,
};
use uprof_common::{FdKind, HistKey, LOG2_SLOTS, Log2Hist, LoopFigure, WaitSyscall};
use uprof_trace::LoopHists;

use crate::{Config, hist::Hist};

/// The process and thread names of the overflow series.
pub const OVERFLOW: &str = "_overflow";

/// How often label sets are checked for staleness (stream time).
const SWEEP_EVERY_NS: u64 = 1_000_000_000;

/// A label set: what one series of every family is labelled with.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    pub process: Arc<str>,
    pub thread: Arc<str>,
    /// `(pid, tid)` with [`Config::ids`].
    pub ids: Option<(u32, u32)>,
}

/// How a finished wait ended, as the `outcome` label says it ([`LoopFigure::Busy`] is no
/// outcome and never labels a wait).
fn outcome(w: &Wait<'_>) -> Option<LoopFigure> {
    Some(match (w.outcome, w.timeout) {
        (Outcome::Ready { .. }, _) => LoopFigure::Ready,
        (Outcome::Timeout, Timeout::Zero) => LoopFigure::Poll,
        (Outcome::Timeout, _) => LoopFigure::Timeout,
        (Outcome::Interrupted, _) => LoopFigure::Eintr,
        (Outcome::Error { .. }, _) => LoopFigure::Error,
        (Outcome::Abandoned | Outcome::Unfinished, _) => return None,
    })
}

/// What woke a blocked thread, as the `cause` label says it: the kind of the fd whose
/// readiness woke it, or nothing observed.
pub type WakeCause = Option<FdKind>;

/// The figures of one label set.
#[derive(Debug, Default)]
pub struct Series {
    pub waits: FxHashMap<(WaitSyscall, LoopFigure), Hist>,
    pub busy: Hist,
    pub idle_ns: u64,
    pub active_ns: u64,
    pub delivered: FxHashMap<FdKind, u64>,
    pub ready_to_delivered: FxHashMap<FdKind, Hist>,
    pub ctl: FxHashMap<(CtlOp, Option<i32>), u64>,
    pub wakeups: FxHashMap<WakeCause, u64>,
    pub herds: u64,
    pub herd_wakeups: u64,
    /// Threads whose figures go here now.
    live: u32,
    /// When the last of them exited.
    idle_since: u64,
}

/// One thread incarnation the stream has named or counted.
#[derive(Debug, Default)]
struct Thread {
    comm: Option<Arc<str>>,
    pid: Option<u32>,
    /// Where its figures go, once it has some.
    series: Option<usize>,
}

#[derive(Debug)]
pub struct State {
    config: Config,
    /// Slot 0 is the overflow series; the others are label sets, `None` once dropped.
    series: Vec<Option<(Key, Series)>>,
    free: Vec<usize>,
    index: FxHashMap<Key, usize>,
    threads: FxHashMap<ThreadId, Thread>,
    /// Each process's name: its main thread's.
    processes: FxHashMap<u32, Arc<str>>,
    kinds: FxHashMap<(u32, i32, u32), FdKind>,
    pub lost: u64,
    pub dropped: u64,
    last_sweep: u64,
    /// With in-kernel aggregation: where the waits and busy times are counted (the stream
    /// then only brings the waits that returned events, for their fd kinds).
    kernel: Option<Kernel>,
}

/// The kernel's loop histograms, and what of them is already counted here.
struct Kernel {
    hists: LoopHists,
    /// Each entry's value when last added to its series: the kernel's are cumulative.
    counted: FxHashMap<HistKey, Log2Hist>,
    /// The live thread incarnation of each (pid, tid), which an entry's figures go to.
    live: FxHashMap<(u32, u32), ThreadRef>,
    /// Threads forked while traced, by tid, until some event names their process: one whose
    /// waits all return no events is only named by the kernel's entries.
    forked: FxHashMap<u32, ThreadId>,
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernel")
            .field("counted", &self.counted.len())
            .finish_non_exhaustive()
    }
}

impl State {
    pub fn new(config: Config) -> Self {
        let overflow = Key {
            process: OVERFLOW.into(),
            thread: OVERFLOW.into(),
            ids: None,
        };
        State {
            config,
            series: vec![Some((overflow, Series::default()))],
            free: Vec::new(),
            index: FxHashMap::default(),
            threads: FxHashMap::default(),
            processes: FxHashMap::default(),
            kinds: FxHashMap::default(),
            lost: 0,
            dropped: 0,
            last_sweep: 0,
            kernel: None,
        }
    }

    /// Counts waits and busy times from the kernel's loop histograms from now on, not from
    /// the stream.
    pub fn aggregate_in_kernel(&mut self, hists: LoopHists) {
        self.kernel = Some(Kernel {
            hists,
            counted: FxHashMap::default(),
            live: FxHashMap::default(),
            forked: FxHashMap::default(),
        });
    }

    /// Durations the kernel could not count (its map was full).
    pub fn kernel_drops(&self) -> u64 {
        self.kernel.as_ref().map_or(0, |k| k.hists.drops())
    }

    /// Adds what the kernel counted since the last call, for every thread the stream has
    /// named (a thread not named yet is counted once it is: the kernel keeps its figures).
    pub fn collect_kernel(&mut self) {
        let Some(kernel) = &self.kernel else { return };
        let entries = kernel.hists.entries();
        for (key, hist) in entries {
            self.add_kernel(key, hist);
        }
    }

    /// The kernel's last figures of thread `t`, which exited, then its entries are removed:
    /// a thread that reuses its ids starts from zero.
    fn collect_kernel_thread(&mut self, t: ThreadRef) {
        let Some(kernel) = &self.kernel else { return };
        let busy = HistKey::new((t.pid, t.tid), 0, LoopFigure::Busy);
        let waits = WaitSyscall::ALL.into_iter().flat_map(|syscall| {
            LoopFigure::ALL
                .into_iter()
                .filter(|&f| f != LoopFigure::Busy)
                .map(move |f| HistKey::new((t.pid, t.tid), syscall as u8, f))
        });
        let found: Vec<(HistKey, Log2Hist)> = std::iter::once(busy)
            .chain(waits)
            .filter_map(|key| Some((key, kernel.hists.get(&key)?)))
            .collect();
        for (key, hist) in found {
            if let Some(to) = self.kernel_delta(&key, &hist) {
                self.add_figure(t, &key, &to);
            }
            let kernel = self.kernel.as_mut().expect("checked above");
            // An entry left behind (a failed removal) keeps its counted value: it is never
            // counted twice.
            if kernel.hists.remove(&key).is_ok() {
                kernel.counted.remove(&key);
            }
        }
        if let Some(kernel) = &mut self.kernel {
            kernel.live.remove(&(t.pid, t.tid));
            kernel.forked.remove(&t.tid);
        }
    }

    /// Adds entry `key`'s growth to the live thread it belongs to.
    fn add_kernel(&mut self, key: HistKey, hist: Log2Hist) {
        let Some(kernel) = &self.kernel else { return };
        let forked = kernel.forked.get(&key.tid).map(|&id| ThreadRef {
            id,
            pid: key.pid,
            tid: key.tid,
        });
        let Some(t) = kernel.live.get(&(key.pid, key.tid)).copied().or(forked) else {
            return;
        };
        if let Some(delta) = self.kernel_delta(&key, &hist) {
            self.add_figure(t, &key, &delta);
        }
    }

    /// What entry `key` counted since it was last added, noting `hist` as added.
    fn kernel_delta(&mut self, key: &HistKey, hist: &Log2Hist) -> Option<Log2Hist> {
        let kernel = self.kernel.as_mut()?;
        let before = kernel.counted.insert(*key, *hist);
        let Some(before) = before else {
            return Some(*hist);
        };
        if before == *hist {
            return None;
        }
        let mut delta = *hist;
        delta.count = hist.count.saturating_sub(before.count);
        delta.sum_ns = hist.sum_ns.saturating_sub(before.sum_ns);
        for slot in 0..LOG2_SLOTS {
            delta.slots[slot] = hist.slots[slot].saturating_sub(before.slots[slot]);
        }
        Some(delta)
    }

    fn add_figure(&mut self, t: ThreadRef, key: &HistKey, delta: &Log2Hist) {
        let (Some(figure), s) = (LoopFigure::from_u8(key.figure), self.of(t)) else {
            return;
        };
        if figure == LoopFigure::Busy {
            s.busy.add_log2(delta);
            s.active_ns += delta.sum_ns;
        } else if let Some(syscall) = WaitSyscall::from_u8(key.syscall) {
            s.waits
                .entry((syscall, figure))
                .or_default()
                .add_log2(delta);
            s.idle_ns += delta.sum_ns;
        }
    }

    pub fn label_sets(&self) -> usize {
        self.index.len()
    }

    /// Every label set with figures (the overflow series only once used).
    pub fn series(&self) -> impl Iterator<Item = (&Key, &Series)> {
        self.series
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().filter(|(_, s)| i != 0 || s.live > 0 || s.used()))
            .map(|(k, s)| (k, s))
    }

    pub fn event(&mut self, event: &Event<'_>) {
        match event {
            Event::Wait(w) => {
                let kinds: Vec<(FdKind, Option<u64>)> = w
                    .delivered
                    .iter()
                    .map(|d| {
                        let kind = self.kind(w.thread.pid, &d.entry);
                        (kind, d.ready_ts.map(|r| w.exit_ts.saturating_sub(r)))
                    })
                    .collect();
                // With in-kernel aggregation the kernel counted the wait and the busy time
                // before it: the wait is streamed for its events only.
                let in_kernel = self.kernel.is_some();
                let s = self.of(w.thread);
                if !in_kernel && let (Some(blocked), Some(outcome)) = (w.blocked_ns(), outcome(w)) {
                    s.waits
                        .entry((w.syscall, outcome))
                        .or_default()
                        .observe(blocked);
                    s.idle_ns += blocked;
                }
                if let Some(busy) = w.busy_before_ns.filter(|_| !in_kernel) {
                    s.busy.observe(busy);
                    s.active_ns += busy;
                }
                for (kind, delay) in kinds {
                    *s.delivered.entry(kind).or_default() += 1;
                    if let Some(delay) = delay {
                        s.ready_to_delivered.entry(kind).or_default().observe(delay);
                    }
                }
            }
            Event::Ctl(c) => {
                let s = self.of(c.thread);
                *s.ctl.entry((c.op, c.result.err())).or_default() += 1;
            }
            Event::Wake(w) => {
                let cause = w.cause.map(|c| self.kind(w.thread.pid, &c.entry));
                *self.of(w.thread).wakeups.entry(cause).or_default() += 1;
            }
            Event::Herd(h) => {
                if let Some(&first) = h.woken.first() {
                    self.of(first).herds += 1;
                }
                for &t in &h.woken {
                    self.of(t).herd_wakeups += 1;
                }
            }
            Event::FdKind(k) => {
                self.kinds.insert((k.pid, k.fd, k.generation), k.kind);
            }
            Event::FdEnded(e) => {
                self.kinds.remove(&(e.pid, e.fd, e.generation));
            }
            Event::Thread(t) => match t.what {
                ThreadChange::Forked {
                    parent,
                    child,
                    child_tid,
                    comm,
                } => {
                    self.seen(parent);
                    if let Some(kernel) = &mut self.kernel {
                        kernel.forked.insert(child_tid, child);
                    }
                    self.threads.entry(child).or_default().comm = Some(comm.into());
                }
                ThreadChange::Named { thread, comm, .. } => self.named(thread, comm, t.ts),
                ThreadChange::Exited { thread, .. } => self.exited(thread, t.ts),
            },
            Event::Lost(l) => self.lost = self.lost.max(l.total),
            Event::Ready(_)
            | Event::Undelivered(_)
            | Event::EpollCreated(_)
            | Event::InterestSnapshot(_)
            | Event::End(_) => {}
        }
    }

    /// Stream time has reached `ts`: label sets stale by then are dropped.
    pub fn advance(&mut self, ts: u64) {
        if ts < self.last_sweep + SWEEP_EVERY_NS {
            return;
        }
        self.last_sweep = ts;
        let stale_ns = u64::try_from(self.config.stale_after.as_nanos()).unwrap_or(u64::MAX);
        for i in 1..self.series.len() {
            let stale = self.series[i]
                .as_ref()
                .is_some_and(|(_, s)| s.live == 0 && s.idle_since.saturating_add(stale_ns) <= ts);
            if stale && let Some((key, _)) = self.series[i].take() {
                self.index.remove(&key);
                self.free.push(i);
            }
        }
    }

    fn kind(&self, pid: u32, entry: &EntryRef) -> FdKind {
        match entry.key {
            EntryKey::Fd { fd, generation } => self
                .kinds
                .get(&(pid, fd, generation))
                .copied()
                .unwrap_or(FdKind::Unknown),
            EntryKey::Unmapped { .. } => FdKind::Unknown,
        }
    }

    /// Notes what a reference to `t` says: its process, and the process's name when `t` is
    /// the main thread.
    fn seen(&mut self, t: ThreadRef) -> &mut Thread {
        if let Some(kernel) = &mut self.kernel {
            kernel.live.insert((t.pid, t.tid), t);
            kernel.forked.remove(&t.tid);
        }
        let thread = self.threads.entry(t.id).or_default();
        thread.pid = Some(t.pid);
        if t.pid == t.tid
            && let Some(comm) = &thread.comm
            && self.processes.get(&t.pid) != Some(comm)
        {
            self.processes.insert(t.pid, comm.clone());
        }
        thread
    }

    fn named(&mut self, t: ThreadRef, comm: &str, ts: u64) {
        let thread = self.seen(t);
        thread.comm = Some(comm.into());
        let old = thread.series.take();
        if let Some(old) = old {
            self.release(old, ts);
        }
        if t.pid == t.tid {
            self.processes.insert(t.pid, comm.into());
            // The process's other threads are labelled with its new name from now on.
            let moved: Vec<usize> = self
                .threads
                .values_mut()
                .filter(|th| th.pid == Some(t.pid))
                .filter_map(|th| th.series.take())
                .collect();
            for old in moved {
                self.release(old, ts);
            }
        }
    }

    fn exited(&mut self, t: ThreadRef, ts: u64) {
        self.collect_kernel_thread(t);
        if let Some(thread) = self.threads.remove(&t.id)
            && let Some(series) = thread.series
        {
            self.release(series, ts);
        }
        if t.pid == t.tid {
            self.processes.remove(&t.pid);
        }
    }

    fn release(&mut self, series: usize, ts: u64) {
        if let Some((_, s)) = &mut self.series[series] {
            s.live -= 1;
            if s.live == 0 {
                s.idle_since = ts;
            }
        }
    }

    /// The series `t`'s figures go to.
    fn of(&mut self, t: ThreadRef) -> &mut Series {
        let thread = self.seen(t);
        let index = match thread.series {
            Some(index) => index,
            None => {
                let comm = thread.comm.clone();
                let index = self.assign(t, comm);
                self.threads.get_mut(&t.id).expect("seen above").series = Some(index);
                index
            }
        };
        &mut self.series[index]
            .as_mut()
            .expect("a thread's series is kept")
            .1
    }

    /// A series for a thread that has none: its label set's, a new one, or the overflow.
    fn assign(&mut self, t: ThreadRef, comm: Option<Arc<str>>) -> usize {
        let unknown: Arc<str> = Arc::from("unknown");
        let thread = comm.unwrap_or_else(|| unknown.clone());
        let process = match self.processes.get(&t.pid) {
            Some(name) => name.clone(),
            None if t.pid == t.tid => thread.clone(),
            None => unknown,
        };
        let key = Key {
            process,
            thread,
            ids: self.config.ids.then_some((t.pid, t.tid)),
        };
        let index = match self.index.get(&key) {
            Some(&index) => {
                let (_, s) = self.series[index]
                    .as_mut()
                    .expect("indexed series are kept");
                if key.ids.is_some() && s.live == 0 {
                    // A reused tid: a new thread's figures never add to an exited one's.
                    *s = Series::default();
                }
                index
            }
            None if self.index.len() >= self.config.max_label_sets => {
                self.dropped += 1;
                0
            }
            None => {
                let slot = Some((key.clone(), Series::default()));
                let index = match self.free.pop() {
                    Some(index) => {
                        self.series[index] = slot;
                        index
                    }
                    None => {
                        self.series.push(slot);
                        self.series.len() - 1
                    }
                };
                self.index.insert(key, index);
                index
            }
        };
        self.series[index].as_mut().expect("just assigned").1.live += 1;
        index
    }
}

impl Series {
    /// Whether anything was counted.
    fn used(&self) -> bool {
        !self.waits.is_empty()
            || self.busy.count > 0
            || !self.delivered.is_empty()
            || !self.ctl.is_empty()
            || !self.wakeups.is_empty()
            || self.herd_wakeups > 0
    }
}
