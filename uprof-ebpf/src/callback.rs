//! The callback tier: `ep_poll_callback` (an fd became ready and is queued on an epoll
//! instance's ready list), and the map from `struct eventpoll` addresses to the traced
//! `(pid, epfd)` they belong to. Kernel struct offsets come from BTF through
//! [`crate::maps::offsets`].
use aya_ebpf::helpers::{bpf_get_current_task, bpf_probe_read_kernel};
use uprof_common::{EPOLLEXCLUSIVE, EpollOwner, Ready};

use crate::{
    emit::{current, header, now, send},
    maps::{EPOLLS, offsets},
};

/// `epoll_event.events` bits that are flags, not events (`EP_PRIVATE_BITS` in fs/eventpoll.c).
const EP_PRIVATE_BITS: u32 = EPOLLEXCLUSIVE | (1 << 29) | (1 << 30) | (1 << 31);

/// Reads a `T` at kernel address `base + offset`.
#[inline(always)]
fn read<T>(base: u64, offset: &'static u32) -> Option<T> {
    let addr = base.wrapping_add(offsets::get(offset) as u64);
    unsafe { bpf_probe_read_kernel(addr as *const T) }.ok()
}

/// Whether the callback tier is loaded (the syscall programs then maintain `EPOLLS`).
#[inline(always)]
pub fn enabled() -> bool {
    offsets::get(&offsets::CALLBACK_TIER) != 0
}

/// The `struct eventpoll` (the file's `private_data`) behind `fd` of the current process, or
/// `None` when the fd is not open.
fn private_data_of(fd: i32) -> Option<u64> {
    if fd < 0 {
        return None;
    }
    let task = unsafe { bpf_get_current_task() };
    let files: u64 = read(task, &offsets::TASK_FILES)?;
    let fdt: u64 = read(files, &offsets::FILES_FDT)?;
    let max_fds: u32 = read(fdt, &offsets::FDTABLE_MAX_FDS)?;
    if fd as u32 >= max_fds {
        return None;
    }
    let table: u64 = read(fdt, &offsets::FDTABLE_FD)?;
    let file: u64 = unsafe { bpf_probe_read_kernel((table + fd as u64 * 8) as *const u64) }.ok()?;
    if file == 0 {
        return None;
    }
    read(file, &offsets::FILE_PRIVATE_DATA)
}

/// A traced thread's epoll call on `epfd` succeeded: `epfd` is an epoll fd, so remember whose
/// instance its `struct eventpoll` is.
#[inline(always)]
pub fn learn_epoll(epfd: i32) {
    if let Some(ep) = private_data_of(epfd) {
        let owner = EpollOwner {
            pid: current().0,
            epfd,
        };
        let _ = EPOLLS.insert(&ep, &owner, 0);
    }
}

/// A traced thread is about to close `fd`: if it is a known epoll instance of this process,
/// forget it (its memory may be reused by another process's instance).
#[inline(always)]
pub fn forget_epoll(fd: i32) {
    let Some(ep) = private_data_of(fd) else {
        return;
    };
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
    let Some(epi) = read::<u64>(entry, &offsets::EPPOLL_BASE) else {
        return;
    };
    let Some(ep) = read::<u64>(epi, &offsets::EPITEM_EP) else {
        return;
    };
    let Some(owner) = (unsafe { EPOLLS.get(&ep) }).copied() else {
        return;
    };
    let events: u32 = read(epi, &offsets::EPITEM_EVENTS).unwrap_or(0);
    let mask = key as u32;
    if events & !EP_PRIVATE_BITS == 0 || (mask != 0 && mask & events == 0) {
        return;
    }
    let mut header = header::<Ready>(now());
    header.pid = owner.pid;
    send(Ready {
        header,
        epfd: owner.epfd,
        fd: read(epi, &offsets::EPITEM_FD).unwrap_or(-1),
        mask,
        _pad: 0,
        data: read(epi, &offsets::EPITEM_DATA).unwrap_or(0),
    });
}
