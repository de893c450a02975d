//! Tracepoint field offsets of the running kernel, read from tracefs `format` files and handed
//! to the programs as load-time globals (see `uprof-ebpf/src/maps.rs`). Nothing is assumed: a
//! field the kernel lacks is an error for the programs that cannot do without it, and keeps
//! the optional ones from attaching.
use std::path::Path;

use anyhow::Result;
use uprof_common::{
    arch,
    probes::{TASK_RENAME, TaskTracepoint, first_syscall_on},
};

use crate::{status::one_line, tracefs};

pub(crate) struct Offsets {
    /// The arguments of a `sys_enter_*` record, and the return value of a `sys_exit_*` one.
    syscall_args: u32,
    syscall_ret: u32,
    /// `sched_process_fork`'s `child_pid`.
    fork_child_pid: u32,
    /// `task_rename`'s `pid` and `newcomm`, or why they cannot be read.
    rename: Result<(u32, u32), String>,
}

impl Offsets {
    pub(crate) fn read(tracefs: &Path) -> Result<Offsets> {
        let off = |cat, name, field| tracefs::field_offset(tracefs, cat, name, field);
        let rename = off("task", "task_rename", "pid")
            .and_then(|pid| Ok((pid, off("task", "task_rename", "newcomm")?)))
            .map_err(|e| one_line(&e));
        // Every syscall tracepoint has the same layout; this one's first argument is `epfd`.
        let syscall = first_syscall_on(arch::TARGET);
        Ok(Offsets {
            syscall_args: off("syscalls", syscall.sys_enter, "epfd")?,
            syscall_ret: off("syscalls", syscall.sys_exit, "ret")?,
            fork_child_pid: off("sched", "sched_process_fork", "child_pid")?,
            rename,
        })
    }

    /// The programs' globals for these offsets: `(name, value)`.
    pub(crate) fn globals(&self) -> Vec<(&'static str, u32)> {
        let mut globals = vec![
            ("SYSCALL_ARGS", self.syscall_args),
            ("SYSCALL_RET", self.syscall_ret),
            ("FORK_CHILD_PID", self.fork_child_pid),
        ];
        if let Ok((pid, newcomm)) = self.rename {
            globals.extend([("RENAME_PID", pid), ("RENAME_NEWCOMM", newcomm)]);
        }
        globals
    }

    /// Why the program on task tracepoint `tracepoint` cannot run on this kernel, if it cannot.
    pub(crate) fn unusable(&self, tracepoint: &TaskTracepoint) -> Option<&str> {
        match &self.rename {
            Err(reason) if tracepoint == &TASK_RENAME => Some(reason),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use uprof_common::probes::TASK_TRACEPOINTS;

    use super::*;

    /// A tracefs tree with the `format` files the offsets come from; `rename_fields` are
    /// `task_rename`'s.
    fn fake_tracefs(rename_fields: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let formats = [
            (
                "syscalls",
                first_syscall_on(arch::TARGET).sys_enter,
                "\tfield:int epfd;\toffset:16;\tsize:8;\tsigned:0;\n",
            ),
            (
                "syscalls",
                first_syscall_on(arch::TARGET).sys_exit,
                "\tfield:long ret;\toffset:16;\tsize:8;\tsigned:1;\n",
            ),
            (
                "sched",
                "sched_process_fork",
                "\tfield:pid_t child_pid;\toffset:44;\tsize:4;\tsigned:1;\n",
            ),
            ("task", "task_rename", rename_fields),
        ];
        for (category, name, fields) in formats {
            let event = dir.path().join("events").join(category).join(name);
            fs::create_dir_all(&event).unwrap();
            let text = format!("name: {name}\nID: 1\nformat:\n{fields}");
            fs::write(event.join("format"), text).unwrap();
        }
        dir
    }

    const RENAME: &str = "\tfield:pid_t pid;\toffset:8;\tsize:4;\tsigned:1;\n\
                          \tfield:char oldcomm[16];\toffset:12;\tsize:16;\tsigned:0;\n\
                          \tfield:char newcomm[16];\toffset:28;\tsize:16;\tsigned:0;\n";

    #[test]
    fn every_offset_comes_from_the_format_files() {
        let tracefs = fake_tracefs(RENAME);
        let offsets = Offsets::read(tracefs.path()).unwrap();
        assert_eq!(
            offsets.globals(),
            [
                ("SYSCALL_ARGS", 16),
                ("SYSCALL_RET", 16),
                ("FORK_CHILD_PID", 44),
                ("RENAME_PID", 8),
                ("RENAME_NEWCOMM", 28)
            ]
        );
        assert!(
            TASK_TRACEPOINTS
                .iter()
                .all(|t| offsets.unusable(t).is_none())
        );
    }

    /// A kernel whose `task_rename` lost `newcomm`: no offset is made up, the program is not
    /// attached, and the probe list says why.
    #[test]
    fn a_missing_field_keeps_its_program_out() {
        let tracefs = fake_tracefs("\tfield:pid_t pid;\toffset:8;\tsize:4;\tsigned:1;\n");
        let offsets = Offsets::read(tracefs.path()).unwrap();
        assert!(
            offsets
                .globals()
                .iter()
                .all(|(name, _)| !name.starts_with("RENAME"))
        );
        let reason = offsets
            .unusable(&TASK_RENAME)
            .expect("task_rename is unusable");
        assert!(
            reason.contains("task_rename has no field `newcomm`"),
            "{reason}"
        );
        let others = TASK_TRACEPOINTS.iter().filter(|t| **t != TASK_RENAME);
        assert!(others.into_iter().all(|t| offsets.unusable(t).is_none()));
    }

    #[test]
    fn a_missing_required_field_is_an_error() {
        let tracefs = fake_tracefs(RENAME);
        let format = tracefs
            .path()
            .join("events/sched/sched_process_fork/format");
        fs::write(&format, "name: sched_process_fork\nformat:\n").unwrap();
        let error = Offsets::read(tracefs.path()).err().expect("no child_pid");
        assert!(format!("{error:#}").contains("child_pid"), "{error:#}");
    }
}
