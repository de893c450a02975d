//! `uprof doctor`: what this kernel lets uprof do, and which tier `uprof record` will use.
use std::{fmt, fs, path::Path};

use anyhow::{Result, anyhow};
use uprof_common::{
    ProbeKind, Tier,
    arch::{self, Arch},
    probes::WAKE_TRACEPOINTS,
};

use crate::{
    attach, btf,
    offsets::Offsets,
    preflight,
    probes::{self, SyscallHooks},
    status::{ProbeStatus, one_line},
    tier::{self, Hook},
    tracefs,
    tracer::{TracerOptions, load_object, syscall_hook_globals},
};

/// Whether one program type loads and attaches here.
#[derive(Clone, Debug)]
pub struct Check {
    pub program_type: ProbeKind,
    /// What was attached (e.g. `syscalls:sys_enter_epoll_wait`).
    pub target: String,
    /// `Ok`, or the kernel's reason.
    pub result: Result<(), String>,
}

/// Everything `uprof doctor` reports.
#[derive(Clone, Debug)]
pub struct Diagnosis {
    /// The architecture uprof was built for (and so runs on).
    pub arch: Arch,
    /// The hooked syscalls it does not have, said for people: not tried, not a failure.
    pub absent_syscalls: Option<String>,
    pub kernel_release: String,
    pub btf: bool,
    /// `/sys/kernel/security/lockdown`'s selected mode (`none`, `integrity`, ...), if readable.
    pub lockdown: Option<String>,
    /// Where tracefs is, or why not.
    pub tracefs: Result<String, String>,
    pub checks: Vec<Check>,
    pub tier: Tier,
    pub tier_reason: String,
    /// How `uprof record` will hook the syscalls, and why.
    pub syscall_hooks: SyscallHooks,
    pub syscall_hooks_reason: String,
}

/// Probes the kernel: loads uprof's object with a small ring buffer, tries each program type,
/// and predicts the tier and the syscall hooks with the decisions `uprof record` makes.
pub fn diagnose() -> Result<Diagnosis> {
    let _btf = btf::Loading::start();
    preflight::check_privileges()?;
    let tracefs = tracefs::ensure_mounted();
    let offsets = match &tracefs {
        Ok(dir) => Some(Offsets::read(dir)?),
        Err(_) => None,
    };
    let options = TracerOptions {
        buffer_bytes: 1 << 16,
        ..TracerOptions::default()
    };
    let mut checks = Vec::new();
    // Every program loads from one object: the tiers' globals only switch code paths on.
    let globals: Vec<(Tier, Result<_>)> = Tier::ALL.map(|t| (t, tier::globals(t))).into();
    let every_hook = || Tier::ALL.into_iter().flat_map(tier::hooks);
    let (syscall_hooks, syscall_hooks_reason, readiness) = match (&tracefs, &offsets) {
        (Ok(dir), Some(offsets)) => {
            let mut all: Vec<_> = globals
                .iter()
                .flat_map(|(_, g)| g.iter().flatten())
                .copied()
                .collect();
            let (hook_globals, fentry_blocked) = syscall_hook_globals(None);
            all.extend(hook_globals);
            let mut ebpf = load_object(&options, offsets, &all)?;
            let (category, name) = probes::probe_tracepoint();
            let tp = attach::tracepoint(&mut ebpf, dir, name, category, name);
            checks.push(check(
                ProbeKind::Tracepoint,
                &format!("{category}:{name}"),
                &tp,
            ));
            let syscall_fentry = match &fentry_blocked {
                Some(reason) => Err(anyhow!("{reason}")),
                None => probes::attach_fentry_probe(&mut ebpf),
            };
            let function = probes::fentry_probe_function();
            checks.push(check(ProbeKind::Fentry, &function, &syscall_fentry));
            let (hooks, _, reason) = probes::decide_hooks(None, fentry_blocked, || {
                syscall_fentry.map_err(|e| anyhow!("fentry on {function}: {}", one_line(&e)))
            })?;
            let readiness: Vec<(Hook, Result<()>)> =
                every_hook().map(|h| (*h, h.attach(&mut ebpf))).collect();
            let wake = WAKE_TRACEPOINTS[0];
            let woken = attach::tp_btf(&mut ebpf, wake, wake);
            for (hook, result) in &readiness {
                checks.push(check(hook.kind, hook.target, result));
            }
            checks.push(check(ProbeKind::TpBtf, wake, &woken));
            (hooks, reason, readiness)
        }
        _ => {
            let not_tried = || Err(anyhow!("not tried: tracefs is unavailable"));
            let readiness = every_hook().map(|h| (*h, not_tried())).collect();
            let reason = "tracefs is unavailable".to_owned();
            (SyscallHooks::Tracepoint, reason, readiness)
        }
    };
    let chosen = tier::choose(None, |tier| {
        let results: Vec<_> = readiness
            .iter()
            .filter(|(h, _)| tier::hooks(tier).contains(h))
            .collect();
        let tried: Vec<ProbeStatus> = results.iter().map(|(h, r)| h.status(r)).collect();
        let globals = globals.iter().find(|(t, _)| *t == tier).map(|(_, g)| g);
        if let Some(Err(e)) = globals {
            return Err((tried, anyhow!("no usable kernel BTF ({e:#})")));
        }
        match tier::readiness(results.iter().map(|(h, r)| (h, r))) {
            Ok(()) => Ok(((), tried)),
            Err(e) => Err((tried, e)),
        }
    })?;
    Ok(Diagnosis {
        arch: arch::TARGET,
        absent_syscalls: probes::absent_syscalls_note(),
        kernel_release: preflight::kernel_release(),
        btf: Path::new(btf::VMLINUX).exists(),
        lockdown: fs::read_to_string("/sys/kernel/security/lockdown")
            .ok()
            .and_then(|s| selected_lockdown(&s)),
        tracefs: tracefs
            .map(|p| p.display().to_string())
            .map_err(|e| format!("{e:#}")),
        checks,
        tier: chosen.tier,
        tier_reason: chosen.reason,
        syscall_hooks,
        syscall_hooks_reason,
    })
}

fn check(program_type: ProbeKind, target: &str, result: &Result<()>) -> Check {
    Check {
        program_type,
        target: target.to_owned(),
        result: result.as_ref().map(|_| ()).map_err(one_line),
    }
}

/// The bracketed mode of a lockdown file (`none [integrity] confidentiality`).
fn selected_lockdown(text: &str) -> Option<String> {
    let start = text.find('[')? + 1;
    let end = start + text[start..].find(']')?;
    Some(text[start..end].to_owned())
}

impl Diagnosis {
    /// Whether `uprof record` can run here: without tracefs it cannot, whatever loads.
    pub fn can_record(&self) -> bool {
        self.tracefs.is_ok()
    }
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "arch:      {}", self.arch.name())?;
        writeln!(f, "kernel:    {}", self.kernel_release)?;
        let btf = if self.btf { "present" } else { "absent" };
        writeln!(f, "BTF:       {btf} ({})", btf::VMLINUX)?;
        let lockdown = self
            .lockdown
            .as_deref()
            .unwrap_or("unknown (/sys/kernel/security/lockdown is not readable)");
        writeln!(f, "lockdown:  {lockdown}")?;
        match &self.tracefs {
            Ok(dir) => writeln!(f, "tracefs:   {dir}")?,
            Err(e) => writeln!(f, "tracefs:   unavailable: {e}")?,
        }
        writeln!(f, "program types:")?;
        for c in &self.checks {
            match &c.result {
                Ok(()) => writeln!(
                    f,
                    "  {:<10} on {:<32} loads and attaches",
                    c.program_type.name(),
                    c.target
                )?,
                Err(e) => writeln!(
                    f,
                    "  {:<10} on {:<32} NO: {e}",
                    c.program_type.name(),
                    c.target
                )?,
            }
        }
        if !self.can_record() {
            return writeln!(f, "record:    cannot run here: tracefs is unavailable");
        }
        writeln!(f, "tier:      {} ({})", self.tier.name(), self.tier_reason)?;
        writeln!(
            f,
            "syscalls:  hooked by {} ({})",
            self.syscall_hooks.name(),
            self.syscall_hooks_reason
        )?;
        match &self.absent_syscalls {
            Some(absent) => writeln!(f, "absent:    {absent}"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_selected_lockdown_mode() {
        assert_eq!(
            selected_lockdown("none [integrity] confidentiality\n").as_deref(),
            Some("integrity")
        );
        assert_eq!(
            selected_lockdown("[none] integrity confidentiality").as_deref(),
            Some("none")
        );
        assert_eq!(selected_lockdown("garbage"), None);
    }
}
