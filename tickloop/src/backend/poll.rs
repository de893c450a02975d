//! The poll(2) backend: a dense `pollfd` array the kernel scans on every wait.

use std::collections::HashMap;
use std::os::fd::RawFd;
use std::time::Duration;

use super::{Backend, BackendKind, ReadyEvent, sys};
use crate::error::{LoopError, Result, io_error};
use crate::interest::{Interest, Readiness};

/// `pollfd`s plus, at the same index, the token of the watcher that owns each.
#[derive(Default)]
pub struct PollBackend {
    fds: Vec<libc::pollfd>,
    tokens: Vec<u64>,
    index_of: HashMap<RawFd, usize>,
}

impl PollBackend {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }
}

fn poll_events(interest: Interest) -> libc::c_short {
    let mut events = 0;
    if interest.is_readable() {
        events |= libc::POLLIN | libc::POLLRDHUP;
    }
    if interest.is_writable() {
        events |= libc::POLLOUT;
    }
    events
}

fn readiness(revents: libc::c_short) -> Readiness {
    let mut ready = Readiness::EMPTY;
    if revents & libc::POLLIN != 0 {
        ready |= Readiness::READABLE;
    }
    if revents & libc::POLLOUT != 0 {
        ready |= Readiness::WRITABLE;
    }
    if revents & (libc::POLLHUP | libc::POLLRDHUP) != 0 {
        ready |= Readiness::HANGUP;
    }
    if revents & (libc::POLLERR | libc::POLLNVAL) != 0 {
        ready |= Readiness::ERROR;
    }
    ready
}

fn not_registered(fd: RawFd) -> LoopError {
    io_error(
        format!("poll backend: fd {fd} is not registered"),
        std::io::Error::from_raw_os_error(libc::ENOENT),
    )
}

impl Backend for PollBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Poll
    }

    fn add(&mut self, fd: RawFd, token: u64, interest: Interest) -> Result<()> {
        if self.index_of.contains_key(&fd) {
            return Err(io_error(
                format!("poll backend: fd {fd} is already registered"),
                std::io::Error::from_raw_os_error(libc::EEXIST),
            ));
        }
        self.index_of.insert(fd, self.fds.len());
        self.fds.push(libc::pollfd {
            fd,
            events: poll_events(interest),
            revents: 0,
        });
        self.tokens.push(token);
        Ok(())
    }

    fn modify(&mut self, fd: RawFd, token: u64, interest: Interest) -> Result<()> {
        let index = *self.index_of.get(&fd).ok_or_else(|| not_registered(fd))?;
        self.fds[index].events = poll_events(interest);
        self.tokens[index] = token;
        Ok(())
    }

    fn delete(&mut self, fd: RawFd) -> Result<()> {
        let index = self
            .index_of
            .remove(&fd)
            .ok_or_else(|| not_registered(fd))?;
        self.fds.swap_remove(index);
        self.tokens.swap_remove(index);
        if let Some(moved) = self.fds.get(index) {
            self.index_of.insert(moved.fd, index);
        }
        Ok(())
    }

    fn wait(&mut self, timeout: Option<Duration>, events: &mut Vec<ReadyEvent>) -> Result<()> {
        let n = sys::poll(&mut self.fds, timeout)?;
        let mut remaining = n;
        for (pollfd, &token) in self.fds.iter().zip(&self.tokens) {
            if remaining == 0 {
                break;
            }
            if pollfd.revents != 0 {
                remaining -= 1;
                events.push(ReadyEvent {
                    token,
                    readiness: readiness(pollfd.revents),
                });
            }
        }
        Ok(())
    }
}
