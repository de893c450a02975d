//! Replays ordered records into events: follows processes' fd tables and epoll interest lists,
//! pairs waits with the events they returned, and attributes wake-ups and herds.
use rustc_hash::FxHashMap;
use uprof_common::{
    Close, Dup, EINTR, EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD, EPOLLEXCLUSIVE, EPOLLIN,
    EpollCreate, EpollCtl, FdInfo, FdKind, Fork, Header, Interest, Ready as ReadyRecord, Record,
    SockReady, TaskComm, WAIT_ABANDONED, WAIT_UNFINISHED, WAIT_WOKEN, Wait as WaitRecord,
    WaitEvents, WaitSyscall, Wake as WakeRecord,
};

use super::Consumer;
use super::event::*;
use super::fds::Process;
use super::interest::{EntryIds, Instance, Registration};
use super::threads::{LastEpoll, Resolved, ThreadState, Threads};
use super::wakeup::Origins;

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

/// A socket readiness waiting to be credited to the exclusive registration it woke.
#[derive(Clone, Copy)]
struct ExclusiveReady {
    ino: u64,
    origin: OriginId,
    ts: u64,
}

/// A wait whose returned events are still arriving (`WaitEvents` records follow their `Wait`
/// with the same timestamp).
struct OpenWait {
    wait: Wait<'static>,
    /// Events the kernel side captured: the wait is complete when all have arrived.
    captured: usize,
    delivered: Vec<Delivery>,
}

/// Everything reconstruction keeps between records.
#[derive(Default)]
pub(crate) struct State {
    threads: Threads,
    /// Interrupted waits, held until their thread's next kernel record says whether the thread
    /// went on (a signal) or died (the wait was abandoned), by tid.
    interrupted: FxHashMap<u32, WaitRecord>,
    processes: FxHashMap<u32, Process>,
    /// Every epoll instance seen, by [`EpollId`].
    epolls: Vec<Instance>,
    /// Changes to the processes' epoll fds (an instance created, or its fd closed or
    /// replaced): what a thread's [`LastEpoll`] is valid for.
    epoll_changes: u64,
    entry_ids: EntryIds,
    /// Fork children not seen yet, by tid.
    forks: FxHashMap<u32, ForkSnapshot>,
    origins: Origins,
    /// Known sockets (socket tier): inode number -> the `(pid, fd)`s that refer to it.
    sockets: FxHashMap<u64, Vec<(u32, i32)>>,
    /// Per waker task: its latest readiness of a socket with `EPOLLEXCLUSIVE` registrations,
    /// until a wake-up credits it to one of them.
    exclusive_ready: FxHashMap<u32, ExclusiveReady>,
    open: Vec<OpenWait>,
    /// Delivery buffers of closed waits, kept for their allocations.
    spare: Vec<Vec<Delivery>>,
    last_ts: u64,
    unattributed_events: u64,
    malformed: u64,
}

impl State {
    pub(crate) fn apply(&mut self, rec: &Record, out: &mut (impl Consumer + ?Sized)) {
        let h = *rec.header();
        self.last_ts = self.last_ts.max(h.ts);
        self.origins
            .settle(h.ts, |herd| out.event(&Event::Herd(herd)));
        if !self.open.is_empty() {
            let own_events = matches!(rec, Record::WaitEvents(_));
            self.close_waits(
                |w| w.exit_ts < h.ts || (w.thread.tid == h.tid && !own_events),
                out,
            );
        }
        // A thread killed while blocked (exit_group from another thread, a fatal signal)
        // leaves its wait with EINTR on the way out: if the thread's next record is its exit,
        // the wait never returned to the program.
        if h.cpu != u32::MAX
            && !self.interrupted.is_empty()
            && let Some(mut w) = self.interrupted.remove(&h.tid)
        {
            if matches!(rec, Record::Exit(_)) {
                w.flags |= WAIT_ABANDONED;
            }
            self.wait(&w, out);
        }
        match rec {
            Record::Wait(w) if outcome(w) == Outcome::Interrupted => {
                self.interrupted.insert(w.header.tid, *w);
            }
            Record::Wait(w) => self.wait(w, out),
            Record::WaitEvents(e) => self.wait_events(e, out),
            Record::EpollCtl(c) => self.epoll_ctl(c, out),
            Record::EpollCreate(c) => self.epoll_create(c, out),
            Record::Close(c) => self.close(c, out),
            Record::Dup(d) => self.dup(d, out),
            Record::Fork(f) => self.fork(f, out),
            Record::Exec(t) => self.name(t, Naming::Exec, out),
            Record::Rename(t) => self.name(t, Naming::Rename, out),
            Record::TaskInfo(t) => self.name(t, Naming::Snapshot, out),
            Record::Exit(t) => self.exit(t, out),
            Record::FdInfo(i) => self.fd_info(i, out),
            Record::Interest(i) => self.interest(i, out),
            Record::Lost(l) => out.event(&Event::Lost(&Lost {
                ts: h.ts,
                total: l.total,
            })),
            Record::Ready(r) => self.ready(r, out),
            Record::SockReady(r) => self.sock_ready(r, out),
            Record::Socket(s) => self.learn_socket(s.header.pid, s.fd, s.ino, h.ts, out),
            Record::Wake(w) => self.wake(w, out),
        }
    }

    /// No record older than `horizon` is still to come: closes the waits and herds that
    /// settles.
    pub(crate) fn advance(&mut self, horizon: u64, out: &mut (impl Consumer + ?Sized)) {
        if !self.open.is_empty() {
            self.close_waits(|w| w.exit_ts < horizon, out);
        }
        self.origins
            .settle(horizon, |herd| out.event(&Event::Herd(herd)));
    }

    /// The end of the records: everything still held is passed on.
    pub(crate) fn finish(&mut self, late_records: u64, out: &mut (impl Consumer + ?Sized)) {
        self.close_waits(|_| true, out);
        let mut interrupted: Vec<WaitRecord> = self.interrupted.drain().map(|(_, w)| w).collect();
        interrupted.sort_by_key(|w| (w.header.ts, w.header.tid));
        for w in interrupted {
            self.wait(&w, out);
        }
        self.origins
            .settle(u64::MAX, |herd| out.event(&Event::Herd(herd)));
        out.event(&Event::End(&End {
            ts: self.last_ts,
            late_records,
            unattributed_events: self.unattributed_events,
            malformed_records: self.malformed,
        }));
    }

    /// The thread that produced a record, started as needed; a fork child learns its process.
    fn thread(&mut self, h: &Header, out: &mut (impl Consumer + ?Sized)) -> ThreadRef {
        let (thread, resolved) = self.threads.resolve(h.pid, h.tid);
        match resolved {
            Resolved::ChildJoined => {
                if let Some(fork) = self.forks.remove(&h.tid)
                    && h.pid == h.tid
                    && fork.parent_pid != h.pid
                {
                    self.inherit(h.pid, fork.fds, h.ts, out);
                }
            }
            // A reused tid: the fork snapshot taken for its previous task is stale.
            Resolved::Started => {
                self.forks.remove(&h.tid);
            }
            Resolved::Known => {}
        }
        thread
    }

    fn fork(&mut self, f: &Fork, out: &mut (impl Consumer + ?Sized)) {
        let parent_pid = f.header.pid;
        let parent = self.thread(&f.header, out);
        let child_tid = f.child_tid;
        let comm = comm_str(&f.comm);
        let seen = self
            .threads
            .get(child_tid)
            .filter(|t| !t.exited)
            .and_then(|t| t.pid.map(|pid| (t.id, pid)));
        let child = match seen {
            // The child's own records were ordered before its parent's fork record.
            Some((id, pid)) => {
                if pid == child_tid && child_tid != parent_pid {
                    let fds = self.inheritance_of(parent_pid);
                    self.inherit(child_tid, fds, f.header.ts, out);
                }
                id
            }
            None => {
                let id = self.threads.start(child_tid, None);
                let fds = self.inheritance_of(parent_pid);
                if !fds.is_empty() {
                    self.forks
                        .insert(child_tid, ForkSnapshot { parent_pid, fds });
                }
                id
            }
        };
        let what = ThreadChange::Forked {
            parent,
            child,
            child_tid,
            comm: &comm,
        };
        out.event(&Event::Thread(&ThreadEvent {
            ts: f.header.ts,
            what,
        }));
    }

    /// Copies of a process's non-empty interest lists and known sockets.
    fn inheritance_of(&self, pid: u32) -> Inherited {
        let Some(process) = self.processes.get(&pid) else {
            return Inherited::default();
        };
        let interest = process
            .epolls
            .iter()
            .map(|(&epfd, &id)| (epfd, &self.epolls[id.0 as usize]))
            .filter(|(_, instance)| instance.has_interest())
            .map(|(epfd, instance)| (epfd, instance.registrations().collect()))
            .collect();
        let sockets = process
            .sockets
            .iter()
            .map(|(&fd, &ino)| (fd, ino))
            .collect();
        Inherited { interest, sockets }
    }

    fn inherit(&mut self, pid: u32, fds: Inherited, ts: u64, out: &mut (impl Consumer + ?Sized)) {
        for (fd, ino) in fds.sockets {
            self.learn_socket(pid, fd, ino, ts, out);
        }
        for (epfd, entries) in fds.interest {
            let id = self.epoll(pid, epfd);
            let process = &self.processes[&pid];
            let instance = &mut self.epolls[id.0 as usize];
            for (fd, registration) in entries {
                let registration = Registration {
                    generation: process.generation(fd),
                    ..registration
                };
                instance.register(fd, registration);
            }
        }
    }

    /// The open epoll instance `epfd` of `pid`, created if unknown (it predates tracing).
    fn epoll(&mut self, pid: u32, epfd: i32) -> EpollId {
        let process = self.processes.entry(pid).or_default();
        if let Some(&id) = process.epolls.get(&epfd) {
            return id;
        }
        let id = EpollId(self.epolls.len() as u32);
        self.epolls
            .push(Instance::new(id, pid, epfd, process.generation(epfd)));
        process.epolls.insert(epfd, id);
        self.epoll_changes += 1;
        id
    }

    fn instance(&mut self, id: EpollId) -> &mut Instance {
        &mut self.epolls[id.0 as usize]
    }

    /// `fd` of `pid` stops referring to its file (closed, or replaced by dup2 or a new epoll).
    ///
    /// The fd leaves every interest list of the process. This is an approximation: the kernel
    /// removes an interest entry only when the last reference to the file goes, so a file still
    /// open under another fd (dup, or in a child process) keeps delivering events, which then
    /// show up unmapped.
    fn fd_replaced(
        &mut self,
        pid: u32,
        fd: i32,
        ts: u64,
        how: FdEnd,
        out: &mut (impl Consumer + ?Sized),
    ) {
        let process = self.processes.entry(pid).or_default();
        // An epoll fd closed: that instance ends.
        if process.epolls.remove(&fd).is_some() {
            self.epoll_changes += 1;
        }
        if let Some(ino) = process.sockets.remove(&fd)
            && let Some(refs) = self.sockets.get_mut(&ino)
        {
            refs.retain(|&r| r != (pid, fd));
            if refs.is_empty() {
                self.sockets.remove(&ino);
            }
        }
        let generation = process.next_generation(fd);
        for &id in process.epolls.values() {
            let instance = &mut self.epolls[id.0 as usize];
            if let Some((entry, ready_ts)) = instance.forget(fd) {
                out.event(&Event::Undelivered(&Undelivered {
                    ts,
                    entry,
                    ready_ts,
                }));
            }
            instance.retire(fd, generation);
        }
        out.event(&Event::FdEnded(&FdEnded {
            ts,
            pid,
            fd,
            generation,
            how,
        }));
    }

    fn wait(&mut self, w: &WaitRecord, out: &mut (impl Consumer + ?Sized)) {
        let Some(syscall) = WaitSyscall::from_u8(w.syscall) else {
            self.malformed += 1;
            return;
        };
        let on_epoll = syscall.is_epoll() && w.epfd >= 0;
        let outcome = outcome(w);
        let exit_ts = w.header.ts;
        let changes = self.epoll_changes;
        // Most waits: a thread already known in this process, on the instance of its previous
        // wait, no instance having come or gone since. One lookup.
        let known = self
            .threads
            .get_mut(w.header.tid)
            .filter(|t| t.pid == Some(w.header.pid))
            .and_then(|t| {
                let epoll = match t.last_epoll {
                    _ if !on_epoll => None,
                    Some(last) if last.epfd == w.epfd && last.changes == changes => Some(last.at),
                    _ => return None,
                };
                let thread = ThreadRef {
                    id: t.id,
                    pid: w.header.pid,
                    tid: w.header.tid,
                };
                Some((thread, epoll, tick(t, outcome, w.enter_ts, exit_ts)))
            });
        let (thread, epoll, busy_before_ns) = match known {
            Some(known) => known,
            None => {
                let epoll = on_epoll.then(|| {
                    let id = self.epoll(w.header.pid, w.epfd);
                    self.epolls[id.0 as usize].at
                });
                let thread = self.thread(&w.header, out);
                let changes = self.epoll_changes;
                let state = self
                    .threads
                    .get_mut(w.header.tid)
                    .expect("the thread was just resolved");
                if let Some(at) = epoll {
                    state.last_epoll = Some(LastEpoll {
                        epfd: w.epfd,
                        changes,
                        at,
                    });
                }
                (thread, epoll, tick(state, outcome, w.enter_ts, exit_ts))
            }
        };
        let wait = Wait {
            thread,
            syscall,
            epoll,
            enter_ts: w.enter_ts,
            exit_ts,
            timeout: match w.timeout_ns {
                0 => Timeout::Zero,
                ns if ns < 0 => Timeout::Infinite,
                ns => Timeout::After(ns as u64),
            },
            outcome,
            nfds: w.nfds,
            busy_before_ns,
            run_delay_ns: (w.flags & WAIT_WOKEN != 0).then_some(u64::from(w.run_delay_ns)),
            delivered: &[],
        };
        let captured = usize::from(w.captured);
        if captured > 0 && epoll.is_some() && matches!(outcome, Outcome::Ready { .. }) {
            let delivered = self.spare.pop().unwrap_or_default();
            self.open.push(OpenWait {
                wait,
                captured,
                delivered,
            });
        } else {
            out.event(&Event::Wait(&wait));
        }
    }

    /// Passes on the open waits `done` selects, in the order they were opened.
    fn close_waits(&mut self, done: impl Fn(&Wait) -> bool, out: &mut (impl Consumer + ?Sized)) {
        let mut i = 0;
        while i < self.open.len() {
            if done(&self.open[i].wait) {
                let mut open = self.open.remove(i);
                let wait = Wait {
                    delivered: &open.delivered,
                    ..open.wait
                };
                out.event(&Event::Wait(&wait));
                open.delivered.clear();
                self.spare.push(open.delivered);
            } else {
                i += 1;
            }
        }
    }

    fn wait_events(&mut self, e: &WaitEvents, out: &mut (impl Consumer + ?Sized)) {
        let events = (0..usize::from(e.count)).map_while(|i| e.event(i));
        let Some(i) = self
            .open
            .iter()
            .position(|o| o.wait.thread.tid == e.header.tid)
        else {
            self.unattributed_events += events.count() as u64;
            return;
        };
        let open = &mut self.open[i];
        let epoll = open.wait.epoll.expect("only epoll waits are open").id;
        let instance = &mut self.epolls[epoll.0 as usize];
        for (mask, data) in events {
            let mapped = instance.deliver(data, &mut self.entry_ids);
            open.delivered.push(Delivery {
                entry: mapped.entry,
                mask,
                data,
                ready_ts: mapped.ready_ts,
            });
        }
        if open.delivered.len() >= open.captured {
            let tid = e.header.tid;
            self.close_waits(|w| w.thread.tid == tid, out);
        }
    }

    fn epoll_ctl(&mut self, c: &EpollCtl, out: &mut (impl Consumer + ?Sized)) {
        let pid = c.header.pid;
        let thread = self.thread(&c.header, out);
        let id = self.epoll(pid, c.epfd);
        let generation = self.processes[&pid].generation(c.fd);
        let instance = &mut self.epolls[id.0 as usize];
        let entry = instance.entry(
            EntryKey::Fd {
                fd: c.fd,
                generation,
            },
            &mut self.entry_ids,
        );
        let result = if c.ret < 0 {
            Err(c.ret.saturating_neg())
        } else {
            Ok(())
        };
        out.event(&Event::Ctl(&Ctl {
            ts: c.header.ts,
            enter_ts: c.enter_ts,
            thread,
            epoll: instance.at,
            entry,
            op: CtlOp::from_raw(c.op),
            events: c.events,
            data: c.data,
            result,
        }));
        if result.is_err() {
            return;
        }
        match c.op {
            EPOLL_CTL_ADD | EPOLL_CTL_MOD => {
                instance.register(c.fd, Registration::new(generation, c.data, c.events));
            }
            EPOLL_CTL_DEL => {
                if let Some((entry, ready_ts)) = instance.forget(c.fd) {
                    out.event(&Event::Undelivered(&Undelivered {
                        ts: c.header.ts,
                        entry,
                        ready_ts,
                    }));
                }
            }
            _ => {}
        }
    }

    fn epoll_create(&mut self, c: &EpollCreate, out: &mut (impl Consumer + ?Sized)) {
        let thread = self.thread(&c.header, out);
        if c.ret >= 0 {
            let pid = c.header.pid;
            self.fd_replaced(pid, c.ret, c.header.ts, FdEnd::ReusedByEpoll, out);
            let id = self.epoll(pid, c.ret);
            let epoll = self.instance(id).at;
            out.event(&Event::EpollCreated(&EpollCreated {
                ts: c.header.ts,
                thread,
                epoll,
            }));
        }
    }

    fn close(&mut self, c: &Close, out: &mut (impl Consumer + ?Sized)) {
        self.thread(&c.header, out);
        if c.ret == 0 {
            self.fd_replaced(c.header.pid, c.fd, c.header.ts, FdEnd::Closed, out);
        }
    }

    fn dup(&mut self, d: &Dup, out: &mut (impl Consumer + ?Sized)) {
        self.thread(&d.header, out);
        let pid = d.header.pid;
        if d.ret < 0 || d.oldfd == d.newfd {
            return;
        }
        let kind = self.processes.entry(pid).or_default().kind(d.oldfd);
        self.fd_replaced(pid, d.newfd, d.header.ts, FdEnd::Replaced, out);
        if kind != FdKind::Unknown {
            self.learn_kind(pid, d.newfd, kind, d.header.ts, out);
        }
    }

    fn name(&mut self, t: &TaskComm, how: Naming, out: &mut (impl Consumer + ?Sized)) {
        let thread = self.thread(&t.header, out);
        let comm = String::from_utf8_lossy(t.name());
        out.event(&Event::Thread(&ThreadEvent {
            ts: t.header.ts,
            what: ThreadChange::Named {
                thread,
                comm: &comm,
                how,
            },
        }));
    }

    fn exit(&mut self, t: &TaskComm, out: &mut (impl Consumer + ?Sized)) {
        let thread = self.thread(&t.header, out);
        if let Some(state) = self.threads.get_mut(t.header.tid) {
            state.exited = true;
        }
        let comm = String::from_utf8_lossy(t.name());
        out.event(&Event::Thread(&ThreadEvent {
            ts: t.header.ts,
            what: ThreadChange::Exited {
                thread,
                comm: &comm,
            },
        }));
    }

    fn fd_info(&mut self, i: &FdInfo, out: &mut (impl Consumer + ?Sized)) {
        self.learn_kind(
            i.header.pid,
            i.fd,
            FdKind::from_u32(i.kind),
            i.header.ts,
            out,
        );
    }

    fn learn_kind(
        &mut self,
        pid: u32,
        fd: i32,
        kind: FdKind,
        ts: u64,
        out: &mut (impl Consumer + ?Sized),
    ) {
        let process = self.processes.entry(pid).or_default();
        process.set_kind(fd, kind);
        out.event(&Event::FdKind(&FdKindLearned {
            ts,
            pid,
            fd,
            generation: process.generation(fd),
            kind,
        }));
    }

    /// A ready-list callback on an instance of `r.header.pid` (`header.tid` is whichever task
    /// the callback ran in: it names no traced thread, but it is the waker of what it wakes).
    fn ready(&mut self, r: &ReadyRecord, out: &mut (impl Consumer + ?Sized)) {
        let (pid, ts, waker_tid) = (r.header.pid, r.header.ts, r.header.tid);
        let id = self.epoll(pid, r.epfd);
        let generation = self.processes[&pid].generation(r.fd);
        let origin = self.origins.of_callback(waker_tid, r.origin, id, ts);
        let instance = &mut self.epolls[id.0 as usize];
        let (entry, coalesced) =
            instance.ready(r.fd, generation, ts, waker_tid, origin, &mut self.entry_ids);
        out.event(&Event::Ready(&Ready {
            ts,
            epoll: instance.at,
            entry,
            source: ReadySource::Callback,
            waker_tid,
            origin,
            coalesced,
        }));
    }

    /// A watched socket received data: every traced registration of it listening for input
    /// becomes ready (`header` is the task it ran in). `EPOLLEXCLUSIVE` registrations are
    /// credited only when the readiness wakes one of their waiters (the kernel stops at the
    /// first exclusive entry whose instance has a waiter): see [`State::credit_exclusive`].
    fn sock_ready(&mut self, r: &SockReady, out: &mut (impl Consumer + ?Sized)) {
        let Some(refs) = self.sockets.get(&r.ino) else {
            return;
        };
        let (ts, waker_tid) = (r.header.ts, r.header.tid);
        let origin = self.origins.fresh();
        let mut exclusive = false;
        for &(pid, fd) in refs {
            let Some(process) = self.processes.get(&pid) else {
                continue;
            };
            for &id in process.epolls.values() {
                let instance = &mut self.epolls[id.0 as usize];
                match instance.listens(fd, EPOLLIN) {
                    Some(reg) if reg.events & EPOLLEXCLUSIVE != 0 => exclusive = true,
                    Some(reg) => {
                        let (entry, coalesced) = instance.ready(
                            fd,
                            reg.generation,
                            ts,
                            waker_tid,
                            origin,
                            &mut self.entry_ids,
                        );
                        out.event(&Event::Ready(&Ready {
                            ts,
                            epoll: instance.at,
                            entry,
                            source: ReadySource::Socket,
                            waker_tid,
                            origin,
                            coalesced,
                        }));
                    }
                    None => {}
                }
            }
        }
        if exclusive {
            let pending = ExclusiveReady {
                ino: r.ino,
                origin,
                ts,
            };
            self.exclusive_ready.insert(waker_tid, pending);
        }
    }

    /// The waiter on instance `id` woken by `waker_tid` was woken by the readiness of an
    /// `EPOLLEXCLUSIVE` socket that task reported last, if the instance holds that socket:
    /// credit the readiness to it.
    fn credit_exclusive(
        &mut self,
        waker_tid: u32,
        pid: u32,
        id: EpollId,
        enter_ts: u64,
        out: &mut (impl Consumer + ?Sized),
    ) {
        let Some(pending) = self.exclusive_ready.get(&waker_tid).copied() else {
            return;
        };
        if pending.ts < enter_ts {
            return;
        }
        let Some(process) = self.processes.get(&pid) else {
            return;
        };
        let instance = &mut self.epolls[id.0 as usize];
        let socket_fd = process.sockets.iter().find_map(|(&fd, &ino)| {
            (ino == pending.ino)
                .then(|| instance.listens(fd, EPOLLIN).map(|reg| (fd, reg)))
                .flatten()
        });
        if let Some((fd, reg)) = socket_fd
            && reg.events & EPOLLEXCLUSIVE != 0
        {
            let (entry, coalesced) = instance.ready(
                fd,
                reg.generation,
                pending.ts,
                waker_tid,
                pending.origin,
                &mut self.entry_ids,
            );
            out.event(&Event::Ready(&Ready {
                ts: pending.ts,
                epoll: instance.at,
                entry,
                source: ReadySource::Socket,
                waker_tid,
                origin: pending.origin,
                coalesced,
            }));
            self.exclusive_ready.remove(&waker_tid);
        }
    }

    fn learn_socket(
        &mut self,
        pid: u32,
        fd: i32,
        ino: u64,
        ts: u64,
        out: &mut (impl Consumer + ?Sized),
    ) {
        // A listener stays one: the socket tier only learns that the fd is a socket.
        if !self.processes.entry(pid).or_default().kind(fd).is_socket() {
            self.learn_kind(pid, fd, FdKind::Socket, ts, out);
        }
        let process = self.processes.entry(pid).or_default();
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
    fn wake(&mut self, w: &WakeRecord, out: &mut (impl Consumer + ?Sized)) {
        let ts = w.header.ts;
        let syscall = WaitSyscall::from_u8(w.syscall);
        let on_epoll = syscall.is_some_and(|s| s.is_epoll()) && w.epfd >= 0;
        let (epoll, mark) = if on_epoll {
            let id = self.epoll(w.header.pid, w.epfd);
            self.credit_exclusive(w.waker_tid, w.header.pid, id, w.enter_ts, out);
            let instance = &mut self.epolls[id.0 as usize];
            let mark = instance.wake_cause(w.waker_tid, w.enter_ts, ts);
            if mark.is_some_and(|m| instance.is_exclusive(m.entry.key)) {
                self.origins.end_walk(w.waker_tid);
            }
            (Some(self.epolls[id.0 as usize].at), mark)
        } else {
            (None, None)
        };
        let thread = self.thread(&w.header, out);
        if let Some(mark) = mark {
            self.origins.woke(mark.origin, thread, mark.entry, ts);
        }
        out.event(&Event::Wake(&Wake {
            ts,
            thread,
            waker_pid: w.waker_pid,
            waker_tid: w.waker_tid,
            wait_enter_ts: w.enter_ts,
            syscall,
            epoll,
            cause: mark.map(|m| WakeCause {
                entry: m.entry,
                origin: m.origin,
                ready_ts: m.ts,
            }),
        }));
    }

    fn interest(&mut self, i: &Interest, out: &mut (impl Consumer + ?Sized)) {
        let pid = i.header.pid;
        let id = self.epoll(pid, i.epfd);
        let generation = self.processes[&pid].generation(i.fd);
        let instance = &mut self.epolls[id.0 as usize];
        let entry = instance.entry(
            EntryKey::Fd {
                fd: i.fd,
                generation,
            },
            &mut self.entry_ids,
        );
        instance.register(i.fd, Registration::new(generation, i.data, i.events));
        out.event(&Event::InterestSnapshot(&InterestSnapshot {
            ts: i.header.ts,
            epoll: instance.at,
            entry,
            events: i.events,
            data: i.data,
        }));
    }
}

/// The work before a wait of `thread` that entered at `enter_ts` and ended at `exit_ts` with
/// `outcome` (the tick since its previous finished wait), and the start of the next tick.
fn tick(thread: &mut ThreadState, outcome: Outcome, enter_ts: u64, exit_ts: u64) -> Option<u64> {
    if outcome.finished() {
        let busy = thread.last_exit.map(|prev| enter_ts.saturating_sub(prev));
        thread.last_exit = Some(exit_ts);
        busy
    } else {
        thread.last_exit = None;
        None
    }
}

/// How a wait record ended.
fn outcome(w: &WaitRecord) -> Outcome {
    if w.flags & WAIT_ABANDONED != 0 {
        Outcome::Abandoned
    } else if w.flags & WAIT_UNFINISHED != 0 {
        Outcome::Unfinished
    } else if w.ret > 0 {
        Outcome::Ready {
            count: w.ret as u64,
        }
    } else if w.ret == 0 {
        Outcome::Timeout
    } else if w.ret == -EINTR {
        Outcome::Interrupted
    } else {
        Outcome::Error {
            errno: w.ret.saturating_neg(),
        }
    }
}

/// A `comm` field up to its first NUL.
fn comm_str(comm: &[u8]) -> std::borrow::Cow<'_, str> {
    let end = comm.iter().position(|&b| b == 0).unwrap_or(comm.len());
    String::from_utf8_lossy(&comm[..end])
}
