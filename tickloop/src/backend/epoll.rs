//! The epoll backend, level- or edge-triggered.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::{Backend, BackendKind, ReadyEvent, sys};
use crate::error::{Result, cvt, io_error};
use crate::interest::{Interest, Readiness};

/// How many events one `epoll_wait` may return; more stay queued in the kernel for the next.
const MAX_EVENTS: usize = 1024;

/// An epoll instance. Tokens travel in `epoll_event.data`, so a wait needs no lookup table.
pub struct EpollBackend {
    epoll: OwnedFd,
    edge_triggered: bool,
    buffer: Vec<libc::epoll_event>,
}

impl EpollBackend {
    /// Creates the epoll instance (`epoll_create1(EPOLL_CLOEXEC)`).
    pub fn new(edge_triggered: bool) -> Result<Self> {
        // SAFETY: plain syscall; the returned descriptor is owned below.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })
            .map_err(|e| io_error("epoll_create1", e))?;
        Ok(EpollBackend {
            // SAFETY: `fd` is a fresh descriptor nobody else owns.
            epoll: unsafe { OwnedFd::from_raw_fd(fd) },
            edge_triggered,
            buffer: vec![libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS],
        })
    }

    fn event_mask(&self, interest: Interest) -> u32 {
        let mut mask = 0;
        if interest.is_readable() {
            mask |= (libc::EPOLLIN | libc::EPOLLRDHUP) as u32;
        }
        if interest.is_writable() {
            mask |= libc::EPOLLOUT as u32;
        }
        if self.edge_triggered {
            mask |= libc::EPOLLET as u32;
        }
        mask
    }

    fn ctl(&mut self, op: libc::c_int, fd: RawFd, token: u64, interest: Interest) -> Result<()> {
        let mut event = libc::epoll_event {
            events: self.event_mask(interest),
            u64: token,
        };
        // SAFETY: `event` outlives the call; the kernel copies it.
        cvt(unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &mut event) })
            .map_err(|e| io_error(format!("epoll_ctl({}, fd {fd})", op_name(op)), e))?;
        Ok(())
    }
}

fn op_name(op: libc::c_int) -> &'static str {
    match op {
        libc::EPOLL_CTL_ADD => "ADD",
        libc::EPOLL_CTL_MOD => "MOD",
        _ => "DEL",
    }
}

fn readiness(events: u32) -> Readiness {
    let mut ready = Readiness::EMPTY;
    if events & libc::EPOLLIN as u32 != 0 {
        ready |= Readiness::READABLE;
    }
    if events & libc::EPOLLOUT as u32 != 0 {
        ready |= Readiness::WRITABLE;
    }
    if events & (libc::EPOLLHUP | libc::EPOLLRDHUP) as u32 != 0 {
        ready |= Readiness::HANGUP;
    }
    if events & libc::EPOLLERR as u32 != 0 {
        ready |= Readiness::ERROR;
    }
    ready
}

impl Backend for EpollBackend {
    fn kind(&self) -> BackendKind {
        if self.edge_triggered {
            BackendKind::EpollEdge
        } else {
            BackendKind::Epoll
        }
    }

    fn add(&mut self, fd: RawFd, token: u64, interest: Interest) -> Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, token, interest)
    }

    fn modify(&mut self, fd: RawFd, token: u64, interest: Interest) -> Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, token, interest)
    }

    fn delete(&mut self, fd: RawFd) -> Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, 0, Interest::NONE)
    }

    fn wait(&mut self, timeout: Option<Duration>, events: &mut Vec<ReadyEvent>) -> Result<()> {
        let n = sys::epoll_wait(self.epoll.as_fd(), &mut self.buffer, timeout)?;
        events.extend(self.buffer[..n].iter().map(|e| ReadyEvent {
            token: e.u64,
            readiness: readiness(e.events),
        }));
        Ok(())
    }
}
