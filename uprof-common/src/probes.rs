//! The probes uprof attaches: the names of its eBPF programs, in one place for the programs
//! (`uprof-ebpf`, whose function names they are) and the loader (`uprof-trace`, which finds
//! them by name); the kinds of probe; and the tiers they make up. The syscall programs are
//! generated from [`with_syscall_programs!`]'s table on both sides, so a rename changes both;
//! the loader's tests check that the compiled object holds exactly the programs named here.
use crate::arch::Arch;

/// A set of probes, from the most to the least precise (see `docs/probe-tiers.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
pub enum Tier {
    /// Syscall hooks plus `ep_poll_callback`: exact ready-to-delivered latency.
    Callback,
    /// Syscall hooks plus `sk_data_ready`: readiness of sockets only, approximate.
    Socket,
    /// Syscall hooks only.
    Syscall,
}

impl Tier {
    /// From the most to the least precise: the order in which uprof tries them.
    pub const ALL: [Tier; 3] = [Tier::Callback, Tier::Socket, Tier::Syscall];

    /// The name on the command line, in session headers and in reports.
    pub const fn name(self) -> &'static str {
        match self {
            Tier::Callback => "callback",
            Tier::Socket => "socket",
            Tier::Syscall => "syscall",
        }
    }
}

/// What kind of program a probe is, and how it attaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
pub enum ProbeKind {
    /// A tracepoint through tracefs (`syscalls:sys_enter_epoll_wait`).
    Tracepoint,
    /// A BPF trampoline at a kernel function's entry.
    Fentry,
    /// A BPF trampoline at a kernel function's return.
    Fexit,
    Kprobe,
    /// A BTF-typed raw tracepoint.
    TpBtf,
}

impl ProbeKind {
    /// Whether `name` names a probe of this kind on `target`: probes are named
    /// `kind:target` (`fentry:ep_poll_callback`, `tp_btf:sched_waking`).
    pub fn is_probe_on(self, name: &str, target: &str) -> bool {
        name.strip_prefix(self.name())
            .and_then(|rest| rest.strip_prefix(':'))
            == Some(target)
    }

    /// The name in probe names (`fentry:ep_poll_callback`), messages and session headers.
    pub const fn name(self) -> &'static str {
        match self {
            ProbeKind::Tracepoint => "tracepoint",
            ProbeKind::Fentry => "fentry",
            ProbeKind::Fexit => "fexit",
            ProbeKind::Kprobe => "kprobe",
            ProbeKind::TpBtf => "tp_btf",
        }
    }
}

/// Calls macro `$m` with the table of the syscalls uprof hooks and their programs:
///
/// - `entry_and_exit`: calls whose entry matters (the waits: when they blocked, with what
///   timeout; `close`: the kernel frees the number as it begins). Four programs each: on the
///   `sys_enter_*` and `sys_exit_*` tracepoints, and fentry and fexit on the syscall function.
/// - `exit_only`: calls hooked at their return only when hooked by function (the saved
///   registers still hold the arguments there): three programs, no fentry.
///
/// Each row: `syscall (call value, required) => tracepoint enter, tracepoint exit, [fentry,]
/// fexit;`. `call` is what `InFlight::call` holds during the call; a required syscall that
/// cannot be hooked makes the recording fail. The first row is the call the loader tries
/// fentry on first.
#[macro_export]
macro_rules! with_syscall_programs {
    ($m:ident) => {
        $m! {
            entry_and_exit {
                epoll_wait($crate::WaitSyscall::EpollWait as u8, true) =>
                    sys_enter_epoll_wait, sys_exit_epoll_wait,
                    fentry_epoll_wait, fexit_epoll_wait;
                epoll_pwait($crate::WaitSyscall::EpollPwait as u8, true) =>
                    sys_enter_epoll_pwait, sys_exit_epoll_pwait,
                    fentry_epoll_pwait, fexit_epoll_pwait;
                // Linux 5.11+.
                epoll_pwait2($crate::WaitSyscall::EpollPwait2 as u8, false) =>
                    sys_enter_epoll_pwait2, sys_exit_epoll_pwait2,
                    fentry_epoll_pwait2, fexit_epoll_pwait2;
                poll($crate::WaitSyscall::Poll as u8, false) =>
                    sys_enter_poll, sys_exit_poll, fentry_poll, fexit_poll;
                ppoll($crate::WaitSyscall::Ppoll as u8, false) =>
                    sys_enter_ppoll, sys_exit_ppoll, fentry_ppoll, fexit_ppoll;
                select($crate::WaitSyscall::Select as u8, false) =>
                    sys_enter_select, sys_exit_select, fentry_select, fexit_select;
                pselect6($crate::WaitSyscall::Pselect6 as u8, false) =>
                    sys_enter_pselect6, sys_exit_pselect6, fentry_pselect6, fexit_pselect6;
                close($crate::call::CLOSE, true) =>
                    sys_enter_close, sys_exit_close, fentry_close, fexit_close;
            }
            exit_only {
                epoll_create($crate::call::EPOLL_CREATE, false) =>
                    sys_enter_epoll_create, sys_exit_epoll_create, fexit_epoll_create;
                epoll_create1($crate::call::EPOLL_CREATE1, true) =>
                    sys_enter_epoll_create1, sys_exit_epoll_create1, fexit_epoll_create1;
                epoll_ctl($crate::call::EPOLL_CTL, true) =>
                    sys_enter_epoll_ctl, sys_exit_epoll_ctl, fexit_epoll_ctl;
                dup2($crate::call::DUP2, false) =>
                    sys_enter_dup2, sys_exit_dup2, fexit_dup2;
                dup3($crate::call::DUP3, false) =>
                    sys_enter_dup3, sys_exit_dup3, fexit_dup3;
            }
        }
    };
}

/// One hooked syscall and the names of its programs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyscallPrograms {
    /// The syscall's name, as in `man 2` and its tracepoints' names.
    pub syscall: &'static str,
    /// The `InFlight::call` value during the call.
    pub call: u8,
    /// Without it a recording is meaningless: failing to hook it is an error.
    pub required: bool,
    /// Programs on `syscalls:sys_enter_<syscall>` and `sys_exit_<syscall>`.
    pub sys_enter: &'static str,
    pub sys_exit: &'static str,
    /// fentry on the syscall function, for the calls whose entry matters.
    pub fentry: Option<&'static str>,
    pub fexit: &'static str,
}

macro_rules! syscall_programs_table {
    (
        entry_and_exit {
            $($name:ident($call:expr, $required:literal) =>
                $enter:ident, $exit:ident, $fentry:ident, $fexit:ident;)*
        }
        exit_only {
            $($xname:ident($xcall:expr, $xrequired:literal) =>
                $xenter:ident, $xexit:ident, $xfexit:ident;)*
        }
    ) => {
        /// Every hooked syscall, in [`with_syscall_programs!`]'s order.
        pub const SYSCALLS: &[SyscallPrograms] = &[
            $(SyscallPrograms {
                syscall: stringify!($name),
                call: $call,
                required: $required,
                sys_enter: stringify!($enter),
                sys_exit: stringify!($exit),
                fentry: Some(stringify!($fentry)),
                fexit: stringify!($fexit),
            },)*
            $(SyscallPrograms {
                syscall: stringify!($xname),
                call: $xcall,
                required: $xrequired,
                sys_enter: stringify!($xenter),
                sys_exit: stringify!($xexit),
                fentry: None,
                fexit: stringify!($xfexit),
            },)*
        ];
    };
}

with_syscall_programs!(syscall_programs_table);

/// The hooked syscalls `arch` has, in [`SYSCALLS`]' order: the others are not attempted.
pub fn syscalls_on(arch: Arch) -> impl Iterator<Item = &'static SyscallPrograms> {
    SYSCALLS.iter().filter(move |s| arch.has_syscall(s.call))
}

/// The first of [`syscalls_on`]: the call the loader tries fentry on first, and whose
/// tracepoints' formats it reads the syscall tracepoints' offsets from.
pub fn first_syscall_on(arch: Arch) -> &'static SyscallPrograms {
    syscalls_on(arch)
        .next()
        .expect("every architecture has epoll_pwait (checked by a test)")
}

/// A program on a tracepoint of the task lifecycle, named after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskTracepoint {
    /// The tracepoint's category (`sched` in `sched:sched_process_fork`).
    pub category: &'static str,
    /// The tracepoint's and the program's name.
    pub name: &'static str,
    /// Without it a recording is meaningless: failing to attach it is an error.
    pub required: bool,
}

pub const SCHED_PROCESS_FORK: TaskTracepoint = task("sched", "sched_process_fork", true);
pub const SCHED_PROCESS_EXEC: TaskTracepoint = task("sched", "sched_process_exec", false);
pub const SCHED_PROCESS_EXIT: TaskTracepoint = task("sched", "sched_process_exit", true);
pub const TASK_RENAME: TaskTracepoint = task("task", "task_rename", false);

/// The task lifecycle's programs.
pub const TASK_TRACEPOINTS: [TaskTracepoint; 4] = [
    SCHED_PROCESS_FORK,
    SCHED_PROCESS_EXEC,
    SCHED_PROCESS_EXIT,
    TASK_RENAME,
];

const fn task(category: &'static str, name: &'static str, required: bool) -> TaskTracepoint {
    TaskTracepoint {
        category,
        name,
        required,
    }
}

/// The kernel function the callback tier hooks, and its two programs.
pub const CALLBACK_FUNCTION: &str = "ep_poll_callback";
pub const CALLBACK_FENTRY: &str = "ep_poll_callback_fentry";
pub const CALLBACK_KPROBE: &str = "ep_poll_callback_kprobe";

/// The BTF tracepoint the socket tier hooks; its program has its name.
pub const SOCKET_TRACEPOINT: &str = "sk_data_ready";

/// The BTF tracepoints that follow wake-ups of blocked waiters (socket and callback tiers);
/// their programs have their names. Wake-ups are recorded when the first attaches.
pub const WAKE_TRACEPOINTS: [&str; 2] = ["sched_waking", "sched_switch"];

/// Every program of the object, by name.
pub fn all_program_names() -> impl Iterator<Item = &'static str> {
    let syscalls = SYSCALLS.iter().flat_map(|s| {
        [Some(s.sys_enter), Some(s.sys_exit), s.fentry, Some(s.fexit)]
            .into_iter()
            .flatten()
    });
    let others = [CALLBACK_FENTRY, CALLBACK_KPROBE, SOCKET_TRACEPOINT];
    syscalls
        .chain(TASK_TRACEPOINTS.iter().map(|t| t.name))
        .chain(others)
        .chain(WAKE_TRACEPOINTS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WaitSyscall;

    /// What an architecture lacks is a hooked syscall (`required` then only where it exists),
    /// and every architecture keeps an epoll wait.
    #[test]
    fn absent_syscalls_are_rows_of_the_table() {
        for arch in Arch::ALL {
            for &call in arch.abi().absent_syscalls {
                assert!(
                    SYSCALLS.iter().any(|s| s.call == call),
                    "{call} is not hooked"
                );
            }
            assert!(arch.has_syscall(WaitSyscall::EpollPwait as u8));
        }
        let absent = |arch: Arch| {
            SYSCALLS
                .iter()
                .filter(move |s| !arch.has_syscall(s.call))
                .map(|s| s.syscall)
        };
        assert_eq!(absent(Arch::X86_64).count(), 0);
        assert!(absent(Arch::Aarch64).eq(["epoll_wait", "poll", "select", "epoll_create", "dup2"]));
    }

    /// What each architecture hooks, decided without running on it.
    #[test]
    fn hooks_only_the_syscalls_the_architecture_has() {
        assert!(syscalls_on(Arch::X86_64).eq(SYSCALLS));
        let arm64: [&str; 8] = [
            "epoll_pwait",
            "epoll_pwait2",
            "ppoll",
            "pselect6",
            "close",
            "epoll_create1",
            "epoll_ctl",
            "dup3",
        ];
        assert!(syscalls_on(Arch::Aarch64).map(|s| s.syscall).eq(arm64));
        let first = |arch| WaitSyscall::from_u8(first_syscall_on(arch).call);
        assert_eq!(first(Arch::X86_64), Some(WaitSyscall::EpollWait));
        assert_eq!(first(Arch::Aarch64), Some(WaitSyscall::EpollPwait));
    }
}
