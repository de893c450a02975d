//! uprof's eBPF programs:
//! - syscall hooks for the epoll and poll families and fd lifetime: fentry/fexit on the kernel's
//!   syscall functions, or the `syscalls:*` tracepoints where fentry is refused;
//! - scheduler tracepoints for the task lifecycle;
//! - `ep_poll_callback` as fentry or kprobe (callback tier), `sock:sk_data_ready` as a BTF
//!   tracepoint (socket tier), and `sched_waking` and `sched_switch` as BTF tracepoints for
//!   wake-ups of blocked waiters (both).
//!
//! The loader finds each program by the name `uprof_common::probes` gives it: the syscall
//! programs are generated from its table, the others carry its names (uprof-trace's tests
//! check that this object holds exactly the programs named there).
//!
//! Syscall and task programs start by checking that the current process is traced (`TRACED`);
//! the others check that the epoll instance (`EPOLLS`), the socket (`SOCKETS`) or the thread
//! (`INFLIGHT`) is traced. Untraced processes still pay for each hit (the hook, the program,
//! the lookup): measured in docs/probe-tiers.md, "What each tier costs".
//!
//! Every tracepoint program returns [`PASS`]: a tracepoint program returning 0 hides the event
//! from every other perf user of that tracepoint (`perf stat`, `perf trace` running beside us).
//! aya's `#[tracepoint]` macro always returns 0, so [`tracepoint!`] declares the programs
//! instead. (fentry and fexit programs must return 0; a kprobe's return value only matters to
//! its own perf event.)
#![no_std]
#![no_main]
// `atomic_xadd`: see `callback::new_generation`.
#![allow(internal_features)]
#![feature(core_intrinsics)]

mod aggregate;
mod callback;
mod emit;
mod kernel;
mod maps;
mod sched;
mod sockets;
mod syscalls;
mod tasks;

use core::ffi::c_void;

use aya_ebpf::{
    macros::{btf_tracepoint, fentry, kprobe},
    programs::{
        BtfTracePointContext, FEntryContext, FExitContext, ProbeContext, TracePointContext,
    },
};

/// What every program returns: let the event go on to other perf users.
const PASS: u32 = 1;

/// A tracepoint program named `$name` (the section aya's loader recognises), running `$body`
/// on the context and returning [`PASS`].
macro_rules! tracepoint {
    ($name:ident, |$ctx:ident| $body:expr) => {
        #[unsafe(no_mangle)]
        #[unsafe(link_section = "tracepoint")]
        pub fn $name(raw: *mut c_void) -> u32 {
            let $ctx = TracePointContext::new(raw);
            $body;
            PASS
        }
    };
}

/// Programs fentry and fexit attach to: they must return 0.
macro_rules! btf_program {
    ($section:literal, $name:ident, $context:ident, |$ctx:ident| $body:expr) => {
        #[unsafe(no_mangle)]
        #[unsafe(link_section = $section)]
        pub fn $name(raw: *mut c_void) -> i32 {
            let $ctx = $context::new(raw);
            $body;
            0
        }
    };
}

/// The tracepoint programs of a syscall: `syscalls:sys_enter_<name>` and `sys_exit_<name>`.
macro_rules! syscall_tracepoints {
    ($enter:ident, $exit:ident, $call:expr) => {
        tracepoint!($enter, |ctx| syscalls::enter($call, || {
            syscalls::tracepoint_args(&ctx)
        }));
        tracepoint!($exit, |ctx| syscalls::exit($call, || {
            syscalls::tracepoint_ret(&ctx)
        }));
    };
}

/// The programs of every syscall in `uprof_common::with_syscall_programs!`'s table, under the
/// names the table gives them. The loader prefers fentry and fexit on the kernel's syscall
/// function (whose one argument is the caller's saved registers) to the tracepoints: once any
/// syscall tracepoint is enabled, every syscall of every task on the machine takes the kernel's
/// slow path, while a function hook costs only the calls it hooks.
///
/// Calls whose entry matters (the waits: when they blocked, with what timeout; `close`: the
/// kernel frees the number at once, see `syscalls::stamp`) get fentry and fexit. The others get
/// fexit alone (the saved registers still hold the arguments at the return): one program per
/// call instead of two.
macro_rules! syscall_programs {
    (
        entry_and_exit {
            $($name:ident($call:expr, $required:literal) =>
                $enter:ident, $exit:ident, $fentry:ident, $fexit:ident;)*
        }
        exit_only {
            $($xname:ident($xcall:expr, $xrequired:literal) =>
                $xenter:ident, $xexit:ident, $xfexit:ident;)*
        }
    ) => {
        $(
            syscall_tracepoints!($enter, $exit, $call);
            btf_program!("fentry", $fentry, FEntryContext, |ctx| {
                syscalls::enter($call, || syscalls::regs_args(ctx.arg(0)))
            });
            btf_program!("fexit", $fexit, FExitContext, |ctx| {
                syscalls::exit($call, || ctx.arg(1))
            });
        )*
        $(
            syscall_tracepoints!($xenter, $xexit, $xcall);
            btf_program!("fexit", $xfexit, FExitContext, |ctx| {
                syscalls::returned($xcall, || syscalls::regs_args(ctx.arg(0)), ctx.arg(1))
            });
        )*
    };
}

uprof_common::with_syscall_programs!(syscall_programs);

tracepoint!(sched_process_fork, |ctx| tasks::fork(&ctx));

tracepoint!(sched_process_exec, |ctx| tasks::exec(&ctx));

tracepoint!(sched_process_exit, |ctx| tasks::exit(&ctx));

tracepoint!(task_rename, |ctx| tasks::rename(&ctx));

/// The callback tier, fentry flavour (the loader tries it first). fentry programs must return 0.
#[fentry(function = "ep_poll_callback")]
pub fn ep_poll_callback_fentry(ctx: FEntryContext) -> u32 {
    callback::ep_poll_callback(ctx.arg::<u64>(0), ctx.arg::<u64>(3));
    0
}

/// The callback tier, kprobe flavour: for kernels that refuse fentry.
#[kprobe]
pub fn ep_poll_callback_kprobe(ctx: ProbeContext) -> u32 {
    if let (Some(wait), Some(key)) = (ctx.arg::<u64>(0), ctx.arg::<u64>(3)) {
        callback::ep_poll_callback(wait, key);
    }
    0
}

/// The socket tier: a socket received data or a connection.
#[btf_tracepoint(function = "sk_data_ready")]
pub fn sk_data_ready(ctx: BtfTracePointContext) -> i32 {
    sockets::sk_data_ready(ctx.arg::<u64>(0));
    0
}

/// Wake-ups: a task is being woken.
#[btf_tracepoint(function = "sched_waking")]
pub fn sched_waking(ctx: BtfTracePointContext) -> i32 {
    sched::waking(ctx.arg::<u64>(0));
    0
}

/// Wake-ups: a task starts running (`next`, the third argument).
#[btf_tracepoint(function = "sched_switch")]
pub fn sched_switch(ctx: BtfTracePointContext) -> i32 {
    sched::switch_in(ctx.arg::<u64>(2));
    0
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
