//! Thread incarnations: which task a record's thread id means, and what reconstruction keeps of
//! each thread between its records.
use rustc_hash::FxHashMap;

use super::event::{EpollRef, ThreadId, ThreadRef};

/// One thread incarnation.
pub(crate) struct ThreadState {
    pub(crate) id: ThreadId,
    /// `None` for a task created by a traced fork until a record of its own says which
    /// process it belongs to.
    pub(crate) pid: Option<u32>,
    pub(crate) exited: bool,
    /// Return time of the previous finished wait: the start of the current tick's work.
    pub(crate) last_exit: Option<u64>,
    /// The instance of the thread's last epoll wait: the next wait on the same epfd skips the
    /// process and instance lookups while no instance has come or gone.
    pub(crate) last_epoll: Option<LastEpoll>,
}

/// An epoll fd resolved to its instance, valid while the reconstruction's count of changes
/// to the processes' epoll fds is still `changes`.
#[derive(Clone, Copy)]
pub(crate) struct LastEpoll {
    pub(crate) epfd: i32,
    pub(crate) changes: u64,
    pub(crate) at: EpollRef,
}

/// Thread ids to incarnations.
#[derive(Default)]
pub(crate) struct Threads {
    by_tid: FxHashMap<u32, ThreadState>,
    next_id: u32,
}

/// What [`Threads::resolve`] found.
pub(crate) enum Resolved {
    /// A known thread of that process.
    Known,
    /// A fork child's first record of its own: it belongs to this process.
    ChildJoined,
    /// A new incarnation.
    Started,
}

impl Threads {
    pub(crate) fn get(&self, tid: u32) -> Option<&ThreadState> {
        self.by_tid.get(&tid)
    }

    pub(crate) fn get_mut(&mut self, tid: u32) -> Option<&mut ThreadState> {
        self.by_tid.get_mut(&tid)
    }

    /// Starts a new incarnation of `tid` (a new thread, or a reused id).
    pub(crate) fn start(&mut self, tid: u32, pid: Option<u32>) -> ThreadId {
        let id = ThreadId(self.next_id);
        self.next_id += 1;
        let state = ThreadState {
            id,
            pid,
            exited: false,
            last_exit: None,
            last_epoll: None,
        };
        self.by_tid.insert(tid, state);
        id
    }

    /// The incarnation of `tid` a record of process `pid` comes from, started if new.
    pub(crate) fn resolve(&mut self, pid: u32, tid: u32) -> (ThreadRef, Resolved) {
        let (id, resolved) = match self.by_tid.get_mut(&tid) {
            Some(t) if t.pid == Some(pid) => (t.id, Resolved::Known),
            Some(t) if t.pid.is_none() => {
                t.pid = Some(pid);
                (t.id, Resolved::ChildJoined)
            }
            // A new tid, or one reused by another process.
            _ => (self.start(tid, Some(pid)), Resolved::Started),
        };
        (ThreadRef { id, pid, tid }, resolved)
    }
}
