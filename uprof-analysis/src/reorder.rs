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
//! both steps cost O(k), and k stays about the number of interleaved streams.
use std::collections::VecDeque;

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
        let run = match self.runs.iter().position(|run| run.last_ts() <= ts) {
            Some(i) => &mut self.runs[i],
            None => {
                self.runs.push(self.spare.pop().unwrap_or_default());
                self.runs.last_mut().expect("a run was just pushed")
            }
        };
        run.keys.push_back(key);
        run.records.push_back(*rec);
        let horizon = self.newest.saturating_sub(self.window);
        while self.release_first(|ts| ts < horizon, emit) {}
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
        let Some((i, run)) = self
            .runs
            .iter_mut()
            .enumerate()
            .min_by_key(|(_, run)| run.first())
        else {
            return false;
        };
        let (ts, _) = run.first();
        if !ready(ts) {
            return false;
        }
        if let Some(rec) = run.records.front() {
            self.released = ts;
            emit(rec);
        }
        run.keys.pop_front();
        run.records.pop_front();
        if let Some(ahead) = run.records.get(PREFETCH_AHEAD) {
            prefetch(ahead);
        }
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
    fn counts_records_later_than_the_window() {
        // ts 100 releases ts 5 and 6 (< 90); ts 4 then arrives behind a released record.
        let (_, all, late) = run(10, &[(5, 1), (6, 2), (100, 3), (4, 4)]);
        assert_eq!(all, vec![1, 2, 4, 3]);
        assert_eq!(late, 1);
    }
}
