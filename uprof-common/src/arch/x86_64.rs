//! x86-64.
use super::Abi;

pub(super) const ABI: Abi = Abi {
    syscall_function_prefix: "__x64_sys_",
    syscall_arg_registers: ["di", "si", "dx", "r10", "r8", "r9"],
    // Declared packed: `data` right after `events`.
    epoll_event_size: 12,
    epoll_event_data: 4,
    absent_syscalls: &[],
};
