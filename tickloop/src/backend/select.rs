//! The select(2) backend: two `fd_set` bitmaps, limited to descriptors below `FD_SETSIZE`.
//!
//! `fd_set` is a fixed bitmap of `FD_SETSIZE` (1024) bits; `FD_SET` on a larger descriptor
//! writes out of bounds. The backend therefore refuses such descriptors in
//! [`Backend::check_fd`], when the watcher is created, with
//! [`LoopError::FdBeyondSelectLimit`].

use std::os::fd::RawFd;
use std::time::Duration;

use super::{Backend, BackendKind, ReadyEvent, sys};
use crate::error::{LoopError, Result};
use crate::interest::{Interest, Readiness};

/// The largest descriptor select can watch, plus one (`FD_SETSIZE`).
pub const SELECT_FD_LIMIT: usize = libc::FD_SETSIZE;

/// The interest and token of each watched descriptor, indexed by descriptor.
pub struct SelectBackend {
    watched: Vec<Option<(u64, Interest)>>,
    read_set: libc::fd_set,
    write_set: libc::fd_set,
    /// Highest watched descriptor, for select's `nfds` argument and the scan after it.
    max_fd: Option<RawFd>,
}

fn empty_set() -> libc::fd_set {
    // SAFETY: fd_set is plain bits; FD_ZERO initialises it.
    unsafe {
        let mut set = std::mem::zeroed::<libc::fd_set>();
        libc::FD_ZERO(&mut set);
        set
    }
}

impl SelectBackend {
    /// An empty set.
    pub fn new() -> Self {
        SelectBackend {
            watched: vec![None; SELECT_FD_LIMIT],
            read_set: empty_set(),
            write_set: empty_set(),
            max_fd: None,
        }
    }

    fn set(&mut self, fd: RawFd, token: u64, interest: Interest) -> Result<()> {
        self.check_fd(fd)?;
        // SAFETY: fd is in 0..FD_SETSIZE (checked above).
        unsafe {
            libc::FD_CLR(fd, &mut self.read_set);
            libc::FD_CLR(fd, &mut self.write_set);
            if interest.is_readable() {
                libc::FD_SET(fd, &mut self.read_set);
            }
            if interest.is_writable() {
                libc::FD_SET(fd, &mut self.write_set);
            }
        }
        self.watched[fd as usize] = Some((token, interest));
        self.max_fd = self.max_fd.max(Some(fd));
        Ok(())
    }
}

impl Default for SelectBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl Backend for SelectBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Select
    }

    fn check_fd(&self, fd: RawFd) -> Result<()> {
        if fd < 0 || fd as usize >= SELECT_FD_LIMIT {
            return Err(LoopError::FdBeyondSelectLimit {
                fd,
                limit: SELECT_FD_LIMIT,
            });
        }
        Ok(())
    }

    fn add(&mut self, fd: RawFd, token: u64, interest: Interest) -> Result<()> {
        self.set(fd, token, interest)
    }

    fn modify(&mut self, fd: RawFd, token: u64, interest: Interest) -> Result<()> {
        self.set(fd, token, interest)
    }

    fn delete(&mut self, fd: RawFd) -> Result<()> {
        self.check_fd(fd)?;
        // SAFETY: fd is in 0..FD_SETSIZE (checked above).
        unsafe {
            libc::FD_CLR(fd, &mut self.read_set);
            libc::FD_CLR(fd, &mut self.write_set);
        }
        self.watched[fd as usize] = None;
        if self.max_fd == Some(fd) {
            self.max_fd = (0..fd).rev().find(|&f| self.watched[f as usize].is_some());
        }
        Ok(())
    }

    fn wait(&mut self, timeout: Option<Duration>, events: &mut Vec<ReadyEvent>) -> Result<()> {
        // select overwrites its sets with the result, so it gets copies.
        let mut readable = self.read_set;
        let mut writable = self.write_set;
        let nfds = self.max_fd.map_or(0, |fd| fd + 1);
        let n = sys::select(nfds, &mut readable, &mut writable, timeout)?;
        if n == 0 {
            return Ok(());
        }
        for fd in 0..nfds {
            let Some((token, _)) = self.watched[fd as usize] else {
                continue;
            };
            let mut ready = Readiness::EMPTY;
            // SAFETY: fd < nfds <= FD_SETSIZE.
            unsafe {
                if libc::FD_ISSET(fd, &readable) {
                    ready |= Readiness::READABLE;
                }
                if libc::FD_ISSET(fd, &writable) {
                    ready |= Readiness::WRITABLE;
                }
            }
            if !ready.is_empty() {
                events.push(ReadyEvent {
                    token,
                    readiness: ready,
                });
            }
        }
        Ok(())
    }
}
