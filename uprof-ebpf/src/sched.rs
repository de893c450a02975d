//! Wake-ups of traced threads blocked in a wait (socket and callback tiers): `sched_waking`
//! names the waker, `sched_switch` says when the woken thread ran again. Only threads inside a
//! wait (`INFLIGHT`) are looked at: for a task of an untraced process each event usually ends
//! after two loads and an inlined array lookup (`TRACED_SLOTS`).
use uprof_common::{InFlight, WaitSyscall, Wake};

use crate::{
    emit::{current, header, maybe_traced, now, reserve, wakeup},
    kernel,
    maps::{INFLIGHT, offsets},
};

/// `TASK_INTERRUPTIBLE | TASK_UNINTERRUPTIBLE`, and the first alone: how epoll, poll and
/// select sleep for events. A thread inside a wait can also sleep uninterruptibly (on a lock,
/// in a page fault while copying events out); waking it from there is not a wake-up of the wait.
const SLEEP_BITS: u32 = 3;
const TASK_INTERRUPTIBLE: u32 = 1;

/// The `u32` at `offset` of `task`, a BTF-typed `struct task_struct *` argument: this runs
/// on every context switch, hence direct loads. (`state` was a `long` before 5.14: its low
/// half, on little-endian machines.)
#[inline(always)]
fn task_u32(task: u64, offset: &'static u32) -> u32 {
    kernel::load(task, offset)
}

/// The thread id and `INFLIGHT` entry of `task`, if its process may be traced and it has one.
#[inline(always)]
fn in_flight(task: u64) -> Option<(u32, &'static mut InFlight)> {
    if !maybe_traced(task_u32(task, &offsets::TASK_TGID)) {
        return None;
    }
    let tid = task_u32(task, &offsets::TASK_PID);
    INFLIGHT
        .get_ptr_mut(&tid)
        .map(|f| (tid, unsafe { &mut *f }))
}

/// `sched_waking(task)`: if `task` is a traced thread sleeping in a wait, report who woke it.
/// (The tracepoint fires before the task's state changes.)
#[inline(always)]
pub fn waking(task: u64) {
    if task_u32(task, &offsets::TASK_STATE) & SLEEP_BITS != TASK_INTERRUPTIBLE {
        return;
    }
    let Some((tid, f)) = in_flight(task) else {
        return;
    };
    let Some(syscall) = WaitSyscall::from_u8(f.call) else {
        return;
    };
    let ts = now();
    f.woken_ts = ts;
    let Some(mut entry) = reserve::<Wake>() else {
        return;
    };
    let (waker_pid, waker_tid) = current();
    let rec = entry.as_mut_ptr();
    // Field by field: the byte array of padding would be zeroed by a call to a byte-by-byte
    // memset.
    unsafe {
        (*rec).header = header::<Wake>(ts, (f.pid, tid));
        (*rec).enter_ts = f.ts;
        (*rec).waker_pid = waker_pid;
        (*rec).waker_tid = waker_tid;
        (*rec).epfd = syscall.target(&f.args).0;
        (*rec).syscall = syscall as u8;
        (*rec)._pad[0] = 0;
        (*rec)._pad[1] = 0;
        (*rec)._pad[2] = 0;
    }
    entry.submit(wakeup());
}

/// `sched_switch(.., next, ..)`: a woken thread runs again; keep the delay for its wait record.
#[inline(always)]
pub fn switch_in(next: u64) {
    let Some((_, f)) = in_flight(next) else {
        return;
    };
    if f.woken_ts != 0 {
        // At least 1: 0 means "not woken".
        f.run_delay_ns = now().saturating_sub(f.woken_ts).max(1);
        f.woken_ts = 0;
    }
}
