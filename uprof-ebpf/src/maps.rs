//! Maps and load-time constants shared by all programs.
use aya_ebpf::{
    macros::map,
    maps::{HashMap, PerCpuArray, RingBuf},
};
use uprof_common::InFlight;

/// Records for user space. The loader sets the real size (`uprof record --buffer-size`).
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(1 << 24, 0);

/// Records that did not fit in `EVENTS`, per CPU (user space sums and reports them).
#[map]
pub static DROPS: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Traced processes (thread-group ids). User space inserts the targets; `sched_process_fork`
/// adds their children, so that a whole process tree is followed from inside the kernel.
#[map]
pub static TRACED: HashMap<u32, u8> = HashMap::with_max_entries(16384, 0);

/// The syscall each traced thread is inside, keyed by thread id.
#[map]
pub static INFLIGHT: HashMap<u32, InFlight> = HashMap::with_max_entries(65536, 0);

/// Values the loader sets at load time. Tracepoint field offsets are read from tracefs `format`
/// files: they differ between kernels (e.g. `sched_process_fork` switched to `__data_loc` comm
/// strings).
pub mod offsets {
    /// Wake the reader when this many bytes wait in `EVENTS`.
    #[unsafe(no_mangle)]
    pub static WAKEUP_BYTES: u32 = 1 << 20;
    #[unsafe(no_mangle)]
    pub static SYSCALL_ARGS: u32 = 16;
    #[unsafe(no_mangle)]
    pub static SYSCALL_RET: u32 = 16;
    #[unsafe(no_mangle)]
    pub static FORK_CHILD_PID: u32 = 44;
    #[unsafe(no_mangle)]
    pub static RENAME_PID: u32 = 8;
    #[unsafe(no_mangle)]
    pub static RENAME_NEWCOMM: u32 = 28;

    /// Reads a value the loader may have rewritten (a plain read would be folded at
    /// compile time).
    #[inline(always)]
    pub fn get(v: &'static u32) -> usize {
        unsafe { core::ptr::read_volatile(v) as usize }
    }
}
