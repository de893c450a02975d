//! `uprof doctor`: what this kernel lets uprof do, and which tier `uprof record` will use.
use std::{fmt, fs, path::Path};

use anyhow::{Context as _, Result};
use aya::{
    Btf,
    programs::{BtfTracePoint, TracePoint},
};

use crate::{
    btf, preflight,
    tier::{self, Tier},
    tracefs,
    tracer::{Offsets, TracerOptions, load_object},
};

/// Whether one program type loads and attaches here.
#[derive(Clone, Debug)]
pub struct Check {
    /// `tracepoint`, `fentry`, `kprobe`, `tp_btf`.
    pub program_type: &'static str,
    /// What was attached (e.g. `syscalls:sys_enter_epoll_wait`).
    pub target: &'static str,
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
}

/// Probes the kernel: loads uprof's object with a small ring buffer and tries each program type.
pub fn diagnose() -> Result<Diagnosis> {
    preflight::check_privileges()?;
    let tracefs = tracefs::ensure_mounted();
    let offsets = match &tracefs {
        Ok(dir) => Some(Offsets::read(dir)?),
        Err(_) => None,
    };
    let members = tier::callback_offsets();
    let options = TracerOptions {
        buffer_bytes: 1 << 16,
        tier: None,
    };
    let mut checks = Vec::new();
    if let Some(offsets) = &offsets {
        let mut ebpf = load_object(&options, offsets, members.as_deref().ok())?;
        let tp = attach_tracepoint(&mut ebpf);
        checks.push(check("tracepoint", "syscalls:sys_enter_epoll_wait", tp));
        let fentry = tier::attach_fentry(&mut ebpf);
        checks.push(check("fentry", tier::CALLBACK_FUNCTION, fentry));
        let kprobe = tier::attach_kprobe(&mut ebpf);
        checks.push(check("kprobe", tier::CALLBACK_FUNCTION, kprobe));
        let tp_btf = attach_tp_btf(&mut ebpf);
        checks.push(check("tp_btf", "sched_process_exit", tp_btf));
    }
    let attached = |t: &str| {
        checks
            .iter()
            .any(|c| c.program_type == t && c.result.is_ok())
    };
    let (tier, tier_reason) = match &members {
        Err(e) => (
            Tier::Syscall,
            format!("no usable kernel BTF for the callback tier: {e:#}"),
        ),
        Ok(_) if attached("fentry") => {
            (Tier::Callback, "fentry on ep_poll_callback attaches".into())
        }
        Ok(_) if attached("kprobe") => (
            Tier::Callback,
            "fentry is refused, kprobe on ep_poll_callback attaches".into(),
        ),
        Ok(_) => (
            Tier::Syscall,
            "neither fentry nor kprobe on ep_poll_callback attaches".into(),
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
    })
}

fn check(program_type: &'static str, target: &'static str, result: Result<()>) -> Check {
    Check {
        program_type,
        target,
        result: result.map_err(|e| format!("{e:#}")),
    }
}

fn attach_tracepoint(ebpf: &mut aya::Ebpf) -> Result<()> {
    let program: &mut TracePoint = tier::program(ebpf, "sys_enter_epoll_wait")?.try_into()?;
    program.load().context("load refused")?;
    program.attach("syscalls", "sys_enter_epoll_wait")?;
    Ok(())
}

fn attach_tp_btf(ebpf: &mut aya::Ebpf) -> Result<()> {
    let btf = Btf::from_sys_fs().context("cannot read the kernel's BTF")?;
    let program: &mut BtfTracePoint = tier::program(ebpf, "doctor_tp_btf")?.try_into()?;
    program
        .load("sched_process_exit", &btf)
        .context("load refused")?;
    program.attach()?;
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
        writeln!(f, "tier:      {} ({})", self.tier.name(), self.tier_reason)
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
