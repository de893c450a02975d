//! Who the tests run as. The eBPF tests need root (or CAP_BPF and CAP_PERFMON): under a plain
//! `cargo test` without them they return at once, after one note for the whole run; under
//! `CI=true` they fail instead. And commands run as an unprivileged user with only the
//! capabilities a test gives them.
use std::{
    fs::OpenOptions, io::Write as _, os::unix::process::CommandExt as _, path::PathBuf,
    process::Command, sync::OnceLock,
};

/// Whether this process may load uprof's programs. Without it the caller returns at once:
/// `if !support::may_load_ebpf() { return; }`. Under `CI=true` it panics instead.
pub fn may_load_ebpf() -> bool {
    static PRIVILEGED: OnceLock<bool> = OnceLock::new();
    let privileged = *PRIVILEGED.get_or_init(|| {
        let privileged = has_capability(CAP_SYS_ADMIN)
            || (has_capability(CAP_BPF) && has_capability(CAP_PERFMON));
        if !privileged && std::env::var("CI").as_deref() != Ok("true") {
            note_once_per_run();
        }
        privileged
    });
    assert!(
        privileged || std::env::var("CI").as_deref() != Ok("true"),
        "CI=true: this eBPF integration test needs root (or CAP_BPF and CAP_PERFMON)"
    );
    privileged
}

/// Says, once per `cargo test` run (the parent process of every test executable), that the
/// eBPF tests did not run. Written to stderr directly: libtest captures `eprintln!`.
fn note_once_per_run() {
    let parent = std::os::unix::process::parent_id();
    let started = std::fs::read_to_string(format!("/proc/{parent}/stat"))
        .ok()
        .and_then(|s| Some(s.rsplit_once(") ")?.1.split(' ').nth(19)?.to_owned()))
        .unwrap_or_default();
    let marker = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ebpf-tests-skipped-{parent}-{started}"));
    if OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(marker)
        .is_ok()
    {
        let _ = writeln!(
            std::io::stderr(),
            "\nnote: uprof's eBPF integration tests need root (or CAP_BPF and CAP_PERFMON); \
             without it they return at once and show as passed. Run them with `sudo -E cargo \
             test` (with CI=true they fail instead).\n"
        );
    }
}

/// Whether this process has capability `cap` (uprof's own check; the tests do not link uprof's
/// crates, which would make every test executable larger than the VMs' memory allows).
fn has_capability(cap: u32) -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << cap) != 0)
}

/// The uid and gid commands run as by [`as_unprivileged`] (`nobody`).
pub const NOBODY: u32 = 65534;

/// Capabilities by number (`linux/capability.h`).
pub const CAP_DAC_READ_SEARCH: u32 = 2;
pub const CAP_SYS_PTRACE: u32 = 19;
pub const CAP_SYS_ADMIN: u32 = 21;
pub const CAP_PERFMON: u32 = 38;
pub const CAP_BPF: u32 = 39;

/// Makes `cmd` run as uid and gid [`NOBODY`], without supplementary groups, with exactly the
/// capabilities `caps` (raised as ambient capabilities, so that they survive `exec`). What
/// `setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=... --ambient-caps=...`
/// does, without depending on it (the VMs have no setpriv).
pub fn as_unprivileged(cmd: &mut Command, caps: &[u32]) {
    let mask: u64 = caps.iter().map(|&c| 1u64 << c).sum();
    // SAFETY: only async-signal-safe syscalls on values prepared before the fork.
    unsafe {
        cmd.pre_exec(move || {
            let check = |ret: libc::c_long| match ret {
                -1 => Err(std::io::Error::last_os_error()),
                _ => Ok(()),
            };
            check(libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0).into())?;
            check(libc::setgroups(0, std::ptr::null()).into())?;
            check(libc::setresgid(NOBODY, NOBODY, NOBODY).into())?;
            check(libc::setresuid(NOBODY, NOBODY, NOBODY).into())?;
            // capset(2), version 3: two 32-bit halves of effective, permitted, inheritable.
            let header = [0x2008_0522u32, 0];
            let (low, high) = (mask as u32, (mask >> 32) as u32);
            let data = [low, low, low, high, high, high];
            check(libc::syscall(
                libc::SYS_capset,
                header.as_ptr(),
                data.as_ptr(),
            ))?;
            for &cap in &caps_array(mask) {
                if cap != u32::MAX {
                    check(
                        libc::prctl(
                            libc::PR_CAP_AMBIENT,
                            libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                            cap as libc::c_ulong,
                            0,
                            0,
                        )
                        .into(),
                    )?;
                }
            }
            Ok(())
        });
    }
}

/// The capability numbers set in `mask`, padded with `u32::MAX` (no allocation after fork).
fn caps_array(mask: u64) -> [u32; 64] {
    let mut caps = [u32::MAX; 64];
    for (i, cap) in (0..64).filter(|c| mask & (1 << c) != 0).enumerate() {
        caps[i] = cap;
    }
    caps
}
