//! Reading kernel memory at member offsets the loader read from BTF (see
//! [`crate::maps::offsets`]).
use aya_ebpf::helpers::{
    bpf_get_current_task, bpf_probe_read_kernel, generated::bpf_get_current_task_btf,
};

use crate::maps::offsets;

/// Reads a `T` at kernel address `base + offset`; zero when unreadable. (Plain values, not
/// `Option`s: the verifier of older kernels rejects the uninitialised payload register an
/// `Option` leaves in its `None` path.)
#[inline(always)]
pub fn read<T: Default>(base: u64, offset: &'static u32) -> T {
    let addr = base.wrapping_add(offsets::get(offset) as u64);
    unsafe { bpf_probe_read_kernel(addr as *const T) }.unwrap_or_default()
}

/// The `struct file` behind `fd` of the current process, or 0 when the fd is not open.
#[inline(always)]
pub fn file_of(fd: i32) -> u64 {
    let (max_fds, table): (u32, u64) = if offsets::get(&offsets::TASK_BTF) != 0 {
        // BTF-typed pointers down to the table: direct loads, checked by the verifier against
        // the kernel's BTF and made fault-safe by the JIT. (Dead code for the verifier where
        // the kernel lacks the helper: the global is a constant of the read-only data.)
        let task = unsafe { bpf_get_current_task_btf() } as u64;
        let files: u64 = load(task, &offsets::TASK_FILES);
        let fdt: u64 = load(files, &offsets::FILES_FDT);
        (
            load(fdt, &offsets::FDTABLE_MAX_FDS),
            load(fdt, &offsets::FDTABLE_FD),
        )
    } else {
        let task = unsafe { bpf_get_current_task() };
        let files: u64 = read(task, &offsets::TASK_FILES);
        let fdt: u64 = read(files, &offsets::FILES_FDT);
        (
            read(fdt, &offsets::FDTABLE_MAX_FDS),
            read(fdt, &offsets::FDTABLE_FD),
        )
    };
    if fd < 0 || fd as u32 >= max_fds {
        return 0;
    }
    // In bounds: 0 <= fd < max_fds.
    let slot = table.wrapping_add(fd as u64 * 8);
    unsafe { bpf_probe_read_kernel(slot as *const u64) }.unwrap_or(0)
}

/// The `T` at `offset` of `ptr`, a BTF-typed pointer argument of a BTF program (fentry,
/// tp_btf): a direct load, which the verifier checks against the kernel's BTF (the offset is a
/// constant of the read-only data), cheaper than a `bpf_probe_read_kernel` call.
#[inline(always)]
pub fn load<T>(ptr: u64, offset: &'static u32) -> T {
    let addr = ptr.wrapping_add(offsets::get(offset) as u64);
    unsafe { core::ptr::read(addr as *const T) }
}
