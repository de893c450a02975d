//! Probe tiers: which kernel hooks give uprof its figures. The callback tier hooks
//! `ep_poll_callback` (fentry, else kprobe) for the moment an fd becomes ready; the syscall tier
//! uses the syscall tracepoints only. See `docs/probe-tiers.md`.
use std::path::Path;

use anyhow::{Context as _, Result, anyhow};
use aya::{
    Btf, Ebpf,
    programs::{FEntry, KProbe},
};

use crate::{btf, probes::ProbeStatus};

/// A set of probes, from the most to the least precise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    /// Syscall tracepoints plus `ep_poll_callback`: exact ready-to-delivered latency.
    Callback,
    /// Syscall tracepoints only.
    Syscall,
}

impl Tier {
    /// The name used on the command line, in session headers and reports.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Callback => "callback",
            Tier::Syscall => "syscall",
        }
    }
}

/// The kernel function the callback tier hooks.
pub const CALLBACK_FUNCTION: &str = "ep_poll_callback";

/// Reads the callback tier's struct offsets from the kernel's BTF.
pub fn callback_offsets() -> Result<Vec<(&'static str, u32)>> {
    btf::callback_offsets(Path::new(btf::VMLINUX))
}

/// Attaches the callback program: fentry first, kprobe when the kernel refuses fentry. Returns
/// what was tried, in order; the last entry is attached on success. On failure the error names
/// every reason.
pub fn attach_callback(
    ebpf: &mut Ebpf,
) -> Result<Vec<ProbeStatus>, (Vec<ProbeStatus>, anyhow::Error)> {
    let fentry = attach_fentry(ebpf);
    let mut tried = vec![status("fentry", &fentry)];
    if fentry.is_ok() {
        return Ok(tried);
    }
    let kprobe = attach_kprobe(ebpf);
    tried.push(status("kprobe", &kprobe));
    match (fentry, kprobe) {
        (_, Ok(())) => Ok(tried),
        (Err(f), Err(k)) => Err((
            tried,
            anyhow!("fentry on {CALLBACK_FUNCTION}: {f:#}; kprobe on {CALLBACK_FUNCTION}: {k:#}"),
        )),
        (Ok(()), _) => unreachable!("fentry success returned above"),
    }
}

fn status(kind: &'static str, result: &Result<()>) -> ProbeStatus {
    ProbeStatus {
        name: format!("{kind}:{CALLBACK_FUNCTION}"),
        kind,
        attached: result.is_ok(),
        note: result.as_ref().err().map(|e| format!("{e:#}")),
    }
}

/// Loads and attaches the fentry flavour of the callback program.
pub fn attach_fentry(ebpf: &mut Ebpf) -> Result<()> {
    let btf = Btf::from_sys_fs().context("cannot read the kernel's BTF")?;
    let program: &mut FEntry = program(ebpf, "ep_poll_callback_fentry")?.try_into()?;
    program
        .load(CALLBACK_FUNCTION, &btf)
        .context("the kernel refused to load the fentry program")?;
    program
        .attach()
        .context("cannot attach the fentry program")?;
    Ok(())
}

/// Loads and attaches the kprobe flavour of the callback program.
pub fn attach_kprobe(ebpf: &mut Ebpf) -> Result<()> {
    let program: &mut KProbe = program(ebpf, "ep_poll_callback_kprobe")?.try_into()?;
    program
        .load()
        .context("the kernel refused to load the kprobe program")?;
    program
        .attach(CALLBACK_FUNCTION, 0)
        .context("cannot attach the kprobe")?;
    Ok(())
}

pub(crate) fn program<'a>(
    ebpf: &'a mut Ebpf,
    name: &str,
) -> Result<&'a mut aya::programs::Program> {
    ebpf.program_mut(name)
        .with_context(|| format!("program {name} missing from uprof's eBPF object"))
}
