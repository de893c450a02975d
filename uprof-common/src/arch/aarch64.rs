//! arm64 (aarch64).
use super::Abi;
use crate::{WaitSyscall, call};

pub(super) const ABI: Abi = Abi {
    syscall_function_prefix: "__arm64_sys_",
    // x0-x5 are `regs[0..6]` (in an anonymous union with `struct user_pt_regs`). The first
    // argument is read from `orig_x0`, as libbpf does: `regs[0]` becomes the return value.
    syscall_arg_registers: [
        "orig_x0", "regs[1]", "regs[2]", "regs[3]", "regs[4]", "regs[5]",
    ],
    // Not packed: `data` is 8-byte aligned.
    epoll_event_size: 16,
    epoll_event_data: 8,
    // The generic syscall table (include/uapi/asm-generic/unistd.h) has only the newer forms:
    // epoll_pwait, epoll_create1, ppoll, pselect6, dup3.
    absent_syscalls: &[
        WaitSyscall::EpollWait as u8,
        WaitSyscall::Poll as u8,
        WaitSyscall::Select as u8,
        call::EPOLL_CREATE,
        call::DUP2,
    ],
};
