//! uprof's eBPF programs: syscall tracepoints for the epoll and poll families and fd lifetime,
//! and scheduler tracepoints for the task lifecycle. Every program starts by checking that the
//! current process is traced (`TRACED`), so untraced processes pay one hash lookup.
#![no_std]
#![no_main]

mod emit;
mod maps;
mod syscalls;
mod tasks;

use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use uprof_common::{WaitSyscall, call};

/// One entry and one exit program per syscall, named after their tracepoints
/// (`syscalls:sys_enter_<name>` and `syscalls:sys_exit_<name>`).
macro_rules! syscall_programs {
    ($($enter:ident, $exit:ident => $call:expr;)*) => {$(
        #[tracepoint]
        pub fn $enter(ctx: TracePointContext) -> u32 {
            syscalls::enter(&ctx, $call)
        }
        #[tracepoint]
        pub fn $exit(ctx: TracePointContext) -> u32 {
            syscalls::exit(&ctx, $call)
        }
    )*};
}

syscall_programs! {
    sys_enter_epoll_create, sys_exit_epoll_create => call::EPOLL_CREATE;
    sys_enter_epoll_create1, sys_exit_epoll_create1 => call::EPOLL_CREATE1;
    sys_enter_epoll_ctl, sys_exit_epoll_ctl => call::EPOLL_CTL;
    sys_enter_epoll_wait, sys_exit_epoll_wait => WaitSyscall::EpollWait as u8;
    sys_enter_epoll_pwait, sys_exit_epoll_pwait => WaitSyscall::EpollPwait as u8;
    sys_enter_epoll_pwait2, sys_exit_epoll_pwait2 => WaitSyscall::EpollPwait2 as u8;
    sys_enter_poll, sys_exit_poll => WaitSyscall::Poll as u8;
    sys_enter_ppoll, sys_exit_ppoll => WaitSyscall::Ppoll as u8;
    sys_enter_select, sys_exit_select => WaitSyscall::Select as u8;
    sys_enter_pselect6, sys_exit_pselect6 => WaitSyscall::Pselect6 as u8;
    sys_enter_close, sys_exit_close => call::CLOSE;
    sys_enter_dup2, sys_exit_dup2 => call::DUP2;
    sys_enter_dup3, sys_exit_dup3 => call::DUP3;
}

#[tracepoint]
pub fn sched_process_fork(ctx: TracePointContext) -> u32 {
    tasks::fork(&ctx)
}

#[tracepoint]
pub fn sched_process_exec(ctx: TracePointContext) -> u32 {
    tasks::exec(&ctx)
}

#[tracepoint]
pub fn sched_process_exit(ctx: TracePointContext) -> u32 {
    tasks::exit(&ctx)
}

#[tracepoint]
pub fn task_rename(ctx: TracePointContext) -> u32 {
    tasks::rename(&ctx)
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
