//! Syscall entry and exit, hooked either by the `syscalls:*` tracepoints or by fentry/fexit on
//! the kernel's syscall functions (see `main.rs`). Entry remembers the arguments of a traced
//! thread's call in `INFLIGHT`; exit turns them and the result into one record (plus, for
//! epoll waits, the returned events read from the caller's buffer while it is still valid).
use core::ffi::c_void;

use aya_ebpf::{
    helpers::{bpf_probe_read_user, generated},
    programs::TracePointContext,
};
use uprof_common::{
    Close, Dup, EINTR, EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_EVENT_SIZE, EVENTS_PER_CHUNK,
    EpollCreate, EpollCtl, InFlight, MAX_EVENT_CHUNKS, TIMEOUT_INFINITE, Wait, WaitEvents,
    WaitSyscall, arch, call,
};

use crate::{
    callback,
    emit::{current, header, maybe_traced, now, reserve, send, traced, wakeup},
    kernel,
    maps::{INFLIGHT, offsets},
    sockets,
};

/// The six arguments in a `sys_enter_*` tracepoint's context.
#[inline(always)]
pub fn tracepoint_args(ctx: &TracePointContext) -> [u64; 6] {
    let base = offsets::get(&offsets::SYSCALL_ARGS);
    let mut args = [0; 6];
    for (i, arg) in args.iter_mut().enumerate() {
        *arg = unsafe { ctx.read_at::<u64>(base + i * 8) }.unwrap_or(0);
    }
    args
}

/// The syscall's return value from a `sys_exit_*` tracepoint's context.
#[inline(always)]
pub fn tracepoint_ret(ctx: &TracePointContext) -> i64 {
    unsafe { ctx.read_at(offsets::get(&offsets::SYSCALL_RET)) }.unwrap_or(0)
}

/// The six argument registers saved in `regs`, the `struct pt_regs *` a syscall function
/// (`__x64_sys_*`) receives: direct loads at the offsets the loader read from BTF.
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

/// What a traced thread's call is, from its arguments (`args` reads them: only for traced
/// threads), entered now; `None` for untraced threads.
#[inline(always)]
fn in_flight(call: u8, args: impl FnOnce() -> [u64; 6]) -> Option<(u32, InFlight)> {
    if !traced() {
        return None;
    }
    let (pid, tid) = current();
    let mut f = InFlight {
        ts: now(),
        timeout_ns: TIMEOUT_INFINITE,
        call,
        pid,
        args: args(),
        ..Default::default()
    };
    if let Some(syscall) = WaitSyscall::from_u8(call) {
        f.timeout_ns = wait_timeout(syscall, &f.args);
    }
    Some((tid, f))
}

/// Entry of any traced syscall: remember `call`, the arguments and the time in the thread's
/// `INFLIGHT` entry, overwritten in place when it has one (cheaper than an insertion and a
/// deletion per call).
#[inline(always)]
pub fn enter(call: u8, args: impl FnOnce() -> [u64; 6]) {
    let Some((tid, f)) = in_flight(call, args) else {
        return;
    };
    if call == call::CLOSE && callback::enabled() {
        callback::forget_epoll(f.args[0] as i32);
    }
    match INFLIGHT.get_ptr_mut(&tid) {
        Some(entry) => unsafe { *entry = f },
        None => {
            let _ = INFLIGHT.insert(&tid, &f, 0);
        }
    }
}

/// Exit of a traced syscall: emit its record. A thread without a matching entry (it was
/// already inside the call when tracing began) is ignored.
#[inline(always)]
pub fn exit(call: u8, ret: impl FnOnce() -> i64) {
    let (pid, tid) = current();
    if !maybe_traced(pid) {
        return;
    }
    let Some(entry) = INFLIGHT.get_ptr_mut(&tid) else {
        return;
    };
    let f = unsafe { *entry };
    if f.call == call::NONE {
        return;
    }
    unsafe {
        (*entry).call = call::NONE;
        (*entry).woken_ts = 0;
    }
    if f.call == call {
        finish(&f, ret(), stamp(&f, now()));
    }
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
    if let Some((_, f)) = in_flight(call, args) {
        finish(&f, ret, f.ts);
    }
}

/// Emits the record of call `f`, which returned `ret` at `ts`.
#[inline(always)]
fn finish(f: &InFlight, ret: i64, ts: u64) {
    let call = f.call;
    if callback::enabled() && names_epoll(call, ret) {
        callback::learn_epoll(f.args[0] as i32);
    }
    if sockets::enabled()
        && call == call::EPOLL_CTL
        && ret == 0
        && f.args[1] == EPOLL_CTL_ADD as u64
    {
        sockets::learn(f.args[2] as i32, ts);
    }
    match call {
        call::EPOLL_CREATE | call::EPOLL_CREATE1 => send(EpollCreate {
            header: header::<EpollCreate>(ts),
            flags: if call == call::EPOLL_CREATE1 {
                f.args[0] as i32
            } else {
                0
            },
            ret: ret as i32,
        }),
        call::EPOLL_CTL => send_ctl(f, ts, ret),
        call::CLOSE => send(Close {
            header: header::<Close>(ts),
            fd: f.args[0] as i32,
            ret: ret as i32,
        }),
        call::DUP2 | call::DUP3 => send(Dup {
            header: header::<Dup>(ts),
            oldfd: f.args[0] as i32,
            newfd: f.args[1] as i32,
            flags: if call == call::DUP3 {
                f.args[2] as i32
            } else {
                0
            },
            ret: ret as i32,
        }),
        _ => {
            if let Some(syscall) = WaitSyscall::from_u8(call) {
                finish_wait(f, syscall, ts, ret);
            }
        }
    }
}

/// Whether a call that returned `ret` proves its first argument is an epoll fd.
#[inline(always)]
fn names_epoll(call: u8, ret: i64) -> bool {
    match call {
        call::EPOLL_CTL => ret == 0,
        _ => {
            WaitSyscall::from_u8(call).is_some_and(|s| s.is_epoll()) && (ret >= 0 || ret == -EINTR)
        }
    }
}

fn send_ctl(f: &InFlight, ts: u64, ret: i64) {
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
        header: header::<EpollCtl>(ts),
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

/// Emits the record of a wait that returned `ret` (or never will: `flags`).
#[inline(always)]
pub fn send_wait(f: &InFlight, syscall: WaitSyscall, ts: u64, ret: i64, flags: u8, captured: u16) {
    send(Wait::new(
        header::<Wait>(ts),
        f,
        syscall,
        ret,
        flags,
        captured,
    ));
}

fn finish_wait(f: &InFlight, syscall: WaitSyscall, ts: u64, ret: i64) {
    let max_captured = (EVENTS_PER_CHUNK * MAX_EVENT_CHUNKS) as i64;
    let captured = if syscall.is_epoll() && ret > 0 {
        ret.min(max_captured) as u32
    } else {
        0
    };
    send_wait(f, syscall, ts, ret, 0, captured as u16);
    if captured > 0 {
        send_events(f.args[1], captured, ts);
    }
}

/// Copies `n` returned `struct epoll_event`s from the caller's buffer, a chunk per record.
fn send_events(user_events: u64, n: u32, ts: u64) {
    // Decided once: a decision per chunk multiplies the states the verifier must explore
    // (older verifiers give up on the unrolled loop).
    let flags = wakeup();
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
            (*rec).header = header::<WaitEvents>(ts);
            (*rec).chunk = chunk as u16;
            (*rec).count = count as u16;
            (*rec)._pad = 0;
            (*rec).raw = [0; EVENTS_PER_CHUNK * EPOLL_EVENT_SIZE];
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
