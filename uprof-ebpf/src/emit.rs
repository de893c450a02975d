//! Writing records into the ring buffer.
use core::mem::size_of;

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_get_smp_processor_id, bpf_ktime_get_ns},
    maps::ring_buf::RingBufEntry,
};
use uprof_common::{Header, RecordBody};

use crate::maps::{DROPS, EVENTS, TRACED, TRACED_SLOT_COUNT, TRACED_SLOTS, offsets::WAKEUP_BYTES};

/// `bpf_ringbuf_submit` flags.
const BPF_RB_NO_WAKEUP: u64 = 1;
const BPF_RB_FORCE_WAKEUP: u64 = 2;
/// `bpf_ringbuf_query`: bytes not yet consumed.
const BPF_RB_AVAIL_DATA: u64 = 0;

/// The current thread, split into (process id, thread id).
#[inline(always)]
pub fn current() -> (u32, u32) {
    let id = bpf_get_current_pid_tgid();
    ((id >> 32) as u32, id as u32)
}

/// True when the current process is traced: the first check of the syscall and task
/// programs.
#[inline(always)]
pub fn traced() -> bool {
    let (pid, _) = current();
    maybe_traced(pid) && unsafe { TRACED.get(&pid).is_some() }
}

/// False when process or thread `id` is certainly not traced: its slot in `TRACED_SLOTS` is
/// clear. An inlined array lookup, where a hash lookup is a helper call that hashes the key.
#[inline(always)]
pub fn maybe_traced(id: u32) -> bool {
    TRACED_SLOTS
        .get(id & (TRACED_SLOT_COUNT - 1))
        .is_some_and(|slot| *slot != 0)
}

/// Marks `id`'s slot: `id` may be traced from now on.
#[inline(always)]
pub fn mark_traced(id: u32) {
    if let Some(slot) = TRACED_SLOTS.get_ptr_mut(id & (TRACED_SLOT_COUNT - 1)) {
        unsafe { *slot = 1 };
    }
}

/// Zeroes the `N` 8-byte words at `dst`, one store each. LLVM merges runs of zero stores into a
/// `memset`, which in eBPF is a call of a byte-by-byte loop (about 5 instructions a byte):
/// volatile stores are never merged.
///
/// # Safety
/// `dst` must be valid for writes of `N` aligned words.
#[inline(always)]
pub unsafe fn zero_words<const N: usize>(dst: *mut u64) {
    for i in 0..N {
        unsafe { core::ptr::write_volatile(dst.add(i), 0) };
    }
}

#[inline(always)]
pub fn now() -> u64 {
    unsafe { bpf_ktime_get_ns() }
}

/// A header for a record of type `R` produced at `ts` by thread `tid` of process `pid` (the
/// caller has them from its one `current()`: each is a helper call).
#[inline(always)]
pub fn header<R: RecordBody>(ts: u64, (pid, tid): (u32, u32)) -> Header {
    Header {
        kind: R::KIND as u16,
        len: size_of::<R>() as u16,
        cpu: unsafe { bpf_get_smp_processor_id() },
        ts,
        pid,
        tid,
    }
}

/// Reserves room for one record, counting a drop when the buffer is full.
#[inline(always)]
pub fn reserve<R: RecordBody + 'static>() -> Option<RingBufEntry<R>> {
    let entry = EVENTS.reserve::<R>(0);
    if entry.is_none() {
        count_drop();
    }
    entry
}

/// Sends a record built on the stack.
#[inline(always)]
pub fn send<R: RecordBody + 'static>(record: R) {
    if let Some(mut entry) = reserve::<R>() {
        entry.write(record);
        entry.submit(wakeup());
    }
}

/// Wake the reader only once enough data waits: a wake-up per record costs the traced thread
/// more than the record itself (an interrupt, and a VM exit on virtual machines). The reader
/// also drains the buffer on a short timer, so nothing waits long.
#[inline(always)]
pub fn wakeup() -> u64 {
    if EVENTS.query(BPF_RB_AVAIL_DATA) >= crate::maps::offsets::get(&WAKEUP_BYTES) as u64 {
        BPF_RB_FORCE_WAKEUP
    } else {
        BPF_RB_NO_WAKEUP
    }
}

fn count_drop() {
    if let Some(n) = DROPS.get_ptr_mut(0) {
        unsafe { *n += 1 };
    }
}
