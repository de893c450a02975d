//! The callback tier: `ep_poll_callback` (an fd became ready and is queued on an epoll
//! instance's ready list), and the map from `struct eventpoll` addresses to the traced
//! `(pid, epfd)` they belong to. Kernel struct offsets come from BTF through
//! [`crate::maps::offsets`].
use uprof_common::{EPOLLEXCLUSIVE, EpollOwner, Ready};

use crate::{
    emit::{current, header, now, send},
    kernel::{file_of, read},
    maps::{EPOLLS, offsets},
};

/// `epoll_event.events` bits that are flags, not events (`EP_PRIVATE_BITS` in fs/eventpoll.c).
const EP_PRIVATE_BITS: u32 = EPOLLEXCLUSIVE | (1 << 29) | (1 << 30) | (1 << 31);

/// Whether the callback tier is loaded (the syscall programs then maintain `EPOLLS`).
#[inline(always)]
pub fn enabled() -> bool {
    offsets::get(&offsets::CALLBACK_TIER) != 0
}

/// The `private_data` of the file behind `fd` of the current process (for an epoll fd, its
/// `struct eventpoll`), or 0 when the fd is not open.
#[inline(always)]
fn private_data_of(fd: i32) -> u64 {
    match file_of(fd) {
        0 => 0,
        file => read(file, &offsets::FILE_PRIVATE_DATA),
    }
}

/// A traced thread's epoll call on `epfd` succeeded: `epfd` is an epoll fd, so remember whose
/// instance its `struct eventpoll` is. Usually it is known already (a loop waits on the same
/// instance again and again): a lookup then spares the map an update.
#[inline(always)]
pub fn learn_epoll(epfd: i32) {
    let ep = private_data_of(epfd);
    if ep == 0 {
        return;
    }
    let owner = EpollOwner {
        pid: current().0,
        epfd,
    };
    if unsafe { EPOLLS.get(&ep) } != Some(&owner) {
        let _ = EPOLLS.insert(&ep, &owner, 0);
    }
}

/// A traced thread is about to close `fd`: if it is a known epoll instance of this process,
/// forget it (its memory may be reused by another process's instance).
#[inline(always)]
pub fn forget_epoll(fd: i32) {
    let ep = private_data_of(fd);
    if ep == 0 {
        return;
    }
    let owner = EpollOwner {
        pid: current().0,
        epfd: fd,
    };
    if unsafe { EPOLLS.get(&ep) } == Some(&owner) {
        let _ = EPOLLS.remove(&ep);
    }
}

/// `ep_poll_callback(wait, mode, sync, key)`: reports the readiness if the instance is traced
/// and the callback queues the item (the entry listens for one of the events in `key`, and is
/// not a disarmed one-shot entry): the same tests the kernel makes before queuing.
#[inline(always)]
pub fn ep_poll_callback(wait: u64, key: u64) {
    // container_of(wait, struct eppoll_entry, wait)->base
    let entry = wait.wrapping_sub(offsets::get(&offsets::EPPOLL_WAIT) as u64);
    let epi: u64 = read(entry, &offsets::EPPOLL_BASE);
    let ep: u64 = read(epi, &offsets::EPITEM_EP);
    if ep == 0 {
        return;
    }
    let Some(owner) = (unsafe { EPOLLS.get(&ep) }).copied() else {
        return;
    };
    let events: u32 = read(epi, &offsets::EPITEM_EVENTS);
    let mask = key as u32;
    if events & !EP_PRIVATE_BITS == 0 || (mask != 0 && mask & events == 0) {
        return;
    }
    let mut header = header::<Ready>(now());
    header.pid = owner.pid;
    send(Ready {
        header,
        epfd: owner.epfd,
        fd: read(epi, &offsets::EPITEM_FD),
        mask,
        origin: Ready::origin_of(read(epi, &offsets::EPITEM_FILE)),
        data: read(epi, &offsets::EPITEM_DATA),
    });
}
