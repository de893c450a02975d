//! The facts of each architecture's ABI that uprof's records and programs depend on, each
//! stated once, in that architecture's module ([`Abi`]). The build's own architecture
//! ([`TARGET`]) is chosen at compile time: by `target_arch` in user space, and by
//! `bpf_target_arch` in the eBPF programs (compiled for `bpf`), which aya-build sets from the
//! user-space build's target, so that a cross build's programs get the target's facts.
mod aarch64;
mod x86_64;

/// An architecture uprof runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Aarch64,
}

/// What uprof needs to know of an architecture.
#[derive(Debug)]
pub struct Abi {
    /// Prefix of the kernel's syscall functions (`__x64_sys_epoll_wait`), which fentry hooks.
    pub syscall_function_prefix: &'static str,
    /// Where a syscall function's `struct pt_regs` (the caller's saved registers) holds the
    /// six arguments, in order: BTF member paths, read at load time.
    pub syscall_arg_registers: [&'static str; 6],
    /// Size of `struct epoll_event` (`u32 events`, then `u64 data`).
    pub epoll_event_size: usize,
    /// Where `data` starts in a `struct epoll_event`.
    pub epoll_event_data: usize,
    /// The hooked syscalls (their `InFlight::call` values, see `probes::SYSCALLS`) this
    /// architecture does not have: libc uses their newer forms there.
    pub absent_syscalls: &'static [u8],
}

impl Arch {
    pub const ALL: [Arch; 2] = [Arch::X86_64, Arch::Aarch64];

    /// The name in messages and `uprof doctor` (Rust's `target_arch`).
    pub const fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }

    pub const fn abi(self) -> &'static Abi {
        match self {
            Arch::X86_64 => &x86_64::ABI,
            Arch::Aarch64 => &aarch64::ABI,
        }
    }

    /// Whether the syscall whose `InFlight::call` value is `call` exists here.
    pub fn has_syscall(self, call: u8) -> bool {
        !self.abi().absent_syscalls.contains(&call)
    }
}

/// The architecture this build is for.
#[cfg(any(target_arch = "x86_64", bpf_target_arch = "x86_64"))]
pub const TARGET: Arch = Arch::X86_64;
#[cfg(any(target_arch = "aarch64", bpf_target_arch = "aarch64"))]
pub const TARGET: Arch = Arch::Aarch64;
#[cfg(not(any(
    target_arch = "x86_64",
    bpf_target_arch = "x86_64",
    target_arch = "aarch64",
    bpf_target_arch = "aarch64"
)))]
compile_error!("uprof supports x86_64 and aarch64 (for eBPF: set by aya-build's bpf_target_arch)");

/// [`Abi::syscall_function_prefix`] of [`TARGET`].
pub const SYSCALL_FUNCTION_PREFIX: &str = TARGET.abi().syscall_function_prefix;

/// [`Abi::syscall_arg_registers`] of [`TARGET`].
pub const SYSCALL_ARG_REGISTERS: [&str; 6] = TARGET.abi().syscall_arg_registers;

/// [`Abi::epoll_event_size`] of [`TARGET`].
pub const EPOLL_EVENT_SIZE: usize = TARGET.abi().epoll_event_size;

const EPOLL_EVENT_DATA: usize = TARGET.abi().epoll_event_data;
const _: () = assert!(EPOLL_EVENT_DATA >= 4 && EPOLL_EVENT_DATA + 8 <= EPOLL_EVENT_SIZE);

/// `(events, data)` of a `struct epoll_event` as the kernel lays it out. (Constant indices:
/// the eBPF programs use it too, where a bounds check the compiler cannot drop is refused.)
#[inline(always)]
pub fn decode_epoll_event(raw: &[u8; EPOLL_EVENT_SIZE]) -> (u32, u64) {
    const D: usize = EPOLL_EVENT_DATA;
    let events = u32::from_ne_bytes([raw[0], raw[1], raw[2], raw[3]]);
    let data = u64::from_ne_bytes([
        raw[D],
        raw[D + 1],
        raw[D + 2],
        raw[D + 3],
        raw[D + 4],
        raw[D + 5],
        raw[D + 6],
        raw[D + 7],
    ]);
    (events, data)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use core::mem::{offset_of, size_of};

    use super::*;

    /// libc's `struct epoll_event` for the target is the independent statement of the layout
    /// (packed on x86-64, naturally aligned elsewhere).
    #[test]
    fn the_epoll_event_layout_is_libcs() {
        assert_eq!(EPOLL_EVENT_SIZE, size_of::<libc::epoll_event>());
        assert_eq!(EPOLL_EVENT_DATA, offset_of!(libc::epoll_event, u64));
    }

    #[test]
    fn decodes_events_and_data_where_the_target_puts_them() {
        let mut raw = [0xa5; EPOLL_EVENT_SIZE];
        raw[..4].copy_from_slice(&0x8000_0019u32.to_ne_bytes());
        raw[EPOLL_EVENT_DATA..EPOLL_EVENT_DATA + 8]
            .copy_from_slice(&0x0123_4567_89ab_cdefu64.to_ne_bytes());
        assert_eq!(
            decode_epoll_event(&raw),
            (0x8000_0019, 0x0123_4567_89ab_cdef)
        );
    }

    #[test]
    fn the_target_is_the_architecture_compiled_for() {
        assert_eq!(TARGET.name(), std::env::consts::ARCH);
    }
}
