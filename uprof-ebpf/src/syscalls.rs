//! Syscall entry and exit, hooked either by the `syscalls:*` tracepoints or by fentry/fexit on
//! the kernel's syscall functions (see `main.rs`). Entry remembers the arguments of a traced
//! thread's call in `INFLIGHT`; exit turns them and the result into one record (plus, for
//! epoll waits, the returned events read from the caller's buffer while it is still valid).
use core::{
    ffi::c_void,
    mem::{MaybeUninit, size_of},
};

use aya_ebpf::{
    helpers::{bpf_probe_read_user, generated},
    programs::TracePointContext,
};
use uprof_common::{
    Close, Dup, EINTR, EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_EVENT_SIZE, EVENTS_PER_CHUNK,
    EpollCreate, EpollCtl, Header, InFlight, MAX_EVENT_CHUNKS, TIMEOUT_INFINITE, Wait, WaitEvents,
    WaitSyscall, arch, call,
};

use crate::{
    aggregate, callback,
    emit::{current, header, maybe_traced, now, reserve, send, wakeup, zero_words},
    kernel,
    maps::{INFLIGHT, TRACED, offsets},
    sockets,
};

/// The six arguments in a `sys_enter_*` tracepoint's context: one read.
#[inline(always)]
pub fn tracepoint_args(ctx: &TracePointContext) -> [u64; 6] {
    unsafe { ctx.read_at::<[u64; 6]>(offsets::get(&offsets::SYSCALL_ARGS)) }.unwrap_or([0; 6])
}

/// The syscall's return value from a `sys_exit_*` tracepoint's context.
#[inline(always)]
pub fn tracepoint_ret(ctx: &TracePointContext) -> i64 {
    unsafe { ctx.read_at(offsets::get(&offsets::SYSCALL_RET)) }.unwrap_or(0)
}

/// The six argument registers saved in `regs`, the `struct pt_regs *` a syscall function
/// (`__x64_sys_*`, `__arm64_sys_*`) receives: direct loads at the offsets the loader read from
/// BTF (`uprof_common::arch`).
#[inline(always)]
pub fn regs_args(regs: u64) -> [u64; 6] {
    use offsets::{
        PT_REGS_ARG0, PT_REGS_ARG1, PT_REGS_ARG2, PT_REGS_ARG3, PT_REGS_ARG4, PT_REGS_ARG5,
    };
    [
        kernel::load(regs, &PT_REGS_ARG0),
        kernel::load(regs, &PT_REGS_ARG1),
        kernel::load(regs, &PT_REGS_ARG2),
        kernel::load(regs, &PT_REGS_ARG3),
        kernel::load(regs, &PT_REGS_ARG4),
        kernel::load(regs, &PT_REGS_ARG5),
    ]
}

/// The timeout of call `call` with `args`, in ns (waits), or [`TIMEOUT_INFINITE`].
#[inline(always)]
fn timeout_of(call: u8, args: &[u64; 6]) -> i64 {
    match WaitSyscall::from_u8(call) {
        Some(syscall) => wait_timeout(syscall, args),
        None => TIMEOUT_INFINITE,
    }
}

/// Call `call` of a thread of process `pid` with `args`, entered at `ts`, built without the
/// calls of a byte-by-byte `memset` its zero fields would compile to (see `zero_words`).
#[inline(always)]
fn new_in_flight(call: u8, pid: u32, args: [u64; 6], ts: u64) -> InFlight {
    let mut f = MaybeUninit::<InFlight>::uninit();
    // SAFETY: every field is an integer (any bits are valid) and the value is 8-byte aligned.
    let mut f = unsafe {
        zero_words::<{ size_of::<InFlight>() / 8 }>(f.as_mut_ptr().cast());
        f.assume_init()
    };
    f.ts = ts;
    f.timeout_ns = timeout_of(call, &args);
    f.args = args;
    f.call = call;
    f.pid = pid;
    f.known_epfd = -1;
    f
}

/// Entry of any traced syscall: remember `call`, the arguments and the time in the thread's
/// `INFLIGHT` entry. A thread that has an entry is traced (entries are made only for threads of
/// traced processes, and removed at their exit): its entry is overwritten in place, field by
/// field, after one lookup. Only a thread's first call looks in `TRACED` and inserts one.
#[inline(always)]
pub fn enter(call: u8, args: impl FnOnce() -> [u64; 6]) {
    let (pid, tid) = current();
    if !maybe_traced(pid) {
        return;
    }
    let args = match INFLIGHT.get_ptr_mut(&tid) {
        Some(entry) => {
            let f = unsafe { &mut *entry };
            f.args = args();
            f.timeout_ns = timeout_of(call, &f.args);
            f.ts = now();
            f.call = call;
            f.pid = pid;
            // woken_ts, run_delay_ns: adjacent words.
            unsafe { zero_words::<2>(&mut f.woken_ts) };
            f.args
        }
        None => {
            if unsafe { TRACED.get(&pid) }.is_none() {
                return;
            }
            let args = args();
            let f = new_in_flight(call, pid, args, now());
            let _ = INFLIGHT.insert(&tid, &f, 0);
            args
        }
    };
    if call == call::CLOSE && callback::enabled() {
        callback::forget_epoll(args[0] as i32, pid);
    }
}

/// Exit of a traced syscall: emit its record. A thread without a matching entry (it was
/// already inside the call when tracing began) is ignored.
#[inline(always)]
pub fn exit(call: u8, ret: impl FnOnce() -> i64) {
    let task = current();
    if !maybe_traced(task.0) {
        return;
    }
    let Some(entry) = INFLIGHT.get_ptr_mut(&task.1) else {
        return;
    };
    let entry = unsafe { &mut *entry };
    let f = *entry;
    if f.call == call::NONE {
        return;
    }
    entry.call = call::NONE;
    entry.woken_ts = 0;
    if f.call != call {
        return;
    }
    let ret = ret();
    let ts = stamp(&f, now());
    let Some(syscall) = WaitSyscall::from_u8(call) else {
        finish(&f, task, ret, ts);
        return;
    };
    if callback::enabled() && syscall.is_epoll() && (ret >= 0 || ret == -EINTR) {
        // The wait succeeded (or was interrupted): its first argument is an epoll fd.
        callback::learn_epoll_of_wait(entry, f.args[0] as i32, task.0);
    }
    if aggregate::enabled() {
        aggregate::wait(entry, &f, task, syscall, ts, ret);
    }
    finish_wait(&f, task, syscall, ts, ret);
}

/// The time the record of call `f`, returning at `exit_ts`, carries. The kernel frees an fd
/// number as `close` begins and only then releases the file, so another thread can get the
/// number for a new fd, and have its calls on it recorded, before the `close` returns: a
/// `close` is stamped at its entry. Calls that give a number a new file (`epoll_create`,
/// `dup2`, `dup3`) or use it (`epoll_ctl`, the waits) are stamped at their return, after the
/// kernel acted. So of two threads' calls on one number, the one the kernel let act first has
/// the earlier time, whichever returns first.
#[inline(always)]
fn stamp(f: &InFlight, exit_ts: u64) -> u64 {
    if f.call == call::CLOSE { f.ts } else { exit_ts }
}

/// The return of a traced syscall hooked at its return only (fexit), whose arguments are
/// still in `args` (the caller's saved registers): one program per call instead of two, for
/// the calls whose entry time does not matter (`epoll_ctl`, `epoll_create`, `dup2`).
#[inline(always)]
pub fn returned(call: u8, args: impl FnOnce() -> [u64; 6], ret: i64) {
    let task = current();
    let pid = task.0;
    if !maybe_traced(pid) || unsafe { TRACED.get(&pid) }.is_none() {
        return;
    }
    let ts = now();
    let f = new_in_flight(call, pid, args(), ts);
    finish(&f, task, ret, ts);
}

/// Emits the record of call `f` (not a wait) of thread `task`, which returned `ret` at `ts`,
/// after what the tiers learn from it.
#[inline(always)]
fn finish(f: &InFlight, task: (u32, u32), ret: i64, ts: u64) {
    let call = f.call;
    if callback::enabled() {
        if call == call::EPOLL_CTL && ret == 0 {
            callback::learn_epoll(f.args[0] as i32, task.0);
        }
        if (call == call::DUP2 || call == call::DUP3) && ret >= 0 {
            // The new fd may have been an epoll fd: threads must look at theirs again.
            callback::new_generation();
        }
    }
    if sockets::enabled()
        && call == call::EPOLL_CTL
        && ret == 0
        && f.args[1] == EPOLL_CTL_ADD as u64
    {
        sockets::learn(f.args[2] as i32, ts, task);
    }
    match call {
        call::EPOLL_CREATE | call::EPOLL_CREATE1 => send(EpollCreate {
            header: header::<EpollCreate>(ts, task),
            flags: if call == call::EPOLL_CREATE1 {
                f.args[0] as i32
            } else {
                0
            },
            ret: ret as i32,
        }),
        call::EPOLL_CTL => send_ctl(f, task, ts, ret),
        call::CLOSE => send(Close {
            header: header::<Close>(ts, task),
            fd: f.args[0] as i32,
            ret: ret as i32,
        }),
        call::DUP2 | call::DUP3 => send(Dup {
            header: header::<Dup>(ts, task),
            oldfd: f.args[0] as i32,
            newfd: f.args[1] as i32,
            flags: if call == call::DUP3 {
                f.args[2] as i32
            } else {
                0
            },
            ret: ret as i32,
        }),
        _ => {}
    }
}

fn send_ctl(f: &InFlight, task: (u32, u32), ts: u64, ret: i64) {
    let op = f.args[1] as i32;
    let (mut events, mut data) = (0, 0);
    // The caller's `struct epoll_event`; DEL may pass NULL.
    if op != EPOLL_CTL_DEL && f.args[3] != 0 {
        if let Ok(raw) = unsafe { bpf_probe_read_user(f.args[3] as *const [u8; EPOLL_EVENT_SIZE]) }
        {
            (events, data) = arch::decode_epoll_event(&raw);
        }
    }
    send(EpollCtl {
        header: header::<EpollCtl>(ts, task),
        enter_ts: f.ts,
        epfd: f.args[0] as i32,
        op,
        fd: f.args[2] as i32,
        events,
        data,
        ret: ret as i32,
        _pad: 0,
    });
}

/// Emits the record of a wait of thread `task` that returned `ret` (or never will: `flags`),
/// submitted with `submit_flags`.
#[inline(always)]
pub fn send_wait(
    f: &InFlight,
    task: (u32, u32),
    syscall: WaitSyscall,
    (ts, ret): (u64, i64),
    (flags, captured): (u8, u16),
    submit_flags: u64,
) {
    if let Some(mut entry) = reserve::<Wait>() {
        entry.write(Wait::new(
            header::<Wait>(ts, task),
            f,
            syscall,
            ret,
            flags,
            captured,
        ));
        entry.submit(submit_flags);
    }
}

#[inline(always)]
fn finish_wait(f: &InFlight, task: (u32, u32), syscall: WaitSyscall, ts: u64, ret: i64) {
    let max_captured = (EVENTS_PER_CHUNK * MAX_EVENT_CHUNKS) as i64;
    let captured = if syscall.is_epoll() && ret > 0 {
        ret.min(max_captured) as u32
    } else {
        0
    };
    if captured == 0 && aggregate::enabled() {
        // Counted in the kernel; only the fd kinds of returned events need user space.
        return;
    }
    // Decided once for the wait and its events: each decision is a helper call.
    let flags = wakeup();
    send_wait(f, task, syscall, (ts, ret), (0, captured as u16), flags);
    if captured > 0 {
        send_events(f.args[1], captured, &header::<WaitEvents>(ts, task), flags);
    }
}

/// Words of [`WaitEvents::raw`].
const RAW_WORDS: usize = EVENTS_PER_CHUNK * EPOLL_EVENT_SIZE / 8;
const _: () = assert!(RAW_WORDS * 8 == EVENTS_PER_CHUNK * EPOLL_EVENT_SIZE);

/// Copies `n` returned `struct epoll_event`s from the caller's buffer, a chunk per record with
/// `header`, written straight into the ring buffer. (Not inlined: a function, whose arguments
/// must fit the five argument registers.)
fn send_events(user_events: u64, n: u32, header: &Header, flags: u64) {
    for chunk in 0..MAX_EVENT_CHUNKS as u32 {
        let start = chunk * EVENTS_PER_CHUNK as u32;
        if start >= n {
            break;
        }
        let count = (n - start).min(EVENTS_PER_CHUNK as u32);
        let Some(mut entry) = reserve::<WaitEvents>() else {
            break;
        };
        let rec = entry.as_mut_ptr();
        unsafe {
            (*rec).header = *header;
            (*rec).chunk = chunk as u16;
            (*rec).count = count as u16;
            (*rec)._pad = 0;
            // Word by word (the reservation is 8-byte aligned): as a byte array, a call of a
            // byte-by-byte memset, about 1,000 instructions.
            zero_words::<RAW_WORDS>(core::ptr::addr_of_mut!((*rec).raw) as *mut u64);
            // A pointer from the caller: a wrapped one only makes the read fail.
            let offset = start as u64 * EPOLL_EVENT_SIZE as u64;
            let src = user_events.wrapping_add(offset) as *const c_void;
            let size = count * EPOLL_EVENT_SIZE as u32;
            if generated::bpf_probe_read_user((*rec).raw.as_mut_ptr() as *mut c_void, size, src) < 0
            {
                (*rec).count = 0;
            }
        }
        entry.submit(flags);
    }
}

/// The timeout a wait was called with, in ns.
fn wait_timeout(syscall: WaitSyscall, args: &[u64; 6]) -> i64 {
    match syscall {
        WaitSyscall::EpollWait | WaitSyscall::EpollPwait => millis(args[3]),
        WaitSyscall::Poll => millis(args[2]),
        WaitSyscall::EpollPwait2 => timespec(args[3], 1),
        WaitSyscall::Ppoll => timespec(args[2], 1),
        WaitSyscall::Pselect6 => timespec(args[4], 1),
        // struct timeval: microseconds.
        WaitSyscall::Select => timespec(args[4], 1000),
    }
}

/// An `int` timeout in milliseconds; negative means infinite.
fn millis(arg: u64) -> i64 {
    let ms = arg as i32;
    if ms < 0 {
        TIMEOUT_INFINITE
    } else {
        ms as i64 * 1_000_000
    }
}

/// About 292 years: the largest whole number of seconds whose nanoseconds fit in an i64.
const MAX_TIMEOUT_SECS: i64 = 9_000_000_000;

/// A user pointer to a {seconds, fraction} pair (timespec or timeval, `frac_ns` ns per unit of
/// the fraction); NULL means infinite.
fn timespec(ptr: u64, frac_ns: i64) -> i64 {
    if ptr == 0 {
        return TIMEOUT_INFINITE;
    }
    match unsafe { bpf_probe_read_user(ptr as *const [i64; 2]) } {
        // Plain arithmetic in a range that cannot overflow (checked multiplication would need
        // 128-bit helpers BPF does not have); longer timeouts are as good as infinite here.
        Ok([sec, frac])
            if (0..=MAX_TIMEOUT_SECS).contains(&sec) && (0..1_000_000_000).contains(&frac) =>
        {
            sec * 1_000_000_000 + frac * frac_ns
        }
        Ok(_) => TIMEOUT_INFINITE,
        Err(_) => TIMEOUT_INFINITE,
    }
}
