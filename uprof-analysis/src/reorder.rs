//! Puts records back in timestamp order.
//!
//! Records from different CPUs reach user space out of order by up to a few milliseconds; the
//! records of one thread are always in order. Records are held until they are older than the
//! newest timestamp seen minus a window, then released smallest `(ts, arrival)` first, so ties
//! keep their arrival order (a `WaitEvents` record has its `Wait`'s timestamp and follows it).
//!
//! Most records arrive in order: those go to the back of an already sorted queue in O(1), and
//! only records behind the newest timestamp go through a heap.
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};

use uprof_common::Record;

/// How far behind the newest timestamp a record may arrive and still be released in order.
pub const REORDER_WINDOW_NS: u64 = 50_000_000;

struct Entry {
    ts: u64,
    seq: u64,
    rec: Record,
}

impl Entry {
    fn key(&self) -> (u64, u64) {
        (self.ts, self.seq)
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
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
    /// Records that were the newest when they arrived: sorted by construction.
    in_order: VecDeque<Entry>,
    /// Records that arrived behind the newest one.
    behind: BinaryHeap<Reverse<Entry>>,
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
            in_order: VecDeque::new(),
            behind: BinaryHeap::new(),
            late: 0,
        }
    }

    /// Adds a record and passes every record now older than the window to `emit`, in order.
    pub(crate) fn push(&mut self, rec: &Record, emit: &mut impl FnMut(&Record)) {
        let ts = rec.header().ts;
        let entry = Entry {
            ts,
            seq: self.next_seq,
            rec: *rec,
        };
        self.next_seq += 1;
        if ts >= self.newest {
            self.newest = ts;
            self.in_order.push_back(entry);
        } else {
            if ts < self.released {
                self.late += 1;
            }
            self.behind.push(Reverse(entry));
        }
        let horizon = self.newest.saturating_sub(self.window);
        while let Some(entry) = self.pop_if(|ts| ts < horizon) {
            emit(&entry.rec);
        }
    }

    /// Releases everything still held, in order.
    pub(crate) fn flush(&mut self, emit: &mut impl FnMut(&Record)) {
        while let Some(entry) = self.pop_if(|_| true) {
            emit(&entry.rec);
        }
    }

    /// Records that arrived too late to be put in order (they were processed out of order).
    pub(crate) fn late(&self) -> u64 {
        self.late
    }

    /// Removes the smallest entry if its timestamp passes `ready`.
    fn pop_if(&mut self, ready: impl Fn(u64) -> bool) -> Option<Entry> {
        let from_heap = match (self.in_order.front(), self.behind.peek()) {
            (None, None) => return None,
            (Some(_), None) => false,
            (None, Some(_)) => true,
            (Some(a), Some(Reverse(b))) => b < a,
        };
        let entry = if from_heap {
            let Reverse(head) = self.behind.peek()?;
            if !ready(head.ts) {
                return None;
            }
            self.behind.pop()?.0
        } else {
            if !ready(self.in_order.front()?.ts) {
                return None;
            }
            self.in_order.pop_front()?
        };
        self.released = entry.ts;
        Some(entry)
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
