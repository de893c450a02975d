//! The facts of the x86-64 ABI that uprof's records and programs depend on, each stated once:
//! another architecture gets its own values here (its `struct epoll_event`, for one, is 16
//! bytes, with `data` aligned).

/// Prefix of the kernel's syscall functions (`__x64_sys_epoll_wait`), which fentry hooks.
pub const SYSCALL_FUNCTION_PREFIX: &str = "__x64_sys_";

/// The `struct pt_regs` members that hold a syscall's six arguments, in order (their BTF
/// names): what a syscall function receives is the caller's saved registers.
pub const SYSCALL_ARG_REGISTERS: [&str; 6] = ["di", "si", "dx", "r10", "r8", "r9"];

/// Size of `struct epoll_event`: x86-64 declares it packed, `u32 events` then `u64 data`.
pub const EPOLL_EVENT_SIZE: usize = 12;

/// Where `data` starts in a `struct epoll_event`.
const EPOLL_EVENT_DATA: usize = 4;

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
    use super::*;

    #[test]
    fn data_follows_events_without_padding() {
        let mut raw = [0; EPOLL_EVENT_SIZE];
        raw[..4].copy_from_slice(&0x8000_0019u32.to_ne_bytes());
        raw[4..].copy_from_slice(&0x0123_4567_89ab_cdefu64.to_ne_bytes());
        assert_eq!(
            decode_epoll_event(&raw),
            (0x8000_0019, 0x0123_4567_89ab_cdef)
        );
    }
}
