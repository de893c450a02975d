//! The programs uprof attaches, and what became of each.
use std::path::Path;

use anyhow::{Context as _, Result, anyhow};
use aya::{Ebpf, programs::TracePoint};

/// One program and where it attaches.
struct Spec {
    program: &'static str,
    category: &'static str,
    /// Without it a recording is meaningless: failing to attach it is an error.
    required: bool,
}

const fn tp(program: &'static str, category: &'static str, required: bool) -> Spec {
    Spec {
        program,
        category,
        required,
    }
}

/// Every tracepoint program in `uprof-ebpf`, named after its tracepoint.
const SPECS: &[Spec] = &[
    tp("sys_enter_epoll_create", "syscalls", false),
    tp("sys_exit_epoll_create", "syscalls", false),
    tp("sys_enter_epoll_create1", "syscalls", true),
    tp("sys_exit_epoll_create1", "syscalls", true),
    tp("sys_enter_epoll_ctl", "syscalls", true),
    tp("sys_exit_epoll_ctl", "syscalls", true),
    tp("sys_enter_epoll_wait", "syscalls", true),
    tp("sys_exit_epoll_wait", "syscalls", true),
    tp("sys_enter_epoll_pwait", "syscalls", true),
    tp("sys_exit_epoll_pwait", "syscalls", true),
    // Linux 5.11+.
    tp("sys_enter_epoll_pwait2", "syscalls", false),
    tp("sys_exit_epoll_pwait2", "syscalls", false),
    tp("sys_enter_poll", "syscalls", false),
    tp("sys_exit_poll", "syscalls", false),
    tp("sys_enter_ppoll", "syscalls", false),
    tp("sys_exit_ppoll", "syscalls", false),
    tp("sys_enter_select", "syscalls", false),
    tp("sys_exit_select", "syscalls", false),
    tp("sys_enter_pselect6", "syscalls", false),
    tp("sys_exit_pselect6", "syscalls", false),
    tp("sys_enter_close", "syscalls", true),
    tp("sys_exit_close", "syscalls", true),
    tp("sys_enter_dup2", "syscalls", false),
    tp("sys_exit_dup2", "syscalls", false),
    tp("sys_enter_dup3", "syscalls", false),
    tp("sys_exit_dup3", "syscalls", false),
    tp("sched_process_fork", "sched", true),
    tp("sched_process_exec", "sched", false),
    tp("sched_process_exit", "sched", true),
    tp("task_rename", "task", false),
];

/// What became of one probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeStatus {
    /// `category:name` of the tracepoint (or the kernel function).
    pub name: String,
    /// `tracepoint`, `fentry`, `kprobe`, `tp_btf`.
    pub kind: &'static str,
    pub attached: bool,
    /// Why it did not attach.
    pub note: Option<String>,
}

/// Loads and attaches every program; an optional probe that the kernel lacks is reported as not
/// attached, a required one is an error naming the kernel's reason.
pub fn attach_all(ebpf: &mut Ebpf, tracefs: &Path) -> Result<Vec<ProbeStatus>> {
    let mut statuses = Vec::with_capacity(SPECS.len());
    for spec in SPECS {
        let name = format!("{}:{}", spec.category, spec.program);
        let exists = tracefs
            .join("events")
            .join(spec.category)
            .join(spec.program)
            .is_dir();
        let result = if exists {
            attach(ebpf, spec)
        } else {
            Err(anyhow!("this kernel has no such tracepoint"))
        };
        match result {
            Ok(()) => statuses.push(ProbeStatus {
                name,
                kind: "tracepoint",
                attached: true,
                note: None,
            }),
            Err(e) if spec.required => {
                return Err(e.context(format!("cannot attach tracepoint {name}")));
            }
            Err(e) => statuses.push(ProbeStatus {
                name,
                kind: "tracepoint",
                attached: false,
                note: Some(format!("{e:#}")),
            }),
        }
    }
    Ok(statuses)
}

fn attach(ebpf: &mut Ebpf, spec: &Spec) -> Result<()> {
    let program: &mut TracePoint = ebpf
        .program_mut(spec.program)
        .with_context(|| format!("program {} missing from uprof's eBPF object", spec.program))?
        .try_into()?;
    program
        .load()
        .context("the kernel refused to load the program")?;
    program.attach(spec.category, spec.program)?;
    Ok(())
}
