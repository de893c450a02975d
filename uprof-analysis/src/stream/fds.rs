//! One process's fd table as far as reconstruction needs it: which generation each fd number
//! is at, what its current file is, and which fds are open epoll instances and sockets.
use rustc_hash::FxHashMap;
use uprof_common::FdKind;

use super::event::EpollId;

#[derive(Default)]
pub(crate) struct Process {
    /// Current generation of each fd number that has been replaced at least once (others: 0).
    generations: FxHashMap<i32, u32>,
    /// Kinds of the current generations, as learned from /proc.
    kinds: FxHashMap<i32, FdKind>,
    /// Open epoll fds -> their instance.
    pub(crate) epolls: FxHashMap<i32, EpollId>,
    /// Open socket fds -> the socket's inode number (socket tier).
    pub(crate) sockets: FxHashMap<i32, u64>,
}

impl Process {
    pub(crate) fn generation(&self, fd: i32) -> u32 {
        self.generations.get(&fd).copied().unwrap_or(0)
    }

    /// The number `fd` now refers to a different file (or to none); returns the generation
    /// that ended.
    pub(crate) fn next_generation(&mut self, fd: i32) -> u32 {
        self.kinds.remove(&fd);
        let generation = self.generations.entry(fd).or_insert(0);
        let ended = *generation;
        *generation = generation.wrapping_add(1);
        ended
    }

    pub(crate) fn set_kind(&mut self, fd: i32, kind: FdKind) {
        self.kinds.insert(fd, kind);
    }

    /// The kind of `fd`'s current file.
    pub(crate) fn kind(&self, fd: i32) -> FdKind {
        self.kinds.get(&fd).copied().unwrap_or(FdKind::Unknown)
    }
}
