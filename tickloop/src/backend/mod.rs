//! Readiness backends: one trait, three implementations chosen at run time.
//!
//! The loop owns exactly one backend. It tells it about interest changes in one batch per tick
//! ([`Backend::add`], [`Backend::modify`], [`Backend::delete`]) and then blocks in
//! [`Backend::wait`], which issues exactly one `epoll_wait`, `poll` or `select` system call
//! (`epoll_pwait`, `ppoll` or `pselect6` on architectures without those, such as aarch64).

mod epoll;
mod poll;
mod select;
mod sys;

use std::os::fd::RawFd;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{LoopError, Result};
use crate::interest::{Interest, Readiness};

pub use epoll::EpollBackend;
pub use poll::PollBackend;
pub use select::{SELECT_FD_LIMIT, SelectBackend};

/// One descriptor's readiness, tagged with the token it was registered with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadyEvent {
    /// The token given to [`Backend::add`] / [`Backend::modify`].
    pub token: u64,
    /// What the kernel reported.
    pub readiness: Readiness,
}

/// A readiness mechanism: epoll, poll(2) or select(2).
///
/// Implementations keep whatever per-descriptor state their system call needs (an epoll
/// instance, a `pollfd` array, two `fd_set`s) and translate the kernel's answer to
/// [`ReadyEvent`]s.
pub trait Backend {
    /// Which mechanism this is.
    fn kind(&self) -> BackendKind;

    /// Refuses descriptors the mechanism cannot watch (select's `FD_SETSIZE`); called when a
    /// watcher is created, so the error reaches the caller instead of a later tick.
    fn check_fd(&self, fd: RawFd) -> Result<()> {
        let _ = fd;
        Ok(())
    }

    /// Starts watching `fd`.
    fn add(&mut self, fd: RawFd, token: u64, interest: Interest) -> Result<()>;

    /// Changes what `fd` is watched for.
    fn modify(&mut self, fd: RawFd, token: u64, interest: Interest) -> Result<()>;

    /// Stops watching `fd`.
    fn delete(&mut self, fd: RawFd) -> Result<()>;

    /// Blocks for at most `timeout` (`None`: until something is ready), then appends what is
    /// ready to `events`. An interrupted wait (`EINTR`) returns with no events.
    fn wait(&mut self, timeout: Option<Duration>, events: &mut Vec<ReadyEvent>) -> Result<()>;
}

/// The backends this crate implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// `epoll_wait`, level-triggered (libuv's choice).
    Epoll,
    /// `epoll_wait` with `EPOLLET`: readiness is reported once per change, so callbacks must
    /// read or write until `EAGAIN`.
    EpollEdge,
    /// `poll(2)` over an array of `pollfd`s.
    Poll,
    /// `select(2)`; descriptors must be below [`SELECT_FD_LIMIT`].
    Select,
}

impl BackendKind {
    /// Every backend, in a fixed order (handy for tests and benchmarks).
    pub const ALL: [BackendKind; 4] = [
        BackendKind::Epoll,
        BackendKind::EpollEdge,
        BackendKind::Poll,
        BackendKind::Select,
    ];

    /// The name used on command lines: `epoll`, `epoll-et`, `poll` or `select`.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Epoll => "epoll",
            BackendKind::EpollEdge => "epoll-et",
            BackendKind::Poll => "poll",
            BackendKind::Select => "select",
        }
    }

    /// Creates a backend of this kind.
    pub fn open(self) -> Result<Box<dyn Backend>> {
        Ok(match self {
            BackendKind::Epoll => Box::new(EpollBackend::new(false)?),
            BackendKind::EpollEdge => Box::new(EpollBackend::new(true)?),
            BackendKind::Poll => Box::new(PollBackend::new()),
            BackendKind::Select => Box::new(SelectBackend::new()),
        })
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendKind {
    type Err = LoopError;

    fn from_str(s: &str) -> Result<Self> {
        BackendKind::ALL
            .into_iter()
            .find(|kind| kind.name() == s)
            .ok_or_else(|| LoopError::UnknownBackend(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in BackendKind::ALL {
            assert_eq!(kind.name().parse::<BackendKind>().unwrap(), kind);
        }
        assert!(matches!(
            "kqueue".parse::<BackendKind>(),
            Err(LoopError::UnknownBackend(name)) if name == "kqueue"
        ));
    }
}
