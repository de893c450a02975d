//! `uprof doctor`: what this kernel lets uprof do, and which tier `uprof record` will use.
use std::{fmt, fs, path::Path};

use anyhow::{Context as _, Result};
use aya::programs::TracePoint;

use crate::{
    btf, preflight,
    probes::{self, SyscallHooks},
    tier::{self, Tier},
    tracefs,
    tracer::{Offsets, TracerOptions, load_object, syscall_hook_globals},
};

/// Whether one program type loads and attaches here.
#[derive(Clone, Debug)]
pub struct Check {
    /// `tracepoint`, `fentry`, `kprobe`, `tp_btf`.
    pub program_type: &'static str,
    /// What was attached (e.g. `syscalls:sys_enter_epoll_wait`).
    pub target: String,
    /// `Ok`, or the kernel's reason.
    pub result: Result<(), String>,
}

/// Everything `uprof doctor` reports.
#[derive(Clone, Debug)]
pub struct Diagnosis {
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

/// Probes the kernel: loads uprof's object with a small ring buffer and tries each program type.
pub fn diagnose() -> Result<Diagnosis> {
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
    let globals: Vec<Result<_>> = [Tier::Callback, Tier::Socket]
        .iter()
        .map(|t| t.globals())
        .collect();
    if let Some(offsets) = &offsets {
        let mut all: Vec<_> = globals.iter().flatten().flatten().copied().collect();
        let (hook_globals, fentry_blocked) = syscall_hook_globals(None);
        all.extend(hook_globals);
        let mut ebpf = load_object(&options, offsets, &all)?;
        let tp = attach_tracepoint(&mut ebpf);
        checks.push(check("tracepoint", "syscalls:sys_enter_epoll_wait", tp));
        let syscall_fentry = match fentry_blocked {
            Some(reason) => Err(anyhow::anyhow!(reason)),
            None => probes::attach_fentry_probe(&mut ebpf),
        };
        checks.push(check(
            "fentry",
            &probes::fentry_probe_function(),
            syscall_fentry,
        ));
        let fentry = tier::attach_fentry(&mut ebpf);
        checks.push(check("fentry", tier::CALLBACK_FUNCTION, fentry));
        let kprobe = tier::attach_kprobe(&mut ebpf);
        checks.push(check("kprobe", tier::CALLBACK_FUNCTION, kprobe));
        for tp_btf in [tier::SOCKET_TRACEPOINT, tier::WAKE_TRACEPOINTS[0]] {
            let result = tier::attach_tp_btf(&mut ebpf, tp_btf);
            checks.push(check("tp_btf", tp_btf, result));
        }
    }
    let (syscall_hooks, syscall_hooks_reason) = match checks
        .iter()
        .find(|c| c.target == probes::fentry_probe_function())
        .map(|c| &c.result)
    {
        Some(Ok(())) => (
            SyscallHooks::Fentry,
            "fentry on syscall functions attaches".to_owned(),
        ),
        Some(Err(e)) => (SyscallHooks::Tracepoint, format!("fentry refused: {e}")),
        None => (
            SyscallHooks::Tracepoint,
            "tracefs is unavailable".to_owned(),
        ),
    };
    let attached = |t: &str, target: &str| {
        checks
            .iter()
            .any(|c| c.program_type == t && c.target == target && c.result.is_ok())
    };
    let (tier, tier_reason) = match (&globals[0], &globals[1]) {
        (Ok(_), _) if attached("fentry", tier::CALLBACK_FUNCTION) => {
            (Tier::Callback, "fentry on ep_poll_callback attaches".into())
        }
        (Ok(_), _) if attached("kprobe", tier::CALLBACK_FUNCTION) => (
            Tier::Callback,
            "fentry is refused, kprobe on ep_poll_callback attaches".into(),
        ),
        (callback, Ok(_)) if attached("tp_btf", tier::SOCKET_TRACEPOINT) => (
            Tier::Socket,
            format!(
                "{}; tp_btf on sk_data_ready attaches",
                callback_unavailable(callback)
            ),
        ),
        (callback, socket) => (
            Tier::Syscall,
            format!(
                "{}; socket tier: {}",
                callback_unavailable(callback),
                match socket {
                    Err(e) => format!("no usable kernel BTF ({e:#})"),
                    Ok(_) => "tp_btf on sk_data_ready does not attach".into(),
                }
            ),
        ),
    };
    Ok(Diagnosis {
        kernel_release: preflight::kernel_release(),
        btf: Path::new(btf::VMLINUX).exists(),
        lockdown: fs::read_to_string("/sys/kernel/security/lockdown")
            .ok()
            .and_then(|s| selected_lockdown(&s)),
        tracefs: tracefs
            .map(|p| p.display().to_string())
            .map_err(|e| format!("{e:#}")),
        checks,
        tier,
        tier_reason,
        syscall_hooks,
        syscall_hooks_reason,
    })
}

impl Diagnosis {
    /// Whether `uprof record` can run here: without tracefs it cannot, whatever loads.
    pub fn can_record(&self) -> bool {
        self.tracefs.is_ok()
    }
}

/// Why the callback tier is out, given whether its BTF offsets could be read.
fn callback_unavailable<T>(globals: &Result<T>) -> String {
    match globals {
        Err(e) => format!("callback tier: no usable kernel BTF ({e:#})"),
        Ok(_) => "callback tier: neither fentry nor kprobe on ep_poll_callback attaches".into(),
    }
}

fn check(program_type: &'static str, target: &str, result: Result<()>) -> Check {
    Check {
        program_type,
        target: target.to_owned(),
        result: result.map_err(|e| probes::one_line(&e)),
    }
}

fn attach_tracepoint(ebpf: &mut aya::Ebpf) -> Result<()> {
    let program: &mut TracePoint = tier::program(ebpf, "sys_enter_epoll_wait")?.try_into()?;
    program.load().context("load refused")?;
    program.attach("syscalls", "sys_enter_epoll_wait")?;
    Ok(())
}

/// The bracketed mode of a lockdown file (`none [integrity] confidentiality`).
fn selected_lockdown(text: &str) -> Option<String> {
    let start = text.find('[')? + 1;
    let end = start + text[start..].find(']')?;
    Some(text[start..end].to_owned())
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
                    c.program_type, c.target
                )?,
                Err(e) => writeln!(f, "  {:<10} on {:<32} NO: {e}", c.program_type, c.target)?,
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
        )
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
