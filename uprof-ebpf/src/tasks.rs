//! Task lifecycle: follow children of traced processes, name threads, close waits of threads
//! that exit while blocked.
use aya_ebpf::{helpers::bpf_get_current_comm, programs::TracePointContext};
use uprof_common::{COMM_LEN, Fork, Kind, TaskComm, WAIT_ABANDONED, WaitSyscall};

use crate::{
    emit::{current, header, mark_traced, now, send, traced, wakeup},
    maps::{INFLIGHT, TRACED, offsets},
    syscalls::send_wait,
};

fn comm() -> [u8; COMM_LEN] {
    bpf_get_current_comm().unwrap_or([0; COMM_LEN])
}

fn send_comm(kind: Kind, tid: u32, name: [u8; COMM_LEN]) {
    let mut header = header::<TaskComm>(now(), (current().0, tid));
    header.kind = kind as u16;
    send(TaskComm { header, comm: name });
}

/// `sched_process_fork`, in the parent: trace the child too.
pub fn fork(ctx: &TracePointContext) {
    if !traced() {
        return;
    }
    let Ok(child) = (unsafe { ctx.read_at::<u32>(offsets::get(&offsets::FORK_CHILD_PID)) }) else {
        return;
    };
    // A new thread gets an entry too (its id is not a process id): harmless, and removed at
    // its exit. A new process needs it to be traced from its first instruction.
    mark_traced(child);
    let _ = TRACED.insert(&child, &1, 0);
    send(Fork {
        header: header::<Fork>(now(), current()),
        child_tid: child,
        _pad: 0,
        comm: comm(),
    });
}

/// `sched_process_exec`: the process has a new name.
pub fn exec(_ctx: &TracePointContext) {
    if traced() {
        send_comm(Kind::Exec, current().1, comm());
    }
}

/// `sched_process_exit`, for every exiting thread.
pub fn exit(_ctx: &TracePointContext) {
    if !traced() {
        return;
    }
    let (pid, tid) = current();
    if let Some(f) = unsafe { INFLIGHT.get(&tid) }.copied() {
        // The thread dies inside a syscall: its exit tracepoint will never fire.
        if let Some(syscall) = WaitSyscall::from_u8(f.call) {
            send_wait(
                &f,
                (pid, tid),
                syscall,
                (now(), 0),
                (WAIT_ABANDONED, 0),
                wakeup(),
            );
        }
        let _ = INFLIGHT.remove(&tid);
    }
    send_comm(Kind::Exit, tid, comm());
    if tid != pid {
        let _ = TRACED.remove(&tid);
    }
}

/// `task_rename` (prctl PR_SET_NAME, writes to /proc/.../comm): `header.tid` is the renamed
/// thread.
pub fn rename(ctx: &TracePointContext) {
    if !traced() {
        return;
    }
    let target = unsafe { ctx.read_at::<u32>(offsets::get(&offsets::RENAME_PID)) };
    let name = unsafe { ctx.read_at::<[u8; COMM_LEN]>(offsets::get(&offsets::RENAME_NEWCOMM)) };
    if let (Ok(target), Ok(name)) = (target, name) {
        send_comm(Kind::Rename, target, name);
    }
}
