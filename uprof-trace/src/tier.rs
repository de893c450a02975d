//! Probe tiers: which kernel hooks give uprof its figures. The callback tier hooks
//! `ep_poll_callback` (fentry, else kprobe) for the moment an fd becomes ready; the socket tier
//! hooks `sock:sk_data_ready` (a BTF tracepoint) for the moment a socket receives data; both add
//! `sched_waking`/`sched_switch` for wake-ups of blocked waiters; the syscall tier uses the
//! syscall tracepoints only. See `docs/probe-tiers.md`.
use std::sync::OnceLock;

use anyhow::{Context as _, Result, anyhow};
use aya::{
    Btf, Ebpf,
    programs::{BtfTracePoint, FEntry, FExit, KProbe},
};

use crate::{
    btf,
    probes::{ProbeStatus, one_line},
};

/// A set of probes, from the most to the least precise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    /// Syscall tracepoints plus `ep_poll_callback`: exact ready-to-delivered latency.
    Callback,
    /// Syscall tracepoints plus `sk_data_ready`: readiness of sockets only, approximate.
    Socket,
    /// Syscall tracepoints only.
    Syscall,
}

impl Tier {
    /// From the most to the least precise: the order in which uprof tries them.
    pub const ALL: [Tier; 3] = [Tier::Callback, Tier::Socket, Tier::Syscall];

    /// The name used on the command line, in session headers and reports.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Callback => "callback",
            Tier::Socket => "socket",
            Tier::Syscall => "syscall",
        }
    }

    /// The load-time globals the tier's programs need: its switch and the kernel struct offsets
    /// (from the running kernel's BTF).
    pub fn globals(self) -> Result<Vec<(&'static str, u32)>> {
        let (switch, members): (&str, &[&[btf::Member]]) = match self {
            Tier::Callback => ("CALLBACK_TIER", &[btf::FD_TABLE, btf::CALLBACK, btf::SCHED]),
            Tier::Socket => ("SOCKET_TIER", &[btf::FD_TABLE, btf::SOCKET, btf::SCHED]),
            Tier::Syscall => return Ok(Vec::new()),
        };
        let mut globals = btf::offsets(members)?;
        globals.push((switch, 1));
        Ok(globals)
    }

    /// Attaches the tier's own probes (the syscall tracepoints are attached separately), and
    /// with `wakeups` the wake-up probes. On success, what attached (and what was tried
    /// first); on failure also every reason.
    pub fn attach(
        self,
        ebpf: &mut Ebpf,
        wakeups: bool,
    ) -> Result<Vec<ProbeStatus>, (Vec<ProbeStatus>, anyhow::Error)> {
        let mut tried = match self {
            Tier::Callback => attach_callback(ebpf)?,
            Tier::Socket => {
                let result = attach_tp_btf(ebpf, SOCKET_TRACEPOINT);
                let status = ProbeStatus::hook("tp_btf", SOCKET_TRACEPOINT, &result);
                match result {
                    Ok(()) => vec![status],
                    Err(e) => return Err((vec![status], e)),
                }
            }
            Tier::Syscall => return Ok(Vec::new()),
        };
        // Wake-ups are a bonus: without them the tier still has its readiness figures.
        for program in WAKE_TRACEPOINTS.iter().filter(|_| wakeups) {
            let result = attach_tp_btf(ebpf, program);
            tried.push(ProbeStatus::hook("tp_btf", program, &result));
        }
        Ok(tried)
    }
}

/// The kernel function the callback tier hooks.
pub const CALLBACK_FUNCTION: &str = "ep_poll_callback";

/// The BTF tracepoint the socket tier hooks.
pub const SOCKET_TRACEPOINT: &str = "sk_data_ready";

/// The BTF tracepoints that follow wake-ups of blocked waiters (socket and callback tiers).
pub const WAKE_TRACEPOINTS: [&str; 2] = ["sched_waking", "sched_switch"];

/// Attaches the callback program: fentry first, kprobe when the kernel refuses fentry. Returns
/// what was tried, in order; the last entry is attached on success. On failure the error names
/// every reason.
fn attach_callback(ebpf: &mut Ebpf) -> Result<Vec<ProbeStatus>, (Vec<ProbeStatus>, anyhow::Error)> {
    let fentry = attach_fentry(ebpf);
    let mut tried = vec![ProbeStatus::hook("fentry", CALLBACK_FUNCTION, &fentry)];
    if fentry.is_ok() {
        return Ok(tried);
    }
    let kprobe = attach_kprobe(ebpf);
    tried.push(ProbeStatus::hook("kprobe", CALLBACK_FUNCTION, &kprobe));
    match (fentry, kprobe) {
        (_, Ok(())) => Ok(tried),
        (Err(f), Err(k)) => Err((
            tried,
            anyhow!(
                "fentry on {CALLBACK_FUNCTION}: {}; kprobe on {CALLBACK_FUNCTION}: {}",
                one_line(&f),
                one_line(&k)
            ),
        )),
        (Ok(()), _) => unreachable!("fentry success returned above"),
    }
}

/// Loads and attaches the fentry flavour of the callback program.
pub fn attach_fentry(ebpf: &mut Ebpf) -> Result<()> {
    attach_fentry_to(ebpf, "ep_poll_callback_fentry", CALLBACK_FUNCTION)
}

/// Loads the fentry program `program` against kernel function `function`, and attaches it.
pub(crate) fn attach_fentry_to(ebpf: &mut Ebpf, program: &str, function: &str) -> Result<()> {
    let fentry: &mut FEntry = self::program(ebpf, program)?.try_into()?;
    fentry
        .load(function, kernel_btf()?)
        .context("the kernel refused to load the fentry program")?;
    fentry
        .attach()
        .context("cannot attach the fentry program")?;
    Ok(())
}

/// Loads the fexit program `program` against kernel function `function`, and attaches it.
pub(crate) fn attach_fexit_to(ebpf: &mut Ebpf, program: &str, function: &str) -> Result<()> {
    let fexit: &mut FExit = self::program(ebpf, program)?.try_into()?;
    fexit
        .load(function, kernel_btf()?)
        .context("the kernel refused to load the fexit program")?;
    fexit.attach().context("cannot attach the fexit program")?;
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

/// Loads and attaches the BTF tracepoint program named after its tracepoint.
pub fn attach_tp_btf(ebpf: &mut Ebpf, tracepoint: &str) -> Result<()> {
    let btf = kernel_btf()?;
    let program: &mut BtfTracePoint = program(ebpf, tracepoint)?.try_into()?;
    program.load(tracepoint, btf).with_context(|| {
        format!("the kernel refused to load the tp_btf program on {tracepoint}")
    })?;
    program
        .attach()
        .with_context(|| format!("cannot attach the tp_btf program on {tracepoint}"))?;
    Ok(())
}

/// The running kernel's BTF as aya reads it (to load fentry, fexit and tp_btf programs),
/// parsed once per process.
pub(crate) fn kernel_btf() -> Result<&'static Btf> {
    static KERNEL: OnceLock<Result<Btf, String>> = OnceLock::new();
    KERNEL
        .get_or_init(|| Btf::from_sys_fs().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow!("cannot read the kernel's BTF: {e}"))
}

pub(crate) fn program<'a>(
    ebpf: &'a mut Ebpf,
    name: &str,
) -> Result<&'a mut aya::programs::Program> {
    ebpf.program_mut(name)
        .with_context(|| format!("program {name} missing from uprof's eBPF object"))
}
