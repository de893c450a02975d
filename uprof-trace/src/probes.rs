//! The probes every tier attaches, and what became of each: the syscall hooks and the task
//! tracepoints. Program names come from `uprof_common::probes`.
use std::path::Path;

use anyhow::{Result, anyhow, bail};
use aya::Ebpf;
use uprof_common::{
    ProbeKind, arch,
    probes::{SYSCALLS, SyscallPrograms, TASK_TRACEPOINTS, first_syscall_on, syscalls_on},
};

use crate::{
    attach,
    offsets::Offsets,
    status::{ProbeStatus, one_line},
};

/// How the syscall programs hook into the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyscallHooks {
    /// fentry and fexit on the kernel's syscall functions (`__x64_sys_epoll_wait`, ...): only
    /// the hooked syscalls pay.
    Fentry,
    /// The `syscalls:sys_enter_*` and `sys_exit_*` tracepoints. While any of them is enabled,
    /// every syscall of every task on the machine takes the kernel's slow path.
    Tracepoint,
}

impl SyscallHooks {
    /// The name used on the command line and in messages.
    pub fn name(self) -> &'static str {
        match self {
            SyscallHooks::Fentry => "fentry",
            SyscallHooks::Tracepoint => "tracepoint",
        }
    }
}

/// The kernel's name for the function behind syscall `name`: the architecture's wrapper,
/// which takes the caller's saved registers.
pub(crate) fn syscall_function(name: &str) -> String {
    format!("{}{name}", arch::SYSCALL_FUNCTION_PREFIX)
}

/// The hooked syscalls this architecture does not have (libc calls their newer forms): not
/// attempted, not a failure.
fn absent_syscalls() -> impl Iterator<Item = &'static str> {
    SYSCALLS
        .iter()
        .filter(|s| !arch::TARGET.has_syscall(s.call))
        .map(|s| s.syscall)
}

/// [`absent_syscalls`] said for people (`uprof doctor`, `--verbose`); `None` if there are none.
pub fn absent_syscalls_note() -> Option<String> {
    let absent: Vec<_> = absent_syscalls().collect();
    (!absent.is_empty()).then(|| {
        format!(
            "{} absent on {} (libc uses their newer forms): not hooked",
            absent.join(", "),
            arch::TARGET.name()
        )
    })
}

/// How the syscalls are hooked, and why: `forced`, or fentry when `try_fentry` succeeds
/// (unless `fentry_blocked` says why it cannot). On success with fentry, what `try_fentry`
/// gave. Forced fentry that fails is an error naming the kernel's reason.
pub(crate) fn decide_hooks<T>(
    forced: Option<SyscallHooks>,
    fentry_blocked: Option<String>,
    try_fentry: impl FnOnce() -> Result<T>,
) -> Result<(SyscallHooks, Option<T>, String)> {
    let refused = |e: &anyhow::Error| {
        anyhow!(
            "cannot hook syscalls with fentry (--syscall-hooks fentry): {}",
            one_line(e)
        )
    };
    Ok(match (forced, fentry_blocked) {
        (Some(SyscallHooks::Tracepoint), _) => (
            SyscallHooks::Tracepoint,
            None,
            "forced with --syscall-hooks tracepoint".to_owned(),
        ),
        (Some(SyscallHooks::Fentry), Some(blocked)) => {
            bail!("cannot hook syscalls with fentry (--syscall-hooks fentry): {blocked}")
        }
        (Some(SyscallHooks::Fentry), None) => (
            SyscallHooks::Fentry,
            Some(try_fentry().map_err(|e| refused(&e))?),
            "forced with --syscall-hooks fentry".to_owned(),
        ),
        (None, Some(blocked)) => (
            SyscallHooks::Tracepoint,
            None,
            format!("fentry unavailable: {blocked}"),
        ),
        (None, None) => match try_fentry() {
            Ok(tried) => (
                SyscallHooks::Fentry,
                Some(tried),
                "fentry on syscall functions attaches".to_owned(),
            ),
            Err(e) => (
                SyscallHooks::Tracepoint,
                None,
                format!("fentry refused: {}", one_line(&e)),
            ),
        },
    })
}

/// The probes every tier needs, attached.
pub struct Attached {
    pub probes: Vec<ProbeStatus>,
    pub hooks: SyscallHooks,
    /// Why these hooks: forced, or why fentry was not used.
    pub hooks_reason: String,
}

/// Attaches the syscall hooks and the task tracepoints. `hooks` forces a kind of syscall hook;
/// without it fentry is tried first, unless `fentry_blocked` says why it cannot work (no BTF
/// offsets for the registers). The syscalls the architecture lacks are not tried (see
/// [`absent_syscalls`]). An optional probe the kernel lacks (or
/// whose tracepoint lacks a field it reads, see `offsets`) is reported as not attached; a
/// required one is an error naming the kernel's reason.
pub fn attach_all(
    ebpf: &mut Ebpf,
    tracefs: &Path,
    offsets: &Offsets,
    hooks: Option<SyscallHooks>,
    fentry_blocked: Option<String>,
) -> Result<Attached> {
    let (hooks, fentries, hooks_reason) =
        decide_hooks(hooks, fentry_blocked, || attach_syscall_fentries(ebpf))?;
    let mut probes = match fentries {
        Some(probes) => probes,
        None => {
            // No mixture: one syscall tracepoint slows down every syscall anyway.
            detach_syscall_fentries(ebpf);
            attach_syscall_tracepoints(ebpf, tracefs)?
        }
    };
    for tp in &TASK_TRACEPOINTS {
        let result = match offsets.unusable(tp) {
            Some(reason) => Err(anyhow!("{reason}")),
            None => attach::tracepoint(ebpf, tracefs, tp.name, tp.category, tp.name),
        };
        if tp.required
            && let Err(e) = result
        {
            let name = format!("{}:{}", tp.category, tp.name);
            return Err(e.context(format!("cannot attach tracepoint {name}")));
        }
        probes.push(ProbeStatus::tracepoint(tp.category, tp.name, &result));
    }
    Ok(Attached {
        probes,
        hooks,
        hooks_reason,
    })
}

/// `syscalls:sys_enter_<name>` and `sys_exit_<name>` for every syscall.
fn attach_syscall_tracepoints(ebpf: &mut Ebpf, tracefs: &Path) -> Result<Vec<ProbeStatus>> {
    let mut probes = Vec::with_capacity(2 * SYSCALLS.len());
    for syscall in syscalls_on(arch::TARGET) {
        for program in [syscall.sys_enter, syscall.sys_exit] {
            // The programs are named after their tracepoints.
            let result = attach::tracepoint(ebpf, tracefs, program, "syscalls", program);
            if syscall.required
                && let Err(e) = result
            {
                return Err(e.context(format!("cannot attach tracepoint syscalls:{program}")));
            }
            probes.push(ProbeStatus::tracepoint("syscalls", program, &result));
        }
    }
    Ok(probes)
}

/// fentry (for the calls whose entry matters) and fexit on every syscall's function; fails at
/// the first required one refused.
fn attach_syscall_fentries(ebpf: &mut Ebpf) -> Result<Vec<ProbeStatus>> {
    let mut probes = Vec::with_capacity(2 * SYSCALLS.len());
    for syscall in syscalls_on(arch::TARGET) {
        let function = syscall_function(syscall.syscall);
        let mut results = Vec::with_capacity(2);
        if let Some(fentry) = syscall.fentry {
            results.push((ProbeKind::Fentry, attach::fentry(ebpf, fentry, &function)));
        }
        let exit = match results.first() {
            Some((_, Err(_))) => Err(anyhow!("its fentry did not attach")),
            _ => attach::fexit(ebpf, syscall.fexit, &function),
        };
        results.push((ProbeKind::Fexit, exit));
        for (kind, result) in results {
            if syscall.required
                && let Err(e) = result
            {
                return Err(e.context(format!("{} on {function}", kind.name())));
            }
            probes.push(ProbeStatus::hook(kind, &function, &result));
        }
    }
    Ok(probes)
}

/// Unloads (and so detaches) every syscall fentry and fexit program.
fn detach_syscall_fentries(ebpf: &mut Ebpf) {
    for syscall in syscalls_on(arch::TARGET) {
        for program in syscall.fentry.into_iter().chain([syscall.fexit]) {
            attach::unload_function_hook(ebpf, program);
        }
    }
}

/// The syscall auto-detection tries fentry on first.
fn probe_syscall() -> &'static SyscallPrograms {
    first_syscall_on(arch::TARGET)
}

/// The kernel function auto-detection tries fentry on first.
pub(crate) fn fentry_probe_function() -> String {
    syscall_function(probe_syscall().syscall)
}

/// Attaches fentry on [`fentry_probe_function`] (`uprof doctor`).
pub(crate) fn attach_fentry_probe(ebpf: &mut Ebpf) -> Result<()> {
    let program = probe_syscall()
        .fentry
        .ok_or_else(|| anyhow!("{} has no fentry program", probe_syscall().syscall))?;
    attach::fentry(ebpf, program, &fentry_probe_function())
}

/// The syscall tracepoint `uprof doctor` tries: `(category, name)`; its program has its name.
pub(crate) fn probe_tracepoint() -> (&'static str, &'static str) {
    ("syscalls", probe_syscall().sys_enter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_absent_syscalls_are_the_targets() {
        let absent: Vec<_> = absent_syscalls().collect();
        assert_eq!(absent.len(), arch::TARGET.abi().absent_syscalls.len());
        assert!(
            absent
                .iter()
                .all(|a| syscalls_on(arch::TARGET).all(|s| s.syscall != *a))
        );
        let note = absent_syscalls_note();
        match arch::TARGET {
            arch::Arch::X86_64 => assert_eq!(note, None),
            arch::Arch::Aarch64 => assert_eq!(
                note.as_deref(),
                Some(
                    "epoll_wait, poll, select, epoll_create, dup2 absent on aarch64 \
                     (libc uses their newer forms): not hooked"
                )
            ),
        }
    }

    #[test]
    fn hooks_are_forced_or_fentry_when_it_attaches() {
        let works = || Ok(());
        let refused = || Err::<(), _>(anyhow!("EPERM"));
        let (hooks, _, why) = decide_hooks(None, None, works).unwrap();
        assert_eq!(
            (hooks, why.as_str()),
            (SyscallHooks::Fentry, "fentry on syscall functions attaches")
        );
        let (hooks, tried, why) = decide_hooks(None, None, refused).unwrap();
        assert_eq!(
            (hooks, tried, why.as_str()),
            (SyscallHooks::Tracepoint, None, "fentry refused: EPERM")
        );
        let (hooks, tried, _) = decide_hooks(Some(SyscallHooks::Tracepoint), None, works).unwrap();
        assert_eq!((hooks, tried), (SyscallHooks::Tracepoint, None));
        let (hooks, _, why) = decide_hooks(None, Some("no BTF".into()), works).unwrap();
        assert_eq!(
            (hooks, why.as_str()),
            (SyscallHooks::Tracepoint, "fentry unavailable: no BTF")
        );
        let forced = decide_hooks(Some(SyscallHooks::Fentry), None, refused).unwrap_err();
        assert_eq!(
            forced.to_string(),
            "cannot hook syscalls with fentry (--syscall-hooks fentry): EPERM"
        );
        assert!(decide_hooks(Some(SyscallHooks::Fentry), Some("no BTF".into()), works).is_err());
    }
}
