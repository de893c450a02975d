//! Where records go during a recording: a record file, and the reconstruction made while
//! recording (the analysis when no file was asked for, an output made while recording). Also
//! adds what user space learns along the way (fd kinds).
use std::collections::HashSet;

use anyhow::Result;
use uprof_common::{EPOLL_CTL_ADD, Record};
use uprof_record::Writer;
use uprof_trace::procfs;

use crate::watch::Live;

pub struct Recorder {
    /// The record file (`uprof record -o`), if there is one.
    pub file: Option<Writer>,
    /// The reconstruction made while recording, if anything needs one.
    pub live: Option<Live>,
    /// Records stored so far.
    pub records: u64,
    /// Kernel records that did not parse (a uprof bug; reported at the end).
    pub malformed: u64,
    /// (pid, fd) whose kind has been looked up since the fd was last closed.
    known_fds: HashSet<(u32, i32)>,
    /// Processes that reported their main thread's exit.
    pub exited: Vec<u32>,
}

impl Recorder {
    pub fn new(file: Option<Writer>, live: Option<Live>) -> Recorder {
        Recorder {
            file,
            live,
            records: 0,
            malformed: 0,
            known_fds: HashSet::new(),
            exited: Vec::new(),
        }
    }

    /// A record from the kernel.
    pub fn push_kernel(&mut self, bytes: &[u8]) -> Result<()> {
        let Ok((record, _)) = Record::parse(bytes) else {
            self.malformed += 1;
            return Ok(());
        };
        self.store(bytes, &record)?;
        self.learn(&record)
    }

    /// A record made by user space.
    pub fn push_user(&mut self, record: Record) -> Result<()> {
        self.store(record.as_bytes(), &record)
    }

    fn store(&mut self, bytes: &[u8], record: &Record) -> Result<()> {
        self.records += 1;
        if let Some(live) = &mut self.live {
            live.push(record);
        }
        if let Some(writer) = &mut self.file {
            // The writer's errors name the file.
            writer.push(bytes)?;
        }
        Ok(())
    }

    /// Learns from a kernel record what the kernel side does not say.
    fn learn(&mut self, record: &Record) -> Result<()> {
        match record {
            // The first time an fd joins an interest list, ask /proc what it is; stamped with
            // the epoll_ctl's time, so it applies to that incarnation of the fd number.
            Record::EpollCtl(ctl) if ctl.op == EPOLL_CTL_ADD && ctl.ret == 0 => {
                let pid = ctl.header.pid;
                if self.known_fds.insert((pid, ctl.fd))
                    && let Some(mut info) = procfs::fd_info(pid, ctl.fd)
                {
                    info.header.ts = ctl.header.ts;
                    self.push_user(Record::FdInfo(info))?;
                }
            }
            Record::Close(c) if c.ret == 0 => {
                self.known_fds.remove(&(c.header.pid, c.fd));
            }
            Record::Dup(d) if d.ret >= 0 => {
                self.known_fds.remove(&(d.header.pid, d.newfd));
            }
            Record::Exit(e) if e.header.tid == e.header.pid => self.exited.push(e.header.pid),
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use uprof_common::{Close, EpollCtl, FdKind, Header, Kind, RecordBody, TaskComm};
    use uprof_record::{Reader, SessionHeader, Target};

    use super::*;

    fn session_header() -> SessionHeader {
        SessionHeader {
            format_version: uprof_record::FORMAT_VERSION,
            uprof_version: "test".into(),
            kernel_release: "test".into(),
            hostname: "test".into(),
            probes: Vec::new(),
            tier: uprof_common::Tier::Syscall,
            wakeups: false,
            clock: "CLOCK_MONOTONIC".into(),
            boot_offset_ns: 0,
            start_ts: 0,
            target: Target {
                command: None,
                pids: vec![std::process::id()],
            },
        }
    }

    fn add(ts: u64, fd: i32) -> Vec<u8> {
        let me = std::process::id();
        let ctl = EpollCtl {
            header: Header::user::<EpollCtl>(ts, me, me),
            enter_ts: ts,
            epfd: 3,
            op: EPOLL_CTL_ADD,
            fd,
            events: 1,
            data: fd as u64,
            ret: 0,
            _pad: 0,
        };
        ctl.as_bytes().to_vec()
    }

    /// The recording path without the kernel: records as the ring buffer hands them over, and
    /// what the recorder adds and learns from them.
    #[test]
    fn an_added_fd_gets_its_kind_once_per_incarnation_and_exits_are_noted() {
        let me = std::process::id();
        // SAFETY: eventfd has no memory effects; the fd stays open for the test.
        let efd = unsafe { libc::eventfd(0, 0) };
        assert!(efd >= 0);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.uprof");
        let writer = Writer::create(&path, &session_header()).unwrap();
        let mut recorder = Recorder::new(Some(writer), None);

        recorder.push_kernel(&add(10, efd)).unwrap();
        recorder.push_kernel(&add(20, efd)).unwrap();
        let close = Close {
            header: Header::user::<Close>(30, me, me),
            fd: efd,
            ret: 0,
        };
        recorder.push_kernel(close.as_bytes()).unwrap();
        recorder.push_kernel(&add(40, efd)).unwrap();
        recorder.push_kernel(&[1, 2, 3]).unwrap();
        let mut exit = TaskComm {
            header: Header::user::<TaskComm>(50, me, me),
            comm: [0; 16],
        };
        exit.header.kind = Kind::Exit as u16;
        recorder.push_kernel(exit.as_bytes()).unwrap();

        assert_eq!((recorder.records, recorder.malformed), (7, 1));
        assert_eq!(recorder.exited, [me]);
        drop(recorder.file.take());
        let mut seen = Vec::new();
        Reader::open(&path)
            .unwrap()
            .for_each_record(|r| {
                let what = match r {
                    Record::EpollCtl(_) => "ctl",
                    Record::Close(_) => "close",
                    Record::Exit(_) => "exit",
                    Record::FdInfo(info) if FdKind::from_u32(info.kind) == FdKind::EventFd => {
                        "eventfd"
                    }
                    _ => "other",
                };
                seen.push(format!("{what}@{}", r.header().ts));
            })
            .unwrap();
        // SAFETY: closing the test's own fd.
        unsafe { libc::close(efd) };
        // The kind is stamped with the epoll_ctl's time, so it applies to that incarnation.
        let expected = [
            "ctl@10",
            "eventfd@10",
            "ctl@20",
            "close@30",
            "ctl@40",
            "eventfd@40",
            "exit@50",
        ];
        assert_eq!(seen, expected);
    }
}
