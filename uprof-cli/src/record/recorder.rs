//! Where records go during a recording: a record file, or straight into the analysis when no
//! file was asked for. Also adds what user space learns along the way (fd kinds).
use std::collections::HashSet;

use anyhow::{Context as _, Result};
use uprof_analysis::Analyzer;
use uprof_common::{EPOLL_CTL_ADD, Record};
use uprof_record::Writer;
use uprof_trace::procfs;

use super::live::LiveOutput;

pub enum Sink {
    File(Writer),
    Live(Box<Analyzer>),
}

pub struct Recorder {
    pub sink: Sink,
    /// What is written while recording (`--interval` rows, the hdrlog), if asked for.
    pub live: Option<LiveOutput>,
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
    pub fn new(sink: Sink, live: Option<LiveOutput>) -> Recorder {
        Recorder {
            sink,
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
        match &mut self.sink {
            Sink::File(writer) => writer.push(bytes).context("cannot write the record file"),
            Sink::Live(analyzer) => {
                analyzer.push(record);
                Ok(())
            }
        }
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
