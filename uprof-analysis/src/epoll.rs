//! What is known of one epoll instance: its interest list (to map returned `data` back to fds)
//! and what it delivered and was asked, per fd.
use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use serde::Serialize;
use uprof_common::{
    EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD, EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, EPOLLRDHUP,
};

/// Which fd a per-fd entry describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum FdKey {
    /// An fd number and its generation in its process (a reused number is a new generation).
    Fd { fd: i32, generation: u32 },
    /// Events whose `data` matched no known interest entry.
    Unmapped { data: u64 },
}

/// The interest list as far as it was observed: fd -> data registered, and back.
///
/// When several fds are registered with the same `data`, returned events map to the one
/// registered last.
#[derive(Clone, Default)]
pub(crate) struct Interest {
    by_fd: FxHashMap<i32, (u32, u64)>,
    by_data: FxHashMap<u64, (i32, u32)>,
}

impl Interest {
    /// Registers (or re-registers) generation `generation` of `fd` with `data`.
    pub(crate) fn insert(&mut self, fd: i32, generation: u32, data: u64) {
        self.remove(fd);
        self.by_fd.insert(fd, (generation, data));
        self.by_data.insert(data, (fd, generation));
    }

    pub(crate) fn remove(&mut self, fd: i32) {
        if let Some((generation, data)) = self.by_fd.remove(&fd)
            && self.by_data.get(&data) == Some(&(fd, generation))
        {
            self.by_data.remove(&data);
        }
    }

    /// The fd a returned event with `data` is for.
    pub(crate) fn key(&self, data: u64) -> FdKey {
        match self.by_data.get(&data) {
            Some(&(fd, generation)) => FdKey::Fd { fd, generation },
            None => FdKey::Unmapped { data },
        }
    }

    /// Registered `(fd, data)` pairs, in no particular order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (i32, u64)> + '_ {
        self.by_fd.iter().map(|(&fd, &(_, data))| (fd, data))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.by_fd.is_empty()
    }
}

/// Successful `epoll_ctl` calls by operation, and failed calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CtlCounts {
    pub add: u64,
    #[serde(rename = "mod")]
    pub modify: u64,
    pub del: u64,
    /// Failed calls, whatever the operation.
    pub errors: u64,
}

impl CtlCounts {
    pub(crate) fn count(&mut self, op: i32, ret: i32) {
        let counter = match (op, ret) {
            (_, r) if r < 0 => &mut self.errors,
            (EPOLL_CTL_ADD, _) => &mut self.add,
            (EPOLL_CTL_MOD, _) => &mut self.modify,
            (EPOLL_CTL_DEL, _) => &mut self.del,
            // The kernel rejects unknown operations, so this is not a success to count.
            _ => return,
        };
        *counter += 1;
    }
}

/// Delivered events whose mask has each bit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MaskCounts {
    #[serde(rename = "in")]
    pub input: u64,
    pub out: u64,
    pub err: u64,
    pub hup: u64,
    pub rdhup: u64,
}

impl MaskCounts {
    fn count(&mut self, events: u32) {
        let bit = |mask: u32| u64::from(events & mask != 0);
        self.input += bit(EPOLLIN);
        self.out += bit(EPOLLOUT);
        self.err += bit(EPOLLERR);
        self.hup += bit(EPOLLHUP);
        self.rdhup += bit(EPOLLRDHUP);
    }
}

/// One fd as seen through one epoll instance.
#[derive(Default)]
pub(crate) struct FdStats {
    pub(crate) delivered: u64,
    pub(crate) masks: MaskCounts,
    pub(crate) ctl: CtlCounts,
    /// Failed `epoll_ctl` calls by errno.
    pub(crate) ctl_errors: BTreeMap<i32, u64>,
}

/// One epoll instance: `(pid, epfd, generation)`.
pub(crate) struct EpollInstance {
    pub(crate) pid: u32,
    pub(crate) epfd: i32,
    pub(crate) generation: u32,
    /// Whether the report lists it: it was created, asked or waited on, or snapshotted from
    /// /proc. An instance only inherited by a child process that never used it is left out.
    pub(crate) listed: bool,
    pub(crate) ctl: CtlCounts,
    pub(crate) waits: u64,
    pub(crate) delivered: u64,
    pub(crate) interest: Interest,
    pub(crate) fds: FxHashMap<FdKey, FdStats>,
}

impl EpollInstance {
    pub(crate) fn new(pid: u32, epfd: i32, generation: u32) -> Self {
        Self {
            pid,
            epfd,
            generation,
            listed: false,
            ctl: CtlCounts::default(),
            waits: 0,
            delivered: 0,
            interest: Interest::default(),
            fds: FxHashMap::default(),
        }
    }

    /// Counts an `epoll_ctl` on generation `generation` of `fd` and applies it if it succeeded.
    pub(crate) fn ctl(&mut self, op: i32, fd: i32, generation: u32, data: u64, ret: i32) {
        self.listed = true;
        self.ctl.count(op, ret);
        let stats = self.fds.entry(FdKey::Fd { fd, generation }).or_default();
        stats.ctl.count(op, ret);
        if ret < 0 {
            *stats.ctl_errors.entry(-ret).or_default() += 1;
            return;
        }
        match op {
            EPOLL_CTL_ADD | EPOLL_CTL_MOD => self.interest.insert(fd, generation, data),
            EPOLL_CTL_DEL => self.interest.remove(fd),
            _ => {}
        }
    }

    /// Records an interest entry that existed before tracing began.
    pub(crate) fn snapshot_interest(&mut self, fd: i32, generation: u32, data: u64) {
        self.listed = true;
        self.interest.insert(fd, generation, data);
        self.fds.entry(FdKey::Fd { fd, generation }).or_default();
    }

    /// Counts one returned `(events, data)` pair.
    pub(crate) fn deliver(&mut self, events: u32, data: u64) {
        self.delivered += 1;
        let stats = self.fds.entry(self.interest.key(data)).or_default();
        stats.delivered += 1;
        stats.masks.count(events);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interest_maps_data_to_the_latest_registration() {
        let mut i = Interest::default();
        i.insert(5, 0, 50);
        i.insert(6, 0, 60);
        assert_eq!(
            i.key(50),
            FdKey::Fd {
                fd: 5,
                generation: 0
            }
        );
        // MOD with new data: the old data no longer maps.
        i.insert(5, 0, 55);
        assert_eq!(i.key(50), FdKey::Unmapped { data: 50 });
        assert_eq!(
            i.key(55),
            FdKey::Fd {
                fd: 5,
                generation: 0
            }
        );
        // A second fd with fd 6's data takes it over; removing fd 6 leaves it mapped.
        i.insert(7, 2, 60);
        i.remove(6);
        assert_eq!(
            i.key(60),
            FdKey::Fd {
                fd: 7,
                generation: 2
            }
        );
        i.remove(7);
        assert_eq!(i.key(60), FdKey::Unmapped { data: 60 });
    }

    #[test]
    fn masks_count_each_bit() {
        let mut m = MaskCounts::default();
        m.count(EPOLLIN | EPOLLRDHUP | EPOLLHUP);
        m.count(EPOLLOUT);
        m.count(EPOLLERR | EPOLLIN);
        assert_eq!(
            m,
            MaskCounts {
                input: 2,
                out: 1,
                err: 1,
                hup: 1,
                rdhup: 1
            }
        );
    }
}
