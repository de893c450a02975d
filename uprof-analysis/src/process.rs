//! One process's fd table as far as the analysis needs it: which generation each fd number is
//! at, what the fds are, and which fds are open epoll instances.
use rustc_hash::FxHashMap;
use uprof_common::FdKind;

#[derive(Default)]
pub(crate) struct Process {
    /// Current generation of each fd number that has been replaced at least once (others: 0).
    generations: FxHashMap<i32, u32>,
    /// Kinds learned from /proc, per `(fd, generation)`.
    kinds: FxHashMap<(i32, u32), FdKind>,
    /// Open epoll fds -> index of their instance in the analyzer's list.
    pub(crate) epolls: FxHashMap<i32, usize>,
    /// Open socket fds -> the socket's inode number (socket tier).
    pub(crate) sockets: FxHashMap<i32, u64>,
}

impl Process {
    pub(crate) fn generation(&self, fd: i32) -> u32 {
        self.generations.get(&fd).copied().unwrap_or(0)
    }

    /// The number `fd` now refers to a different file (or to none).
    pub(crate) fn next_generation(&mut self, fd: i32) {
        *self.generations.entry(fd).or_insert(0) += 1;
    }

    pub(crate) fn set_kind(&mut self, fd: i32, kind: FdKind) {
        self.kinds.insert((fd, self.generation(fd)), kind);
    }

    pub(crate) fn kind(&self, fd: i32, generation: u32) -> FdKind {
        self.kinds
            .get(&(fd, generation))
            .copied()
            .unwrap_or(FdKind::Unknown)
    }
}
