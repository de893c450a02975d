//! The programs every tier attaches, and what became of each: the syscall hooks and the task
//! tracepoints.
use std::path::Path;

use anyhow::{Context as _, Result, anyhow, bail};
use aya::{Ebpf, programs::TracePoint};

use crate::tier;

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

/// One traced syscall.
struct Syscall {
    name: &'static str,
    /// Without it a recording is meaningless: failing to hook it is an error.
    required: bool,
    /// With fentry hooks, hooked at its return only (see `uprof-ebpf/src/main.rs`).
    exit_only: bool,
}

const fn syscall(name: &'static str, required: bool, exit_only: bool) -> Syscall {
    Syscall {
        name,
        required,
        exit_only,
    }
}

/// Every syscall `uprof-ebpf` has programs for. The first is the one auto-detection tries.
const SYSCALLS: &[Syscall] = &[
    syscall("epoll_wait", true, false),
    syscall("epoll_create", false, true),
    syscall("epoll_create1", true, true),
    syscall("epoll_ctl", true, true),
    syscall("epoll_pwait", true, false),
    // Linux 5.11+.
    syscall("epoll_pwait2", false, false),
    syscall("poll", false, false),
    syscall("ppoll", false, false),
    syscall("select", false, false),
    syscall("pselect6", false, false),
    syscall("close", true, false),
    syscall("dup2", false, true),
    syscall("dup3", false, true),
];

/// The kernel's name for the function behind syscall `name` (the architecture's wrapper,
/// which takes the caller's saved registers).
fn syscall_function(name: &str) -> String {
    format!("__x64_sys_{name}")
}

/// Why fentry on syscall functions cannot work on this architecture, if it cannot: the
/// programs read the arguments from x86-64's `struct pt_regs`.
pub fn fentry_unsupported() -> Option<&'static str> {
    (!cfg!(target_arch = "x86_64"))
        .then_some("fentry on syscall functions is implemented for x86-64 only")
}

/// One tracepoint of the task lifecycle.
struct TaskTracepoint {
    program: &'static str,
    category: &'static str,
    required: bool,
}

const fn task(program: &'static str, category: &'static str, required: bool) -> TaskTracepoint {
    TaskTracepoint {
        program,
        category,
        required,
    }
}

/// The task lifecycle's tracepoint programs in `uprof-ebpf`, named after their tracepoints.
const TASK_TRACEPOINTS: &[TaskTracepoint] = &[
    task("sched_process_fork", "sched", true),
    task("sched_process_exec", "sched", false),
    task("sched_process_exit", "sched", true),
    task("task_rename", "task", false),
];

/// What became of one probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeStatus {
    /// `category:name` of the tracepoint, or `kind:function`.
    pub name: String,
    /// `tracepoint`, `fentry`, `fexit`, `kprobe`, `tp_btf`.
    pub kind: &'static str,
    pub attached: bool,
    /// Why it did not attach.
    pub note: Option<String>,
}

impl ProbeStatus {
    /// A `kind` program on kernel function or BTF tracepoint `target`.
    pub(crate) fn hook(kind: &'static str, target: &str, result: &Result<()>) -> ProbeStatus {
        ProbeStatus::of(format!("{kind}:{target}"), kind, result)
    }

    fn of(name: String, kind: &'static str, result: &Result<()>) -> ProbeStatus {
        ProbeStatus {
            name,
            kind,
            attached: result.is_ok(),
            note: result.as_ref().err().map(one_line),
        }
    }
}

/// `e` with its causes on one line. A refused load carries the verifier's log (aya appends it,
/// a line per instruction and register state): only its messages are kept, so that a reason
/// fits in a status line, a probe note or `uprof doctor`'s table.
pub(crate) fn one_line(e: &anyhow::Error) -> String {
    let text = crate::message::chain(e);
    let Some((head, log)) = text.split_once("Verifier output:") else {
        return text.replace('\n', " ");
    };
    let listing = |line: &str| {
        line.is_empty()
            || line.starts_with([';', ':', 'R'])
            || line.starts_with(|c: char| c.is_ascii_digit())
            || ["from ", "verification time", "stack depth", "processed "]
                .iter()
                .any(|p| line.starts_with(p))
    };
    let messages: Vec<&str> = log.lines().map(str::trim).filter(|l| !listing(l)).collect();
    let head = head.trim_end().trim_end_matches('.');
    match messages.is_empty() {
        true => head.to_owned(),
        false => format!("{head}; the verifier says: {}", messages.join("; ")),
    }
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
/// offsets for the registers, another architecture). An optional probe the kernel lacks is
/// reported as not attached; a required one is an error naming the kernel's reason.
pub fn attach_all(
    ebpf: &mut Ebpf,
    tracefs: &Path,
    hooks: Option<SyscallHooks>,
    fentry_blocked: Option<String>,
) -> Result<Attached> {
    let (mut probes, hooks, hooks_reason) = match (hooks, fentry_blocked) {
        (Some(SyscallHooks::Tracepoint), _) => (
            attach_syscall_tracepoints(ebpf, tracefs)?,
            SyscallHooks::Tracepoint,
            "forced with --syscall-hooks tracepoint".to_owned(),
        ),
        (Some(SyscallHooks::Fentry), Some(blocked)) => {
            bail!("cannot hook syscalls with fentry (--syscall-hooks fentry): {blocked}")
        }
        (Some(SyscallHooks::Fentry), None) => (
            attach_syscall_fentries(ebpf).map_err(|e| {
                anyhow!(
                    "cannot hook syscalls with fentry (--syscall-hooks fentry): {}",
                    one_line(&e)
                )
            })?,
            SyscallHooks::Fentry,
            "forced with --syscall-hooks fentry".to_owned(),
        ),
        (None, Some(blocked)) => (
            attach_syscall_tracepoints(ebpf, tracefs)?,
            SyscallHooks::Tracepoint,
            format!("fentry unavailable: {blocked}"),
        ),
        (None, None) => match attach_syscall_fentries(ebpf) {
            Ok(probes) => (
                probes,
                SyscallHooks::Fentry,
                "fentry on syscall functions attaches".to_owned(),
            ),
            Err(e) => {
                // No mixture: one syscall tracepoint slows down every syscall anyway.
                detach_syscall_fentries(ebpf);
                (
                    attach_syscall_tracepoints(ebpf, tracefs)?,
                    SyscallHooks::Tracepoint,
                    format!("fentry refused: {}", one_line(&e)),
                )
            }
        },
    };
    for spec in TASK_TRACEPOINTS {
        let name = format!("{}:{}", spec.category, spec.program);
        let result = attach_tracepoint(ebpf, tracefs, spec.program, spec.category);
        if spec.required
            && let Err(e) = result
        {
            return Err(e.context(format!("cannot attach tracepoint {name}")));
        }
        probes.push(ProbeStatus::of(name, "tracepoint", &result));
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
    for syscall in SYSCALLS {
        for program in [
            format!("sys_enter_{}", syscall.name),
            format!("sys_exit_{}", syscall.name),
        ] {
            let name = format!("syscalls:{program}");
            let result = attach_tracepoint(ebpf, tracefs, &program, "syscalls");
            if syscall.required
                && let Err(e) = result
            {
                return Err(e.context(format!("cannot attach tracepoint {name}")));
            }
            probes.push(ProbeStatus::of(name, "tracepoint", &result));
        }
    }
    Ok(probes)
}

/// fentry (unless the syscall is hooked at its return only) and fexit on every syscall's
/// function; fails at the first required one refused.
fn attach_syscall_fentries(ebpf: &mut Ebpf) -> Result<Vec<ProbeStatus>> {
    let mut probes = Vec::with_capacity(2 * SYSCALLS.len());
    for syscall in SYSCALLS {
        let function = syscall_function(syscall.name);
        let mut results = Vec::with_capacity(2);
        if !syscall.exit_only {
            results.push(("fentry", attach_fentry(ebpf, syscall.name, &function)));
        }
        let exit = match results.first() {
            Some((_, Err(_))) => Err(anyhow!("its fentry did not attach")),
            _ => attach_fexit(ebpf, syscall.name, &function),
        };
        results.push(("fexit", exit));
        for (kind, result) in results {
            if syscall.required
                && let Err(e) = result
            {
                return Err(e.context(format!("{kind} on {function}")));
            }
            probes.push(ProbeStatus::hook(kind, &function, &result));
        }
    }
    Ok(probes)
}

/// Unloads (and so detaches) every syscall fentry and fexit program.
fn detach_syscall_fentries(ebpf: &mut Ebpf) {
    for syscall in SYSCALLS {
        let programs = [
            format!("fentry_{}", syscall.name),
            format!("fexit_{}", syscall.name),
        ];
        for program in programs {
            if let Some(program) = ebpf.program_mut(&program) {
                // Never loaded: nothing to undo.
                let _ = match program {
                    aya::programs::Program::FEntry(p) => p.unload(),
                    aya::programs::Program::FExit(p) => p.unload(),
                    _ => Ok(()),
                };
            }
        }
    }
}

/// The kernel function auto-detection tries fentry on first.
pub(crate) fn fentry_probe_function() -> String {
    syscall_function(SYSCALLS[0].name)
}

/// Attaches fentry on [`fentry_probe_function`] (`uprof doctor`).
pub(crate) fn attach_fentry_probe(ebpf: &mut Ebpf) -> Result<()> {
    attach_fentry(ebpf, SYSCALLS[0].name, &fentry_probe_function())
}

fn attach_fentry(ebpf: &mut Ebpf, syscall: &str, function: &str) -> Result<()> {
    tier::attach_fentry_to(ebpf, &format!("fentry_{syscall}"), function)
}

fn attach_fexit(ebpf: &mut Ebpf, syscall: &str, function: &str) -> Result<()> {
    tier::attach_fexit_to(ebpf, &format!("fexit_{syscall}"), function)
}

/// Attaches the tracepoint program named after tracepoint `category:program`.
fn attach_tracepoint(ebpf: &mut Ebpf, tracefs: &Path, program: &str, category: &str) -> Result<()> {
    if !tracefs.join("events").join(category).join(program).is_dir() {
        bail!("this kernel has no such tracepoint");
    }
    let tracepoint: &mut TracePoint = tier::program(ebpf, program)?.try_into()?;
    tracepoint
        .load()
        .context("the kernel refused to load the program")?;
    tracepoint.attach(category, program)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verifier_log_shrinks_to_its_messages() {
        // As Debian's 5.10 refused fentry on __x64_sys_epoll_wait (abridged).
        let log = "the BPF_PROG_LOAD syscall returned Permission denied (os error 13). \
                   Verifier output: arg#0 type is not a struct\nUnrecognized arg#0 type PTR\n\
                   ; pub fn $name(raw: *mut c_void) -> i32 {\n0: (bf) r8 = r1\n\
                   \x20R0=map_value(id=0,off=0,ks=4,vs=1,imm=0) R10=fp0\n\n\
                   from 13 to 15: R0=map_value(id=0)\n24: (79) r1 = *(u64 *)(r8 +0)\n\
                   func '__x64_sys_epoll_wait' arg0 type FWD is not a struct\n\
                   invalid bpf_context access off=0 size=8\nverification time 5035 usec\n\
                   stack depth 96+0\nprocessed 25 insns (limit 1000000)\n";
        let e = anyhow!("{log}").context("the kernel refused to load the fentry program");
        assert_eq!(
            one_line(&e),
            "the kernel refused to load the fentry program: the BPF_PROG_LOAD syscall returned \
             Permission denied (os error 13); the verifier says: arg#0 type is not a struct; \
             Unrecognized arg#0 type PTR; func '__x64_sys_epoll_wait' arg0 type FWD is not a \
             struct; invalid bpf_context access off=0 size=8"
        );
    }

    #[test]
    fn an_empty_verifier_log_leaves_the_reason_alone() {
        // As the development hosts refuse fentry: no log, the errno repeated by the cause.
        let e = anyhow!("the BPF_PROG_LOAD syscall returned Operation not permitted (os error 1). Verifier output: ")
            .context("the kernel refused to load the fentry program");
        assert_eq!(
            one_line(&e),
            "the kernel refused to load the fentry program: the BPF_PROG_LOAD syscall returned \
             Operation not permitted (os error 1)"
        );
    }
}
