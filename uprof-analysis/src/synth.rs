//! Builders of synthetic records, for tests and benchmarks of code that consumes records.
//!
//! ```
//! use uprof_analysis::synth::Task;
//! let t = Task::new(100, 101);
//! let wait = t.epoll_wait(1_000, 5_000, 3, 1); // entered at 1 µs, returned 1 event at 5 µs
//! assert_eq!(wait.header().tid, 101);
//! ```
use uprof_common::{
    COMM_LEN, Close, Dup, EPOLL_EVENT_SIZE, EVENTS_PER_CHUNK, EpollCreate, EpollCtl, FdInfo,
    FdKind, Fork, Header, Interest, Lost, Ready, Record, RecordBody, SockReady, Socket,
    TIMEOUT_INFINITE, TaskComm, Wait, WaitEvents, WaitSyscall, Wake,
};

/// A thread (`tid`) of a process (`pid`) that produces records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Task {
    pub pid: u32,
    pub tid: u32,
}

impl Task {
    pub fn new(pid: u32, tid: u32) -> Self {
        Self { pid, tid }
    }

    pub fn header<R: RecordBody>(&self, ts: u64) -> Header {
        Header {
            cpu: 0,
            ..Header::user::<R>(ts, self.pid, self.tid)
        }
    }

    /// A wait of any syscall entered at `enter_ts` and returned `ret` at `exit_ts`
    /// (`epfd` is ignored by the poll family, which gets `nfds` instead).
    pub fn wait(
        &self,
        syscall: WaitSyscall,
        enter_ts: u64,
        exit_ts: u64,
        epfd: i32,
        nfds: u32,
        ret: i64,
    ) -> Wait {
        Wait {
            header: self.header::<Wait>(exit_ts),
            enter_ts,
            timeout_ns: TIMEOUT_INFINITE,
            ret,
            epfd: if syscall.is_epoll() { epfd } else { -1 },
            nfds,
            syscall: syscall as u8,
            flags: 0,
            captured: if syscall.is_epoll() && ret > 0 {
                ret as u16
            } else {
                0
            },
            run_delay_ns: 0,
        }
    }

    /// `epoll_wait(epfd, .., maxevents 64, ..)` entered at `enter_ts`, returned `ret` at `exit_ts`.
    pub fn epoll_wait(&self, enter_ts: u64, exit_ts: u64, epfd: i32, ret: i64) -> Record {
        Record::Wait(self.wait(WaitSyscall::EpollWait, enter_ts, exit_ts, epfd, 64, ret))
    }

    /// `poll` over `nfds` fds entered at `enter_ts`, returned `ret` at `exit_ts`.
    pub fn poll(&self, enter_ts: u64, exit_ts: u64, nfds: u32, ret: i64) -> Record {
        Record::Wait(self.wait(WaitSyscall::Poll, enter_ts, exit_ts, -1, nfds, ret))
    }

    /// The `WaitEvents` records carrying `events` (`(mask, data)` pairs) of a wait that
    /// returned at `ts`, [`EVENTS_PER_CHUNK`] per record.
    pub fn events(&self, ts: u64, events: &[(u32, u64)]) -> Vec<Record> {
        events
            .chunks(EVENTS_PER_CHUNK)
            .enumerate()
            .map(|(chunk, events)| {
                let mut rec = WaitEvents {
                    header: self.header::<WaitEvents>(ts),
                    chunk: chunk as u16,
                    count: events.len() as u16,
                    ..WaitEvents::default()
                };
                let (slots, _) = rec.raw.as_chunks_mut::<EPOLL_EVENT_SIZE>();
                for (slot, &(mask, data)) in slots.iter_mut().zip(events) {
                    slot[..4].copy_from_slice(&mask.to_ne_bytes());
                    slot[4..].copy_from_slice(&data.to_ne_bytes());
                }
                Record::WaitEvents(rec)
            })
            .collect()
    }

    /// `epoll_ctl(epfd, op, fd, {events: EPOLLIN, data})` returned `ret` at `ts`.
    pub fn epoll_ctl(&self, ts: u64, epfd: i32, op: i32, fd: i32, data: u64, ret: i32) -> Record {
        Record::EpollCtl(EpollCtl {
            header: self.header::<EpollCtl>(ts),
            enter_ts: ts,
            epfd,
            op,
            fd,
            events: uprof_common::EPOLLIN,
            data,
            ret,
            _pad: 0,
        })
    }

    pub fn epoll_create(&self, ts: u64, ret: i32) -> Record {
        Record::EpollCreate(EpollCreate {
            header: self.header::<EpollCreate>(ts),
            flags: 0,
            ret,
        })
    }

    pub fn close(&self, ts: u64, fd: i32, ret: i32) -> Record {
        Record::Close(Close {
            header: self.header::<Close>(ts),
            fd,
            ret,
        })
    }

    /// `dup2(oldfd, newfd)`, returning `newfd` on success.
    pub fn dup2(&self, ts: u64, oldfd: i32, newfd: i32, ret: i32) -> Record {
        Record::Dup(Dup {
            header: self.header::<Dup>(ts),
            oldfd,
            newfd,
            flags: 0,
            ret,
        })
    }

    /// This task created task `child_tid`; `comm` is this task's name.
    pub fn fork(&self, ts: u64, child_tid: u32, comm: &str) -> Record {
        Record::Fork(Fork {
            header: self.header::<Fork>(ts),
            child_tid,
            _pad: 0,
            comm: comm_bytes(comm),
        })
    }

    /// A `TaskInfo` record naming this thread.
    pub fn task_info(&self, ts: u64, comm: &str) -> Record {
        let header = self.header::<TaskComm>(ts);
        Record::TaskInfo(TaskComm {
            header: Header {
                kind: uprof_common::Kind::TaskInfo as u16,
                ..header
            },
            comm: comm_bytes(comm),
        })
    }

    /// The thread exited (its name at exit is `comm`).
    pub fn exit(&self, ts: u64, comm: &str) -> Record {
        let header = self.header::<TaskComm>(ts);
        Record::Exit(TaskComm {
            header: Header {
                kind: uprof_common::Kind::Exit as u16,
                ..header
            },
            comm: comm_bytes(comm),
        })
    }

    pub fn fd_info(&self, ts: u64, fd: i32, kind: FdKind) -> Record {
        Record::FdInfo(FdInfo {
            header: self.header::<FdInfo>(ts),
            fd,
            kind: kind as u32,
        })
    }

    /// A pre-existing interest entry `fd -> data` of `epfd` (events: `EPOLLIN`).
    pub fn interest(&self, ts: u64, epfd: i32, fd: i32, data: u64) -> Record {
        Record::Interest(Interest {
            header: self.header::<Interest>(ts),
            epfd,
            fd,
            events: uprof_common::EPOLLIN,
            _pad: 0,
            data,
        })
    }

    /// A ready-list callback run in this task (the waker) for `fd` of epoll `epfd` of process
    /// `owner`, for the file tagged `origin`.
    pub fn ready(&self, ts: u64, owner: u32, epfd: i32, fd: i32, origin: u32) -> Record {
        Record::Ready(Ready {
            header: Header {
                pid: owner,
                ..self.header::<Ready>(ts)
            },
            epfd,
            fd,
            mask: uprof_common::EPOLLIN,
            origin,
            data: fd as u64,
        })
    }

    /// Socket `ino` received data, reported in this task (the waker).
    pub fn sock_ready(&self, ts: u64, ino: u64) -> Record {
        Record::SockReady(SockReady {
            header: self.header::<SockReady>(ts),
            ino,
        })
    }

    /// `fd` of this process is socket `ino`.
    pub fn socket(&self, ts: u64, fd: i32, ino: u64) -> Record {
        Record::Socket(Socket {
            header: self.header::<Socket>(ts),
            fd,
            _pad: 0,
            ino,
        })
    }

    /// This thread, blocked since `enter_ts` in `epoll_wait` on `epfd`, was woken by `waker`.
    pub fn wake(&self, ts: u64, enter_ts: u64, epfd: i32, waker: Task) -> Record {
        Record::Wake(Wake {
            header: self.header::<Wake>(ts),
            enter_ts,
            waker_pid: waker.pid,
            waker_tid: waker.tid,
            epfd,
            syscall: WaitSyscall::EpollWait as u8,
            _pad: [0; 3],
        })
    }

    /// [`Task::epoll_wait`] of a thread that slept, was woken and ran `run_delay_ns` later.
    pub fn woken_epoll_wait(
        &self,
        enter_ts: u64,
        exit_ts: u64,
        epfd: i32,
        ret: i64,
        run_delay_ns: u32,
    ) -> Record {
        Record::Wait(Wait {
            flags: uprof_common::WAIT_WOKEN,
            run_delay_ns,
            ..self.wait(WaitSyscall::EpollWait, enter_ts, exit_ts, epfd, 64, ret)
        })
    }

    pub fn lost(&self, ts: u64, total: u64) -> Record {
        Record::Lost(Lost {
            header: self.header::<Lost>(ts),
            total,
        })
    }
}

/// `comm` as a NUL-padded `TASK_COMM_LEN` field (cut at 15 bytes, as the kernel does).
fn comm_bytes(comm: &str) -> [u8; COMM_LEN] {
    let mut out = [0; COMM_LEN];
    let len = comm.len().min(COMM_LEN - 1);
    out[..len].copy_from_slice(&comm.as_bytes()[..len]);
    out
}
