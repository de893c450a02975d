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
    its default)";

/// Fails unless this process may load and attach tracing programs.
pub fn check_privileges() -> Result<()> {
    if has_capability(CAP_SYS_ADMIN) || (has_capability(CAP_BPF) && has_capability(CAP_PERFMON)) {
        return Ok(());
    }
    bail!("uprof needs {CAPABILITIES_NEEDED}: try sudo")
}

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
