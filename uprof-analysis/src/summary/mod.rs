//! The totals of a recording, per thread, per epoll instance and per fd: a consumer of the
//! event stream that [`Summary::finish`]es into the [`Report`] `uprof report` prints.
mod build;
mod epolls;
mod threads;

pub use epolls::{CtlCounts, MaskCounts};

use rustc_hash::FxHashMap;
use uprof_common::FdKind;

use crate::SessionInfo;
use crate::findings::{Findings, Thresholds};
use crate::report::Report;
use crate::stream::{
    Consumer, End, EntryId, EntryKey, EntryRef, EpollRef, Event, ThreadChange, ThreadId, ThreadRef,
};
use epolls::{EntryTotals, EpollTotals};
use threads::ThreadTotals;

/// Adds up the events of a stream.
#[derive(Default)]
pub struct Summary {
    /// By [`ThreadId`]; a slot is created for every id up to the highest seen.
    threads: Vec<Option<ThreadTotals>>,
    /// By [`crate::stream::EpollId`].
    epolls: Vec<Option<EpollTotals>>,
    /// By [`crate::stream::EntryId`].
    entries: Vec<Option<EntryTotals>>,
    /// Kinds of fds, by `(pid, fd, generation)`.
    kinds: FxHashMap<(u32, i32, u32), FdKind>,
    /// Entries of fd generations still open, by `(pid, fd, generation)`.
    open: FxHashMap<(u32, i32, u32), Vec<EntryId>>,
    /// Highest lost-record total seen.
    lost: u64,
    herds: u64,
    herd_waiters: u64,
    end: End,
    /// The findings engine, fed the same stream.
    findings: Findings,
}

/// The slot `index` of `v`, grown as needed, filled by `new` if empty.
fn slot<T>(v: &mut Vec<Option<T>>, index: usize, new: impl FnOnce() -> T) -> &mut T {
    if v.len() <= index {
        v.resize_with(index + 1, || None);
    }
    v[index].get_or_insert_with(new)
}

impl Summary {
    pub fn new() -> Self {
        Self::default()
    }

    /// A summary whose findings are judged by `limits`.
    pub fn with_thresholds(limits: Thresholds) -> Self {
        Self {
            findings: Findings::new(limits),
            ..Self::default()
        }
    }

    fn thread(&mut self, id: ThreadId, tid: u32) -> &mut ThreadTotals {
        slot(&mut self.threads, id.0 as usize, || ThreadTotals::new(tid))
    }

    /// The thread of one of its own events (which say its process).
    fn own(&mut self, t: ThreadRef) -> &mut ThreadTotals {
        let thread = self.thread(t.id, t.tid);
        thread.pid = Some(t.pid);
        thread
    }

    fn epoll(&mut self, at: EpollRef) -> &mut EpollTotals {
        slot(&mut self.epolls, at.id.0 as usize, || EpollTotals::new(at))
    }

    fn entry(&mut self, entry: EntryRef) -> &mut EntryTotals {
        let index = entry.id.0 as usize;
        if matches!(self.entries.get(index), Some(Some(_))) {
            return self.entries[index]
                .as_mut()
                .expect("the entry was just seen");
        }
        if let EntryKey::Fd { fd, generation } = entry.key
            && let Some(Some(instance)) = self.epolls.get(entry.epoll.0 as usize)
        {
            let pid = instance.at.pid;
            self.open
                .entry((pid, fd, generation))
                .or_default()
                .push(entry.id);
        }
        slot(&mut self.entries, index, || EntryTotals::new(entry))
    }

    /// The report of everything added up.
    pub fn finish(self, info: &SessionInfo) -> Report {
        build::report(self, info)
    }
}

impl Consumer for Summary {
    fn event(&mut self, event: &Event<'_>) {
        self.findings.event(event);
        match event {
            Event::Wait(w) => {
                self.own(w.thread).wait(w);
                let Some(at) = w.epoll else { return };
                let instance = self.epoll(at);
                instance.waits += 1;
                instance.delivered += w.delivered.len() as u64;
                for d in w.delivered {
                    let entry = self.entry(d.entry);
                    entry.delivered += 1;
                    entry.masks.count(d.mask);
                    if let Some(ready_ts) = d.ready_ts {
                        entry.ready.delivered(ready_ts, w.exit_ts);
                    }
                }
            }
            Event::Ready(r) => {
                self.epoll(r.epoll);
                self.entry(r.entry).ready.reported(r.coalesced);
            }
            Event::Undelivered(u) => self.entry(u.entry).ready.dropped(),
            Event::Wake(w) => {
                self.own(w.thread).wake.woken(w.cause.is_some());
                if let Some(at) = w.epoll {
                    self.epoll(at);
                }
                if let Some(cause) = w.cause {
                    self.entry(cause.entry).ready.woke += 1;
                }
            }
            Event::Herd(h) => {
                self.herds += 1;
                self.herd_waiters += h.woken.len() as u64;
                for t in &h.woken {
                    self.thread(t.id, t.tid).wake.herd += 1;
                }
            }
            Event::Ctl(c) => {
                self.own(c.thread).ctl_calls += 1;
                let instance = self.epoll(c.epoll);
                instance.ctl.count(c.op, c.result);
                let entry = self.entry(c.entry);
                entry.ctl.count(c.op, c.result);
                if let Err(errno) = c.result {
                    *entry.ctl_errors.entry(errno).or_default() += 1;
                }
            }
            Event::EpollCreated(c) => {
                self.own(c.thread);
                self.epoll(c.epoll);
            }
            Event::InterestSnapshot(s) => {
                self.epoll(s.epoll);
                self.entry(s.entry);
            }
            Event::FdKind(k) => {
                self.kinds.insert((k.pid, k.fd, k.generation), k.kind);
            }
            Event::FdEnded(e) => {
                for id in self
                    .open
                    .remove(&(e.pid, e.fd, e.generation))
                    .unwrap_or_default()
                {
                    if let Some(Some(entry)) = self.entries.get_mut(id.0 as usize) {
                        entry.closed = true;
                    }
                }
            }
            Event::Thread(t) => match t.what {
                ThreadChange::Forked {
                    parent,
                    child,
                    child_tid,
                    comm,
                } => {
                    self.own(parent);
                    self.thread(child, child_tid)
                        .comm
                        .get_or_insert_with(|| comm.to_owned());
                }
                ThreadChange::Named { thread, comm, .. }
                | ThreadChange::Exited { thread, comm } => {
                    self.own(thread).comm = Some(comm.to_owned());
                }
            },
            Event::Lost(l) => self.lost = self.lost.max(l.total),
            Event::End(end) => self.end = **end,
        }
    }
}
