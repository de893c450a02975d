//! The processes `uprof record -p` traces, from the ids the user gave.
use anyhow::Result;
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
    fn a_missing_id_is_one_sentence() {
        let err = processes(&[999_999_999]).unwrap_err();
        assert_eq!(format!("{err:#}"), "no such process: 999999999");
    }
}
