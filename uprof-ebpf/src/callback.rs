//! The callback tier: `ep_poll_callback` (an fd became ready and is queued on an epoll
//! instance's ready list), and the map from `struct eventpoll` addresses to the traced
//! `(pid, epfd)` they belong to. Kernel struct offsets come from BTF through
//! [`crate::maps::offsets`].
use core::intrinsics::{AtomicOrdering, atomic_xadd};

use uprof_common::{EPOLLEXCLUSIVE, EpollOwner, InFlight, Ready};

use crate::{
    emit::{current, header, now, send},
    kernel::{file_of, read},
    maps::{EPOLL_GENERATION, EPOLL_SLOT_COUNT, EPOLL_SLOTS, EPOLLS, offsets},
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

/// The slot of `struct eventpoll` address `ep` in `EPOLL_SLOTS`. Instances come from a slab of
/// objects at least 128 bytes apart: the bits above those tell neighbours apart.
#[inline(always)]
fn epoll_slot(ep: u64) -> u32 {
    ((ep >> 7) ^ (ep >> 23)) as u32 & (EPOLL_SLOT_COUNT - 1)
}

/// False when instance `ep` is certainly not traced (its slot is clear): an inlined array
/// lookup, where `EPOLLS` is a helper call that hashes the key.
#[inline(always)]
fn maybe_traced_epoll(ep: u64) -> bool {
    EPOLL_SLOTS
        .get(epoll_slot(ep))
        .is_some_and(|slot| *slot != 0)
}

/// The current generation of epoll fds (see `EPOLL_GENERATION`), its low half: it only has to
/// differ from the one a thread saw.
#[inline(always)]
fn generation() -> u32 {
    EPOLL_GENERATION.get(0).copied().unwrap_or(0) as u32
}

/// Makes every thread's remembered epoll fd stale.
#[inline(always)]
pub fn new_generation() {
    if let Some(g) = EPOLL_GENERATION.get_ptr_mut(0) {
        // An atomic add (the target has no compare-and-swap, so `AtomicU64::fetch_add` does
        // not exist): concurrent bumps must not undo each other.
        // SAFETY: a map value, aligned, alive as long as the map.
        unsafe { atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(g, 1) };
    }
}

/// A traced thread's epoll call on `epfd` succeeded: `epfd` is an epoll fd of process `pid`, so
/// remember whose instance its `struct eventpoll` is. Usually it is known already (a loop waits
/// on the same instance again and again): a lookup then spares the map an update. Returns
/// whether the instance is known now.
#[inline(always)]
pub fn learn_epoll(epfd: i32, pid: u32) -> bool {
    let ep = private_data_of(epfd);
    if ep == 0 {
        return false;
    }
    let owner = EpollOwner { pid, epfd };
    match unsafe { EPOLLS.get(&ep) } {
        Some(known) if *known == owner => return true,
        // Another (pid, epfd) used it before (a forked child): the instance is attributed to
        // the last one using it, so the others must look again at their next wait.
        Some(_) => new_generation(),
        None => {}
    }
    if let Some(slot) = EPOLL_SLOTS.get_ptr_mut(epoll_slot(ep)) {
        unsafe { *slot = 1 };
    }
    EPOLLS.insert(&ep, &owner, 0).is_ok()
}

/// [`learn_epoll`] at the return of a wait of the thread whose `INFLIGHT` entry is `f`: done
/// once per epoll fd and generation, not at every return (it walks the fd table).
#[inline(always)]
pub fn learn_epoll_of_wait(f: &mut InFlight, epfd: i32, pid: u32) {
    // Read before the walk: a close after it makes the next wait look again.
    let generation = generation();
    if f.known_epfd == epfd && f.known_generation == generation {
        return;
    }
    if learn_epoll(epfd, pid) {
        f.known_epfd = epfd;
        f.known_generation = generation;
    }
}

/// A traced thread of process `pid` is about to close `fd`: if it is a known epoll instance of
/// this process, forget it (its memory may be reused by another process's instance).
#[inline(always)]
pub fn forget_epoll(fd: i32, pid: u32) {
    let ep = private_data_of(fd);
    if ep == 0 {
        return;
    }
    let owner = EpollOwner { pid, epfd: fd };
    if unsafe { EPOLLS.get(&ep) } == Some(&owner) {
        let _ = EPOLLS.remove(&ep);
        new_generation();
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
    if ep == 0 || !maybe_traced_epoll(ep) {
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
    let (_, tid) = current();
    send(Ready {
        header: header::<Ready>(now(), (owner.pid, tid)),
        epfd: owner.epfd,
        fd: read(epi, &offsets::EPITEM_FD),
        mask,
        origin: Ready::origin_of(read(epi, &offsets::EPITEM_FILE)),
        data: read(epi, &offsets::EPITEM_DATA),
    });
}
