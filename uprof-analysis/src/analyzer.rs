//! Replays ordered records into per-thread, per-process and per-epoll state.
use rustc_hash::FxHashMap;
use uprof_common::{
    Close, Dup, EPOLLEXCLUSIVE, EPOLLIN, EpollCreate, EpollCtl, FdInfo, FdKind, Fork, Header,
    Interest, Ready, Record, SockReady, Socket, TaskComm, WAIT_ABANDONED, Wait, WaitEvents,
    WaitSyscall, Wake,
};

use crate::SessionInfo;
use crate::epoll::{EpollInstance, Registration};
use crate::process::Process;
use crate::reorder::{REORDER_WINDOW_NS, ReorderBuffer};
use crate::report::{self, Report};
use crate::thread::{Outcome, Thread};
use crate::wakeup::Origins;

/// Consumes records in any order within [`REORDER_WINDOW_NS`] and produces a [`Report`].
///
/// ```
/// use uprof_analysis::{Analyzer, SessionInfo};
/// let analyzer = Analyzer::new();
/// // analyzer.push(&record) for every record, then:
/// let report = analyzer.finish(&SessionInfo::default());
/// assert!(report.threads.is_empty());
/// ```
pub struct Analyzer {
    reorder: ReorderBuffer,
    state: State,
}

impl Analyzer {
    pub fn new() -> Self {
        Self {
            reorder: ReorderBuffer::new(REORDER_WINDOW_NS),
            state: State::default(),
        }
    }

    /// Adds one record. Records of different threads may arrive out of timestamp order by up
    /// to [`REORDER_WINDOW_NS`]; one thread's records must arrive in order.
    pub fn push(&mut self, rec: &Record) {
        let state = &mut self.state;
        self.reorder.push(rec, &mut |r| state.apply(r));
    }

    /// Processes the records still held back and builds the report.
    pub fn finish(mut self, info: &SessionInfo) -> Report {
        let state = &mut self.state;
        self.reorder.flush(&mut |r| state.apply(r));
        state.release_interrupted();
        state.settle_origins(u64::MAX);
        report::build(self.state, info, self.reorder.late())
    }
}

impl Default for Analyzer {
    fn default() -> Self {
        Self::new()
    }
}

/// Interest lists and sockets of a process when it forked: copied into the child if the child
/// turns out to be a process (fork shares the fd table's files, so the child waits on the same
/// interest).
struct ForkSnapshot {
    parent_pid: u32,
    fds: Inherited,
}

/// What a fork child inherits.
#[derive(Default)]
struct Inherited {
    /// `(epfd, [(fd, registration)])` for each non-empty interest list.
    interest: Vec<(i32, Vec<(i32, Registration)>)>,
    /// `(fd, inode number)` of known sockets.
    sockets: Vec<(i32, u64)>,
}

impl Inherited {
    fn is_empty(&self) -> bool {
        self.interest.is_empty() && self.sockets.is_empty()
    }
}

/// Everything learned from the records processed so far.
#[derive(Default)]
pub(crate) struct State {
    pub(crate) threads: FxHashMap<u32, Thread>,
    /// Threads whose tid was later reused by another task.
    pub(crate) retired: Vec<Thread>,
    pub(crate) processes: FxHashMap<u32, Process>,
    /// Every epoll instance seen, closed ones included.
    pub(crate) epolls: Vec<EpollInstance>,
    /// Fork children not seen yet, by tid.
    forks: FxHashMap<u32, ForkSnapshot>,
    /// Highest `Lost::total` seen.
    pub(crate) lost: u64,
    /// Returned events that followed no known epoll wait of their thread.
    pub(crate) unattributed_events: u64,
    /// Interrupted waits held until their thread's next kernel record, by tid.
    interrupted: FxHashMap<u32, Wait>,
    /// Readiness events and the waiters they woke.
    pub(crate) origins: Origins,
    /// Known sockets (socket tier): inode number -> the `(pid, fd)`s that refer to it.
    sockets: FxHashMap<u64, Vec<(u32, i32)>>,
    /// Per waker task: its latest readiness of a socket with `EPOLLEXCLUSIVE` registrations,
    /// until a wake-up credits it to one of them.
    exclusive_ready: FxHashMap<u32, ExclusiveReady>,
}

/// A socket readiness waiting to be credited to the exclusive registration it woke.
#[derive(Clone, Copy)]
struct ExclusiveReady {
    ino: u64,
    origin: u64,
    ts: u64,
}

impl State {
    fn apply(&mut self, rec: &Record) {
        // A thread killed while blocked (exit_group from another thread, a fatal signal)
        // leaves its wait with EINTR on the way out: if the thread's next record is its exit,
        // the wait never returned to the program, and is counted as unfinished.
        let h = rec.header();
        if h.cpu != u32::MAX
            && let Some(mut w) = self.interrupted.remove(&h.tid)
        {
            if matches!(rec, Record::Exit(_)) {
                w.flags |= WAIT_ABANDONED;
            }
            self.wait(&w);
        }
        match rec {
            Record::Wait(w) if Outcome::of(w) == Outcome::Interrupted => {
                self.interrupted.insert(w.header.tid, *w);
            }
            Record::Wait(w) => self.wait(w),
            Record::WaitEvents(e) => self.wait_events(e),
            Record::EpollCtl(c) => self.epoll_ctl(c),
            Record::EpollCreate(c) => self.epoll_create(c),
            Record::Close(c) => self.close(c),
            Record::Dup(d) => self.dup(d),
            Record::Fork(f) => self.fork(f),
            Record::Exec(t) | Record::Rename(t) | Record::TaskInfo(t) => self.name(t, false),
            Record::Exit(t) => self.name(t, true),
            Record::FdInfo(i) => self.fd_info(i),
            Record::Interest(i) => self.interest(i),
            Record::Lost(l) => self.lost = self.lost.max(l.total),
            Record::Ready(r) => self.ready(r),
            Record::SockReady(r) => self.sock_ready(r),
            Record::Socket(s) => self.socket(s),
            Record::Wake(w) => self.wake(w),
        }
    }

    /// Credits the herds among the readiness events older than the attribution window.
    fn settle_origins(&mut self, now: u64) {
        for tid in self.origins.settle(now) {
            if let Some(t) = self.threads.get_mut(&tid) {
                t.wake.herd += 1;
            }
        }
    }

    /// Counts the interrupted waits still held: their threads did not exit.
    fn release_interrupted(&mut self) {
        for (_, w) in std::mem::take(&mut self.interrupted) {
            self.wait(&w);
        }
    }

    /// The thread that produced a record, created as needed; a fork child learns its process.
    fn thread(&mut self, h: &Header) -> &mut Thread {
        match self.threads.get(&h.tid).map(|t| t.pid) {
            Some(Some(pid)) if pid == h.pid => {}
            Some(None) => self.resolve_child(h.tid, h.pid),
            // A new tid, or one reused by another process.
            _ => self.start_thread(Thread::new(h.tid, Some(h.pid))),
        }
        self.threads
            .get_mut(&h.tid)
            .expect("the thread was just found or inserted")
    }

    fn start_thread(&mut self, thread: Thread) {
        if let Some(old) = self.threads.insert(thread.tid, thread) {
            self.retired.push(old);
        }
    }

    /// A fork child's first record says it belongs to `pid`: a new process (`pid == tid`)
    /// inherits the interest lists its parent had at the fork.
    fn resolve_child(&mut self, tid: u32, pid: u32) {
        if let Some(t) = self.threads.get_mut(&tid) {
            t.pid = Some(pid);
        }
        if let Some(fork) = self.forks.remove(&tid)
            && pid == tid
            && fork.parent_pid != pid
        {
            self.inherit(pid, fork.fds);
        }
    }

    fn fork(&mut self, f: &Fork) {
        let parent_pid = f.header.pid;
        self.thread(&f.header);
        let child = f.child_tid;
        let comm = comm_string(&f.comm);
        let seen_pid = self
            .threads
            .get(&child)
            .filter(|t| !t.exited)
            .and_then(|t| t.pid);
        match seen_pid {
            // The child's own records were ordered before its parent's fork record.
            Some(pid) => {
                if let Some(t) = self.threads.get_mut(&child) {
                    t.comm.get_or_insert(comm);
                }
                if pid == child && child != parent_pid {
                    let fds = self.inheritance_of(parent_pid);
                    self.inherit(child, fds);
                }
            }
            None => {
                let mut thread = Thread::new(child, None);
                thread.comm = Some(comm);
                self.start_thread(thread);
                let fds = self.inheritance_of(parent_pid);
                if !fds.is_empty() {
                    self.forks.insert(child, ForkSnapshot { parent_pid, fds });
                }
            }
        }
    }

    /// Copies of a process's non-empty interest lists and known sockets.
    fn inheritance_of(&self, pid: u32) -> Inherited {
        let Some(process) = self.processes.get(&pid) else {
            return Inherited::default();
        };
        let interest = process
            .epolls
            .iter()
            .map(|(&epfd, &idx)| (epfd, &self.epolls[idx].interest))
            .filter(|(_, interest)| !interest.is_empty())
            .map(|(epfd, interest)| (epfd, interest.entries().collect()))
            .collect();
        let sockets = process
            .sockets
            .iter()
            .map(|(&fd, &ino)| (fd, ino))
            .collect();
        Inherited { interest, sockets }
    }

    fn inherit(&mut self, pid: u32, fds: Inherited) {
        for (fd, ino) in fds.sockets {
            self.learn_socket(pid, fd, ino);
        }
        for (epfd, entries) in fds.interest {
            let idx = self.epoll(pid, epfd);
            let process = &self.processes[&pid];
            let instance = &mut self.epolls[idx];
            for (fd, registration) in entries {
                let registration = Registration {
                    generation: process.generation(fd),
                    ..registration
                };
                instance.inherit_interest(fd, registration);
            }
        }
    }

    /// The open epoll instance `epfd` of `pid`, created if unknown (it predates tracing).
    fn epoll(&mut self, pid: u32, epfd: i32) -> usize {
        let process = self.processes.entry(pid).or_default();
        if let Some(&idx) = process.epolls.get(&epfd) {
            return idx;
        }
        let idx = self.epolls.len();
        self.epolls
            .push(EpollInstance::new(pid, epfd, process.generation(epfd)));
        process.epolls.insert(epfd, idx);
        idx
    }

    /// `fd` of `pid` stops referring to its file (closed, or replaced by dup2 or a new epoll).
    ///
    /// The fd leaves every interest list of the process. This is an approximation: the kernel
    /// removes an interest entry only when the last reference to the file goes, so a file still
    /// open under another fd (dup, or in a child process) keeps delivering events, which then
    /// show up unmapped.
    fn fd_replaced(&mut self, pid: u32, fd: i32) {
        let process = self.processes.entry(pid).or_default();
        // An epoll fd closed: that instance ends.
        process.epolls.remove(&fd);
        if let Some(ino) = process.sockets.remove(&fd)
            && let Some(refs) = self.sockets.get_mut(&ino)
        {
            refs.retain(|&r| r != (pid, fd));
            if refs.is_empty() {
                self.sockets.remove(&ino);
            }
        }
        for &idx in process.epolls.values() {
            self.epolls[idx].forget(fd);
        }
        process.next_generation(fd);
    }

    fn wait(&mut self, w: &Wait) {
        let epoll = match WaitSyscall::from_u8(w.syscall) {
            // A negative epfd (a failed call) names no instance.
            Some(s) if s.is_epoll() && w.epfd >= 0 => {
                let idx = self.epoll(w.header.pid, w.epfd);
                let instance = &mut self.epolls[idx];
                instance.listed = true;
                instance.waits += 1;
                Some(idx)
            }
            _ => None,
        };
        let thread = self.thread(&w.header);
        thread.last_epoll = epoll;
        thread.wait(w);
    }

    fn wait_events(&mut self, e: &WaitEvents) {
        let events = (0..usize::from(e.count)).map_while(|i| e.event(i));
        let Some(idx) = self.threads.get(&e.header.tid).and_then(|t| t.last_epoll) else {
            self.unattributed_events += events.count() as u64;
            return;
        };
        let instance = &mut self.epolls[idx];
        for (mask, data) in events {
            instance.deliver(mask, data, e.header.ts);
        }
    }

    fn epoll_ctl(&mut self, c: &EpollCtl) {
        let pid = c.header.pid;
        self.thread(&c.header).ctl_calls += 1;
        let idx = self.epoll(pid, c.epfd);
        let generation = self.processes[&pid].generation(c.fd);
        self.epolls[idx].ctl(c.op, c.fd, generation, c.data, c.events, c.ret);
    }

    fn epoll_create(&mut self, c: &EpollCreate) {
        self.thread(&c.header);
        if c.ret >= 0 {
            self.fd_replaced(c.header.pid, c.ret);
            let idx = self.epoll(c.header.pid, c.ret);
            self.epolls[idx].listed = true;
        }
    }

    fn close(&mut self, c: &Close) {
        self.thread(&c.header);
        if c.ret == 0 {
            self.fd_replaced(c.header.pid, c.fd);
        }
    }

    fn dup(&mut self, d: &Dup) {
        self.thread(&d.header);
        let pid = d.header.pid;
        if d.ret < 0 || d.oldfd == d.newfd {
            return;
        }
        let process = self.processes.entry(pid).or_default();
        let kind = process.kind(d.oldfd, process.generation(d.oldfd));
        self.fd_replaced(pid, d.newfd);
        if kind != FdKind::Unknown {
            self.processes
                .entry(pid)
                .or_default()
                .set_kind(d.newfd, kind);
        }
    }

    fn name(&mut self, t: &TaskComm, exited: bool) {
        let thread = self.thread(&t.header);
        thread.comm = Some(String::from_utf8_lossy(t.name()).into_owned());
        thread.exited |= exited;
    }

    fn fd_info(&mut self, i: &FdInfo) {
        let process = self.processes.entry(i.header.pid).or_default();
        process.set_kind(i.fd, FdKind::from_u32(i.kind));
    }

    /// A ready-list callback on an instance of `r.header.pid` (`header.tid` is whichever task
    /// the callback ran in: it names no traced thread, but it is the waker of what it wakes).
    fn ready(&mut self, r: &Ready) {
        let pid = r.header.pid;
        let idx = self.epoll(pid, r.epfd);
        let generation = self.processes[&pid].generation(r.fd);
        let origin = self
            .origins
            .of_callback(r.header.tid, r.origin, idx, r.header.ts);
        self.epolls[idx].ready(r.fd, generation, r.header.ts, r.header.tid, origin);
    }

    /// A watched socket received data: every traced registration of it listening for input
    /// becomes ready (`header` is the task it ran in). `EPOLLEXCLUSIVE` registrations are
    /// credited only when the readiness wakes one of their waiters (the kernel stops at the
    /// first exclusive entry whose instance has a waiter): see [`State::wake`].
    fn sock_ready(&mut self, r: &SockReady) {
        let Some(refs) = self.sockets.get(&r.ino) else {
            return;
        };
        let origin = self.origins.fresh();
        let mut exclusive = false;
        for &(pid, fd) in refs {
            let Some(process) = self.processes.get(&pid) else {
                continue;
            };
            for &idx in process.epolls.values() {
                let instance = &mut self.epolls[idx];
                match instance.listens(fd, EPOLLIN) {
                    Some(reg) if reg.events & EPOLLEXCLUSIVE != 0 => exclusive = true,
                    Some(reg) => {
                        instance.ready(fd, reg.generation, r.header.ts, r.header.tid, origin)
                    }
                    None => {}
                }
            }
        }
        if exclusive {
            let pending = ExclusiveReady {
                ino: r.ino,
                origin,
                ts: r.header.ts,
            };
            self.exclusive_ready.insert(r.header.tid, pending);
        }
    }

    /// The waiter on instance `idx` woken by `waker_tid` was woken by the readiness of an
    /// `EPOLLEXCLUSIVE` socket that task reported last, if the instance holds that socket:
    /// credit the readiness to it.
    fn credit_exclusive(&mut self, waker_tid: u32, pid: u32, idx: usize, enter_ts: u64) {
        let Some(pending) = self.exclusive_ready.get(&waker_tid).copied() else {
            return;
        };
        if pending.ts < enter_ts {
            return;
        }
        let Some(process) = self.processes.get(&pid) else {
            return;
        };
        let instance = &mut self.epolls[idx];
        let socket_fd = process.sockets.iter().find_map(|(&fd, &ino)| {
            (ino == pending.ino)
                .then(|| instance.listens(fd, EPOLLIN).map(|reg| (fd, reg)))
                .flatten()
        });
        if let Some((fd, reg)) = socket_fd
            && reg.events & EPOLLEXCLUSIVE != 0
        {
            instance.ready(fd, reg.generation, pending.ts, waker_tid, pending.origin);
            self.exclusive_ready.remove(&waker_tid);
        }
    }

    fn socket(&mut self, s: &Socket) {
        self.learn_socket(s.header.pid, s.fd, s.ino);
    }

    fn learn_socket(&mut self, pid: u32, fd: i32, ino: u64) {
        let process = self.processes.entry(pid).or_default();
        process.set_kind(fd, FdKind::Socket);
        if let Some(old) = process.sockets.insert(fd, ino)
            && let Some(refs) = self.sockets.get_mut(&old)
        {
            refs.retain(|&r| r != (pid, fd));
        }
        let refs = self.sockets.entry(ino).or_default();
        if !refs.contains(&(pid, fd)) {
            refs.push((pid, fd));
        }
    }

    /// A traced thread blocked in a wait was woken: by which readiness, if one was reported.
    fn wake(&mut self, w: &Wake) {
        let ts = w.header.ts;
        let epoll = WaitSyscall::from_u8(w.syscall).is_some_and(|s| s.is_epoll()) && w.epfd >= 0;
        let cause = if epoll {
            let idx = self.epoll(w.header.pid, w.epfd);
            self.credit_exclusive(w.waker_tid, w.header.pid, idx, w.enter_ts);
            let cause = self.epolls[idx].wake_cause(w.waker_tid, w.enter_ts, ts);
            if cause.is_some_and(|m| self.epolls[idx].is_exclusive(m.slot)) {
                self.origins.end_walk(w.waker_tid);
            }
            cause
        } else {
            None
        };
        if let Some(mark) = cause {
            self.origins.woke(mark.origin, w.header.tid, ts);
        }
        self.thread(&w.header).wake.woken(cause.is_some());
        self.settle_origins(ts);
    }

    fn interest(&mut self, i: &Interest) {
        let pid = i.header.pid;
        let idx = self.epoll(pid, i.epfd);
        let generation = self.processes[&pid].generation(i.fd);
        let registration = Registration::new(generation, i.data, i.events);
        self.epolls[idx].snapshot_interest(i.fd, registration);
    }
}

/// A `comm` field up to its first NUL.
fn comm_string(comm: &[u8]) -> String {
    let end = comm.iter().position(|&b| b == 0).unwrap_or(comm.len());
    String::from_utf8_lossy(&comm[..end]).into_owned()
}
