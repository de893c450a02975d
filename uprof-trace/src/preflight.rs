//! Checks that turn the failures a user will meet into one clear sentence each, before any
//! program is loaded.
use std::fs;

use anyhow::{Result, bail};

/// Capabilities, as bit numbers of `/proc/self/status`'s `CapEff`.
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// The BPF ring buffer appeared in Linux 5.8.
pub const MIN_KERNEL: (u32, u32) = (5, 8);

/// The running kernel's release string (`uname -r`).
pub fn kernel_release() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into())
}

/// `(major, minor)` of a release string such as `6.1.0-26-cloud-amd64`.
pub fn parse_release(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Whether this process has capability `cap` in its effective set.
pub(crate) fn has_capability(cap: u32) -> bool {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let caps = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0);
    caps & (1 << cap) != 0
}

/// Whether this process may mount file systems (tracefs).
pub(crate) fn may_mount() -> bool {
    has_capability(CAP_SYS_ADMIN)
}

/// What a user needs besides root, said the same way wherever it is said.
pub const CAPABILITIES_NEEDED: &str = "root, or CAP_BPF and CAP_PERFMON (to load and attach the \
    eBPF programs) plus read access to tracefs (CAP_DAC_READ_SEARCH where tracefs is root-only, \
    its default), on a kernel that lets CAP_PERFMON open perf events";

/// Fails unless this process may load and attach tracing programs.
pub fn check_privileges() -> Result<()> {
    if has_capability(CAP_SYS_ADMIN) {
        return Ok(());
    }
    if !(has_capability(CAP_BPF) && has_capability(CAP_PERFMON)) {
        bail!("uprof needs {CAPABILITIES_NEEDED}: try sudo");
    }
    check_perf_events()
}

/// Fails when the kernel refuses perf events to this process, which has CAP_PERFMON but not
/// CAP_SYS_ADMIN: tracepoints are attached through perf events. Debian's and Ubuntu's kernels
/// do so at `kernel.perf_event_paranoid` 3, their default, whatever CAP_PERFMON says; asking
/// the kernel is the only sure way to know.
fn check_perf_events() -> Result<()> {
    // A perf_event_attr (its first version, 64 bytes): a software event that counts nothing
    // (type 1, PERF_COUNT_SW_DUMMY), machine-wide on CPU 0, as tracepoint programs are.
    let mut attr = [0u64; 8];
    attr[0] = 1 | (64 << 32);
    attr[1] = 9;
    // SAFETY: a valid, fully initialised perf_event_attr; the fd is closed at once.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            attr.as_ptr(),
            -1,
            0,
            -1,
            libc::c_ulong::from(PERF_FLAG_FD_CLOEXEC),
        )
    };
    if fd >= 0 {
        // SAFETY: closing the fd just opened.
        unsafe { libc::close(fd as i32) };
        return Ok(());
    }
    let error = std::io::Error::last_os_error();
    let paranoid = fs::read_to_string("/proc/sys/kernel/perf_event_paranoid").unwrap_or_default();
    bail!(
        "this kernel refuses perf events to uprof without CAP_SYS_ADMIN (perf_event_open: {error}; \
         kernel.perf_event_paranoid is {}), and its tracepoints are attached through them: run \
         uprof as root, or lower kernel.perf_event_paranoid to 2",
        paranoid.trim()
    )
}

/// `PERF_FLAG_FD_CLOEXEC` (`linux/perf_event.h`).
const PERF_FLAG_FD_CLOEXEC: u32 = 8;

/// Fails on kernels without the BPF ring buffer.
pub fn check_kernel(release: &str) -> Result<()> {
    match parse_release(release) {
        Some(v) if v < MIN_KERNEL => bail!(
            "kernel {release} is too old: uprof needs Linux {}.{} or later (BPF ring buffer)",
            MIN_KERNEL.0,
            MIN_KERNEL.1
        ),
        _ => Ok(()),
    }
}

/// Whether the kernel exposes its BTF (needed by the callback and socket tiers, not by the
/// syscall tier).
pub fn has_btf() -> bool {
    std::path::Path::new("/sys/kernel/btf/vmlinux").exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_distribution_releases() {
        assert_eq!(parse_release("6.1.0-26-cloud-amd64"), Some((6, 1)));
        assert_eq!(parse_release("5.10.0-32-cloud-amd64"), Some((5, 10)));
        assert_eq!(parse_release("6.18.44-fc-v669"), Some((6, 18)));
        assert_eq!(parse_release("garbage"), None);
    }

    #[test]
    fn rejects_kernels_before_ring_buffers() {
        assert!(
            check_kernel("5.4.0-150-generic")
                .unwrap_err()
                .to_string()
                .contains("too old")
        );
        assert!(check_kernel("5.8.0").is_ok());
        assert!(check_kernel("6.12.1").is_ok());
    }
}
