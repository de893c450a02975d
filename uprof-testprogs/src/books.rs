//! A process's bookkeeping: the [`ProcessReport`] under construction, shared by its threads.
//!
//! Every update takes the lock briefly and never across a syscall, so another thread can take
//! a [`Books::snapshot`] while one is blocked in a wait (its wait then shows as `unfinished`).

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::report::{EpollReport, FdKind, FdReport, ProcessReport, Syscall, ThreadReport};

/// Index of a thread in [`ProcessReport::threads`].
pub(crate) type ThreadIndex = usize;
/// Index of an epoll instance in [`ProcessReport::epolls`].
pub(crate) type EpollIndex = usize;

/// An `epoll_ctl` operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtlOp {
    Add,
    Mod,
    Del,
}

impl CtlOp {
    /// The `EPOLL_CTL_*` value.
    pub fn raw(self) -> i32 {
        match self {
            Self::Add => libc::EPOLL_CTL_ADD,
            Self::Mod => libc::EPOLL_CTL_MOD,
            Self::Del => libc::EPOLL_CTL_DEL,
        }
    }
}

/// The shared books of one process.
pub struct Books {
    ledger: Mutex<Ledger>,
}

struct Ledger {
    report: ProcessReport,
    /// The entry of `report.epolls[e].fds` that fd `n` currently stands for, keyed by `(n, e)`
    /// (fd first, so that closing `n` finds its entries in one range); closing `n` ends the
    /// entry, so a reused number starts a new one.
    current: BTreeMap<(i32, EpollIndex), usize>,
}

impl Books {
    /// Empty books for the calling process.
    pub fn new(scenario: &str) -> Arc<Books> {
        let report = ProcessReport {
            scenario: scenario.to_owned(),
            pid: std::process::id(),
            ..ProcessReport::default()
        };
        Arc::new(Books {
            ledger: Mutex::new(Ledger {
                report,
                current: BTreeMap::new(),
            }),
        })
    }

    /// The name the report was started with.
    pub fn scenario(&self) -> String {
        self.ledger().report.scenario.clone()
    }

    /// The report as it stands.
    pub fn snapshot(&self) -> ProcessReport {
        self.ledger().report.clone()
    }

    /// Adds a remark to the report.
    pub fn note(&self, note: impl Into<String>) {
        self.ledger().report.notes.push(note.into());
    }

    /// Records a planted readiness delay.
    pub fn plant(&self, planted: crate::report::Planted) {
        self.ledger().report.planted.push(planted);
    }

    /// Records what a herd scenario did.
    pub fn herd(&self, herd: crate::report::Herd) {
        self.ledger().report.herd = Some(herd);
    }

    /// Records the anti-pattern an `anti-*` scenario planted.
    pub fn anti_pattern(&self, planted: crate::report::AntiPattern) {
        self.ledger().report.anti_pattern = Some(planted);
    }

    /// Records what a reuse-race scenario did.
    pub fn race(&self, race: crate::report::ReuseRace) {
        self.ledger().report.race = Some(race);
    }

    /// Adds a forked child's report.
    pub fn add_child(&self, child: ProcessReport) {
        self.ledger().report.children.push(child);
    }

    /// Calls of `syscall` thread `tid` has made so far (0 for an unknown thread).
    pub fn calls(&self, tid: u32, syscall: Syscall) -> u64 {
        let ledger = self.ledger();
        ledger
            .report
            .threads
            .iter()
            .find(|t| t.tid == tid)
            .map_or(0, |t| t.calls_of(syscall))
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        // A panicking thread leaves counts that are still each exact: keep using them.
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn add_thread(&self, tid: u32, comm: String) -> ThreadIndex {
        let threads = &mut self.ledger().report.threads;
        threads.push(ThreadReport {
            tid,
            comm,
            ..ThreadReport::default()
        });
        threads.len() - 1
    }

    pub(crate) fn rename_thread(&self, thread: ThreadIndex, comm: String) {
        self.ledger().report.threads[thread].comm = comm;
    }

    /// Counts a call about to be made.
    pub(crate) fn count_call(&self, thread: ThreadIndex, syscall: Syscall) {
        self.ledger().count_call(thread, syscall);
    }

    /// Counts a wait about to be made, which stays unfinished until [`Books::end_wait`].
    pub(crate) fn begin_wait(&self, thread: ThreadIndex, syscall: Syscall, nfds_scanned: u64) {
        let mut ledger = self.ledger();
        ledger.count_call(thread, syscall);
        let t = &mut ledger.report.threads[thread];
        t.unfinished += 1;
        t.fds_scanned += nfds_scanned;
    }

    /// Records how a wait with a zero timeout (`polled`) or another one returned; for an epoll
    /// wait, `delivered` names the epoll instance and the fds of the returned events.
    pub(crate) fn end_wait(
        &self,
        thread: ThreadIndex,
        polled: bool,
        result: &io::Result<usize>,
        delivered: Option<(EpollIndex, &[i32])>,
    ) {
        let mut ledger = self.ledger();
        let t = &mut ledger.report.threads[thread];
        t.unfinished -= 1;
        match result {
            Ok(0) if polled => t.polls += 1,
            Ok(0) => t.timeouts += 1,
            Ok(n) => {
                t.ready += 1;
                t.events += *n as u64;
            }
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => t.interrupted += 1,
            Err(_) => t.errors += 1,
        }
        if let Some((epoll, fds)) = delivered {
            for &fd in fds {
                let entry = ledger.current_entry(epoll, fd).unwrap_or_else(|| {
                    panic!("epoll {epoll} returned fd {fd}, which it was never given")
                });
                entry.delivered += 1;
            }
        }
    }

    pub(crate) fn add_epoll(&self, epfd: i32) -> EpollIndex {
        let mut ledger = self.ledger();
        let pid = ledger.report.pid;
        let epolls = &mut ledger.report.epolls;
        epolls.push(EpollReport {
            pid,
            epfd,
            fds: Vec::new(),
        });
        epolls.len() - 1
    }

    /// Records an `epoll_ctl` call that returned (`ok` tells whether it succeeded).
    pub(crate) fn ctl(&self, epoll: EpollIndex, op: CtlOp, fd: i32, kind: FdKind, ok: bool) {
        let mut ledger = self.ledger();
        let entry = ledger.entry_or_new(epoll, fd, kind);
        match op {
            CtlOp::Add => entry.add += 1,
            CtlOp::Mod => entry.modify += 1,
            CtlOp::Del => entry.del += 1,
        }
        if !ok {
            entry.ctl_errors += 1;
        }
    }

    /// Records that `fd` was closed: its number now stands for nothing in any instance.
    pub(crate) fn closed(&self, fd: i32) {
        let mut ledger = self.ledger();
        let ended: Vec<_> = ledger
            .current
            .range((fd, 0)..=(fd, EpollIndex::MAX))
            .map(|(&key, _)| key)
            .collect();
        for key in ended {
            ledger.current.remove(&key);
        }
    }
}

impl Ledger {
    fn count_call(&mut self, thread: ThreadIndex, syscall: Syscall) {
        let calls = &mut self.report.threads[thread].calls;
        *calls.entry(syscall.name().to_owned()).or_default() += 1;
    }

    fn current_entry(&mut self, epoll: EpollIndex, fd: i32) -> Option<&mut FdReport> {
        let index = *self.current.get(&(fd, epoll))?;
        Some(&mut self.report.epolls[epoll].fds[index])
    }

    fn entry_or_new(&mut self, epoll: EpollIndex, fd: i32, kind: FdKind) -> &mut FdReport {
        let fds = &mut self.report.epolls[epoll].fds;
        let index = *self.current.entry((fd, epoll)).or_insert_with(|| {
            fds.push(FdReport {
                fd,
                kind,
                delivered: 0,
                add: 0,
                modify: 0,
                del: 0,
                ctl_errors: 0,
            });
            fds.len() - 1
        });
        &mut fds[index]
    }
}
