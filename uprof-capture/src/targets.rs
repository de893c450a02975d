//! The processes `uprof record -p` traces, from the ids the user gave.
use std::{fs, path::PathBuf};

use anyhow::{Result, bail};
use uprof_trace::procfs;

/// A thread id given where a process id was expected: its process is traced instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadOf {
    pub tid: u32,
    pub pid: u32,
}

/// The processes to trace for `ids`, in the order given and each once: a thread id stands
/// for its process (the tracing is per process). Also the thread ids given. Fails with one
/// sentence on an id that is no live process or thread, or on a process whose open files this
/// user may not read.
pub fn processes(ids: &[u32]) -> Result<(Vec<u32>, Vec<ThreadOf>)> {
    let mut pids = Vec::new();
    let mut threads = Vec::new();
    for &id in ids {
        procfs::check_alive(id)?;
        let pid = procfs::process_of(id)?;
        if pid != id {
            threads.push(ThreadOf { tid: id, pid });
        }
        if !pids.contains(&pid) {
            procfs::check_fds_readable(pid)?;
            pids.push(pid);
        }
    }
    Ok((pids, threads))
}

/// Processes `uprof agent` traces as they come and go: those called one of `comms`, and
/// those in cgroup v2 directory `cgroup`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    pub comms: Vec<String>,
    pub cgroup: Option<PathBuf>,
}

impl Selection {
    /// Checks the selection once, at start: one sentence for a name no process can have or a
    /// path that is no cgroup.
    pub fn check(&self) -> Result<()> {
        for comm in &self.comms {
            if comm.is_empty() {
                bail!("--comm: an empty name matches no process");
            }
            if comm.len() > COMM_MAX {
                bail!(
                    "--comm {comm:?}: process names are at most {COMM_MAX} bytes (the kernel \
                     cuts longer ones): use {:?}",
                    truncated(comm)
                );
            }
        }
        if let Some(cgroup) = &self.cgroup {
            fs::read_to_string(cgroup.join("cgroup.procs")).map_err(|e| {
                anyhow::anyhow!(
                    "--cgroup {}: not a cgroup v2 directory (cannot read its cgroup.procs: {e})",
                    cgroup.display()
                )
            })?;
        }
        Ok(())
    }

    /// Whether it selects anything beyond `-p`.
    pub fn is_empty(&self) -> bool {
        self.comms.is_empty() && self.cgroup.is_none()
    }

    /// The live processes it selects now, in ascending order; a cgroup removed meanwhile
    /// selects nothing (and says so in the error).
    pub fn processes(&self) -> (Vec<u32>, Option<anyhow::Error>) {
        let mut pids = Vec::new();
        let mut error = None;
        if !self.comms.is_empty()
            && let Ok(dir) = fs::read_dir("/proc")
        {
            pids.extend(
                dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                    .filter(|&pid| self.comms.contains(&procfs::comm(pid))),
            );
        }
        if let Some(cgroup) = &self.cgroup {
            match fs::read_to_string(cgroup.join("cgroup.procs")) {
                Ok(procs) => {
                    pids.extend(procs.lines().filter_map(|l| l.trim().parse::<u32>().ok()))
                }
                Err(e) => {
                    error = Some(anyhow::anyhow!(
                        "cgroup {} cannot be read any more: {e}",
                        cgroup.display()
                    ));
                }
            }
        }
        pids.sort_unstable();
        pids.dedup();
        pids.retain(|&pid| procfs::is_alive(pid));
        (pids, error)
    }
}

/// `TASK_COMM_LEN - 1`.
const COMM_MAX: usize = uprof_common::COMM_LEN - 1;

/// `name` cut to what the kernel keeps of it (at a character boundary).
fn truncated(name: &str) -> &str {
    let mut end = COMM_MAX;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    #[test]
    fn each_process_is_traced_once_in_the_order_given() {
        let me = std::process::id();
        let parent = std::os::unix::process::parent_id();
        assert_eq!(
            processes(&[me, parent, me, me]).unwrap(),
            (vec![me, parent], vec![])
        );
    }

    #[test]
    fn a_thread_id_stands_for_its_process() {
        let me = std::process::id();
        let (tid_tx, tid_rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            // SAFETY: gettid has no memory effects.
            tid_tx.send(unsafe { libc::gettid() } as u32).unwrap();
            let _ = done_rx.recv();
        });
        let tid = tid_rx.recv().unwrap();
        let traced = processes(&[tid, me]);
        drop(done_tx);
        thread.join().unwrap();
        assert_eq!(traced.unwrap(), (vec![me], vec![ThreadOf { tid, pid: me }]));
    }

    #[test]
    fn a_name_selects_the_processes_called_so() {
        let me = std::process::id();
        let selection = Selection {
            comms: vec![procfs::comm(me)],
            cgroup: None,
        };
        selection.check().unwrap();
        let (pids, error) = selection.processes();
        assert!(error.is_none());
        assert!(pids.contains(&me), "{pids:?}");
        assert!(
            pids.iter()
                .all(|&pid| procfs::comm(pid) == procfs::comm(me))
        );
    }

    #[test]
    fn names_no_process_can_have_and_paths_that_are_no_cgroup_are_one_sentence() {
        let long = Selection {
            comms: vec!["a-name-longer-than-fifteen".into()],
            cgroup: None,
        };
        assert_eq!(
            long.check().unwrap_err().to_string(),
            "--comm \"a-name-longer-than-fifteen\": process names are at most 15 bytes (the \
             kernel cuts longer ones): use \"a-name-longer-t\""
        );
        let cgroup = Selection {
            comms: vec![],
            cgroup: Some("/nonexistent".into()),
        };
        assert!(
            cgroup
                .check()
                .unwrap_err()
                .to_string()
                .starts_with("--cgroup /nonexistent: not a cgroup v2 directory")
        );
    }

    #[test]
    fn a_missing_id_is_one_sentence() {
        let err = processes(&[999_999_999]).unwrap_err();
        assert_eq!(format!("{err:#}"), "no such process: 999999999");
    }
}
