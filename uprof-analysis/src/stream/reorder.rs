//! Puts records back in timestamp order.
//!
//! Records from different CPUs reach user space out of order by up to a few milliseconds; the
//! records of one thread are always in order. Records are held until they are older than the
//! newest timestamp seen minus a window, then released smallest `(ts, arrival)` first, so ties
//! keep their arrival order (a `WaitEvents` record has its `Wait`'s timestamp and follows it).
//!
//! The input is a few interleaved sorted streams (one per CPU buffer), so records are kept in
//! sorted runs, as in patience sorting: each record goes to the end of the first run it does
//! not precede, and the smallest of the runs' first records is released next. With k runs
//! both steps cost O(k), and k stays about the number of interleaved streams. Input that is
//! not made of a few sorted streams (time running backwards, as only a damaged or crafted file
//! has it) would need a run per record: past [`MAX_RUNS`] runs, records go to a binary heap
//! instead, so any input costs O(log n) per record at worst.
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use uprof_common::Record;

/// How far behind the newest timestamp a record may arrive and still be released in order.
pub const REORDER_WINDOW_NS: u64 = 50_000_000;

/// A sorted run. The keys are kept apart from the records, which are large, so that finding
/// the next key to release reads a dense array.
#[derive(Default)]
struct Run {
    /// `(ts, arrival)` of each record, ascending.
    keys: VecDeque<(u64, u64)>,
    records: VecDeque<Record>,
}

impl Run {
    fn first(&self) -> (u64, u64) {
        self.keys.front().copied().unwrap_or((u64::MAX, u64::MAX))
    }

    fn last_ts(&self) -> u64 {
        self.keys.back().map_or(0, |&(ts, _)| ts)
    }

    fn push(&mut self, key: (u64, u64), rec: &Record) {
        self.keys.push_back(key);
        self.records.push_back(*rec);
    }

    /// Passes the first record to `emit` and removes it; starts loading one further on.
    fn release(&mut self, emit: &mut impl FnMut(&Record)) {
        if let Some(rec) = self.records.front() {
            emit(rec);
        }
        self.keys.pop_front();
        self.records.pop_front();
        if let Some(ahead) = self.records.get(PREFETCH_AHEAD) {
            prefetch(ahead);
        }
    }
}

/// How far ahead of the record released to start loading records of the same run: they were
/// written a whole window ago and are out of cache, and with several runs interleaved the
/// CPU's own prefetching does not keep up.
const PREFETCH_AHEAD: usize = 8;

/// Asks the CPU to start loading `rec` into cache (a hint; nothing off x86_64).
fn prefetch(rec: &Record) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let start: *const i8 = (rec as *const Record).cast();
        for offset in (0..size_of::<Record>()).step_by(64) {
            // SAFETY: a prefetch is a hint: it never faults and writes no memory.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(offset)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = rec;
}

/// Sorted runs kept at most: a few per CPU of the recording machine is plenty.
const MAX_RUNS: usize = 64;

/// A record that fitted no run, ordered by its key alone.
struct Stray {
    key: (u64, u64),
    record: Record,
}

impl PartialEq for Stray {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Stray {}

impl PartialOrd for Stray {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Stray {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key.cmp(&other.key)
    }
}

/// A reorder buffer releasing records in `(header.ts, arrival)` order.
pub(crate) struct ReorderBuffer {
    window: u64,
    next_seq: u64,
    /// Newest timestamp pushed so far.
    newest: u64,
    /// Timestamp of the last released record.
    released: u64,
    /// Non-empty sorted runs. Their last timestamps decrease from the first run to the last,
    /// so the first run a record fits at the end of is the one whose end is closest to it.
    runs: Vec<Run>,
    /// Emptied runs, kept for their allocations.
    spare: Vec<Run>,
    /// Records that fitted no run while [`MAX_RUNS`] were in use.
    strays: BinaryHeap<Reverse<Stray>>,
    /// Records that arrived after a newer record had already been released.
    late: u64,
}

impl ReorderBuffer {
    pub(crate) fn new(window: u64) -> Self {
        Self {
            window,
            next_seq: 0,
            newest: 0,
            released: 0,
            runs: Vec::new(),
            spare: Vec::new(),
            strays: BinaryHeap::new(),
            late: 0,
        }
    }

    /// Adds a record and passes every record now older than the window to `emit`, in order.
    pub(crate) fn push(&mut self, rec: &Record, emit: &mut impl FnMut(&Record)) {
        let ts = rec.header().ts;
        let key = (ts, self.next_seq);
        self.next_seq += 1;
        self.newest = self.newest.max(ts);
        if ts < self.released {
            self.late += 1;
        }
        match self.runs.iter().position(|run| run.last_ts() <= ts) {
            Some(i) => self.runs[i].push(key, rec),
            None if self.runs.len() < MAX_RUNS => {
                let mut run = self.spare.pop().unwrap_or_default();
                run.push(key, rec);
                self.runs.push(run);
            }
            None => self.strays.push(Reverse(Stray { key, record: *rec })),
        }
        self.release_before(self.newest.saturating_sub(self.window), emit);
    }

    /// Releases, in order, the records stamped before `horizon`.
    fn release_before(&mut self, horizon: u64, emit: &mut impl FnMut(&Record)) {
        // Records from one ring buffer mostly come in order: one run, no strays. Its records
        // are released from its front without comparing runs.
        if let ([run], true) = (self.runs.as_mut_slice(), self.strays.is_empty()) {
            while run.first().0 < horizon {
                self.released = run.first().0;
                run.release(emit);
            }
            if run.keys.is_empty() {
                self.spare.extend(self.runs.pop());
            }
            return;
        }
        while self.release_first(|ts| ts < horizon, emit) {}
    }

    /// Time has reached `now` with no record: releases what is older than the window before
    /// it, as a record at `now` would; returns that horizon.
    pub(crate) fn advance(&mut self, now: u64, emit: &mut impl FnMut(&Record)) -> u64 {
        self.newest = self.newest.max(now);
        let horizon = self.newest.saturating_sub(self.window);
        self.release_before(horizon, emit);
        horizon
    }

    /// Releases everything still held, in order.
    pub(crate) fn flush(&mut self, emit: &mut impl FnMut(&Record)) {
        while self.release_first(|_| true, emit) {}
    }

    /// Records that arrived too late to be put in order (they were processed out of order).
    pub(crate) fn late(&self) -> u64 {
        self.late
    }

    /// Passes the smallest record to `emit` and removes it, if its timestamp passes `ready`.
    fn release_first(
        &mut self,
        ready: impl Fn(u64) -> bool,
        emit: &mut impl FnMut(&Record),
    ) -> bool {
        let smallest_run = self
            .runs
            .iter_mut()
            .enumerate()
            .min_by_key(|(_, run)| run.first());
        let stray_key = self.strays.peek().map(|Reverse(s)| s.key);
        if let Some(key) = stray_key
            && smallest_run
                .as_ref()
                .is_none_or(|(_, run)| key < run.first())
        {
            if !ready(key.0) {
                return false;
            }
            let Reverse(stray) = self.strays.pop().expect("a stray was just seen");
            self.released = key.0;
            emit(&stray.record);
            return true;
        }
        let Some((i, run)) = smallest_run else {
            return false;
        };
        let (ts, _) = run.first();
        if !ready(ts) {
            return false;
        }
        self.released = ts;
        run.release(emit);
        if run.keys.is_empty() {
            let run = self.runs.remove(i);
            self.spare.push(run);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uprof_common::{Close, Header};

    /// A record whose `fd` field carries a label, to check the release order.
    fn rec(ts: u64, label: i32) -> Record {
        Record::Close(Close {
            header: Header::user::<Close>(ts, 1, 1),
            fd: label,
            ret: 0,
        })
    }

    fn label(r: &Record) -> i32 {
        match r {
            Record::Close(c) => c.fd,
            _ => unreachable!("only Close records are pushed"),
        }
    }

    fn run(window: u64, input: &[(u64, i32)]) -> (Vec<i32>, Vec<i32>, u64) {
        let mut buf = ReorderBuffer::new(window);
        let mut early = Vec::new();
        for &(ts, l) in input {
            buf.push(&rec(ts, l), &mut |r| early.push(label(r)));
        }
        let mut all = early.clone();
        buf.flush(&mut |r| all.push(label(r)));
        (early, all, buf.late())
    }

    #[test]
    fn sorts_by_timestamp_and_keeps_ties_in_arrival_order() {
        let input = [(30, 1), (10, 2), (20, 3), (10, 4), (40, 5), (20, 6)];
        let (_, all, late) = run(100, &input);
        assert_eq!(all, vec![2, 4, 3, 6, 1, 5]);
        assert_eq!(late, 0);
    }

    #[test]
    fn releases_only_records_older_than_the_window() {
        // Window 10: pushing ts 25 releases ts < 15.
        let (early, all, _) = run(10, &[(5, 1), (14, 2), (15, 3), (25, 4)]);
        assert_eq!(early, vec![1, 2]);
        assert_eq!(all, vec![1, 2, 3, 4]);
    }

    #[test]
    fn time_running_backwards_is_sorted_without_a_run_per_record() {
        let input: Vec<(u64, i32)> = (0..10_000).map(|i| (10_000 - i as u64, i)).collect();
        let mut buf = ReorderBuffer::new(u64::MAX);
        for &(ts, l) in &input {
            buf.push(&rec(ts, l), &mut |_| {
                unreachable!("nothing is older than the window")
            });
        }
        assert_eq!(buf.runs.len(), MAX_RUNS);
        let mut all = Vec::new();
        buf.flush(&mut |r| all.push(label(r)));
        let expected: Vec<i32> = (0..10_000).rev().collect();
        assert_eq!(all, expected);
    }

    #[test]
    fn strays_and_runs_release_in_order_with_ties_in_arrival_order() {
        // Descending pairs force strays once the runs are used up; ties must keep arrival order.
        let mut input = Vec::new();
        for i in 0..(3 * MAX_RUNS as u64) {
            let ts = 1_000 - i;
            input.push((ts, (2 * i) as i32));
            input.push((ts, (2 * i + 1) as i32));
        }
        let (_, all, late) = run(u64::MAX, &input);
        let mut expected = input.clone();
        expected.sort_by_key(|&(ts, l)| (ts, l));
        assert_eq!(all, expected.iter().map(|&(_, l)| l).collect::<Vec<_>>());
        assert_eq!(late, 0);
    }

    #[test]
    fn advancing_time_releases_what_is_older_than_the_window() {
        let mut buf = ReorderBuffer::new(10);
        let mut out = Vec::new();
        for (ts, l) in [(5, 1), (14, 2), (20, 3)] {
            buf.push(&rec(ts, l), &mut |r| out.push(label(r)));
        }
        assert_eq!(out, vec![1], "20 - 10 releases ts < 10 only");
        assert_eq!(buf.advance(25, &mut |r| out.push(label(r))), 15);
        assert_eq!(out, vec![1, 2]);
        assert_eq!(
            buf.advance(3, &mut |_| unreachable!()),
            15,
            "time never goes back"
        );
    }

    #[test]
    fn counts_records_later_than_the_window() {
        // ts 100 releases ts 5 and 6 (< 90); ts 4 then arrives behind a released record.
        let (_, all, late) = run(10, &[(5, 1), (6, 2), (100, 3), (4, 4)]);
        assert_eq!(all, vec![1, 2, 4, 3]);
        assert_eq!(late, 1);
    }
}
