//! What `/proc` says about a traced process: used to describe what existed before tracing
//! began (threads, fds, epoll interest lists) and to learn fd kinds cheaply.
use std::{
    fs,
    os::{
        fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
        unix::ffi::OsStrExt,
    },
    path::PathBuf,
};

use anyhow::{Context as _, Result, bail};
use uprof_common::{COMM_LEN, FdInfo, FdKind, Header, Interest, Kind, Record, Socket, TaskComm};

use crate::clock::monotonic_ns;

fn proc_path(pid: u32) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}"))
}

/// Fails with one sentence when `pid` is not a live process.
pub fn check_alive(pid: u32) -> Result<()> {
    if !is_alive(pid) {
        bail!("no such process: {pid}");
    }
    Ok(())
}

/// The process thread `tid` belongs to (`tid` itself for a process's main thread).
pub fn process_of(tid: u32) -> Result<u32> {
    let path = proc_path(tid).join("status");
    let status = fs::read_to_string(&path).with_context(|| format!("no such process: {tid}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("{} has no Tgid line", path.display()))
}

/// Fails with one sentence when this process may not read `pid`'s open files, which uprof
/// needs to tell fd kinds and epoll interest lists apart: another user's process needs
/// CAP_SYS_PTRACE.
pub fn check_fds_readable(pid: u32) -> Result<()> {
    let dir = proc_path(pid).join("fd");
    let first = fs::read_dir(&dir).and_then(|mut entries| entries.next().transpose());
    let readable = match first {
        Ok(Some(entry)) => fs::read_link(entry.path()).map(drop),
        Ok(None) => Ok(()),
        Err(e) => Err(e),
    };
    match readable {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => bail!(
            "cannot read the open files of process {pid} ({}: {e}): tracing another user's \
             process needs root, or CAP_SYS_PTRACE besides CAP_BPF and CAP_PERFMON",
            dir.display()
        ),
        // Gone meanwhile: the liveness checks say so.
        _ => Ok(()),
    }
}

/// The name of process (or thread) `pid`, empty if it is gone.
pub fn comm(pid: u32) -> String {
    fs::read_to_string(proc_path(pid).join("comm"))
        .map(|c| c.trim_end_matches('\n').to_owned())
        .unwrap_or_default()
}

/// True while `pid` exists and is not a zombie.
pub fn is_alive(pid: u32) -> bool {
    match fs::read_to_string(proc_path(pid).join("stat")) {
        // The state follows the parenthesised command name, which may itself hold spaces.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

/// The kind of `fd` in process `pid`, or `None` when the fd is gone. A socket that listens is
/// an [`FdKind::Listener`] when it can be asked (see [`listens`]), else an [`FdKind::Socket`].
pub fn fd_kind(pid: u32, fd: i32) -> Option<FdKind> {
    let link = fs::read_link(proc_path(pid).join("fd").join(fd.to_string())).ok()?;
    Some(match FdKind::from_link(link.as_os_str().as_bytes()) {
        FdKind::Socket if listens(pid, fd) == Some(true) => FdKind::Listener,
        kind => kind,
    })
}

/// Whether socket `fd` of `pid` listens, as `SO_ACCEPTCONN` on a duplicate of it says
/// (`pidfd_getfd`: Linux 5.6 and the right to ptrace `pid`); `None` when it cannot be asked.
/// The duplicate is closed at once: the target's socket and its epoll entries are unaffected.
fn listens(pid: u32, fd: i32) -> Option<bool> {
    // SAFETY: pidfd_open takes a pid and flags; a new descriptor or -1 comes back.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: a descriptor just created and owned by nobody else.
    let pidfd = unsafe { OwnedFd::from_raw_fd(i32::try_from(pidfd).ok().filter(|&f| f >= 0)?) };
    // SAFETY: pidfd_getfd takes a pidfd, the target's fd number and flags.
    let dup = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
    // SAFETY: as above.
    let dup = unsafe { OwnedFd::from_raw_fd(i32::try_from(dup).ok().filter(|&f| f >= 0)?) };
    let mut accepting: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: a valid int and its length for an int option.
    let ok = unsafe {
        libc::getsockopt(
            dup.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
            (&raw mut accepting).cast(),
            &mut len,
        )
    } == 0;
    ok.then_some(accepting != 0)
}

/// The inode number of socket `fd` of `pid` (`socket:[ino]`), if it is one.
fn socket_ino(pid: u32, fd: i32) -> Option<u64> {
    let link = fs::read_link(proc_path(pid).join("fd").join(fd.to_string())).ok()?;
    let link = link.to_str()?;
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// An [`FdInfo`] record for `fd` of `pid`, if the fd still exists.
pub fn fd_info(pid: u32, fd: i32) -> Option<FdInfo> {
    let kind = fd_kind(pid, fd)?;
    Some(FdInfo {
        header: Header::user::<FdInfo>(monotonic_ns(), pid, pid),
        fd,
        kind: kind as u32,
    })
}

/// Records describing a process that was running before tracing began: a name per thread, the
/// kind of each fd, which socket each socket fd is, and the entries of each epoll interest
/// list.
pub fn snapshot(pid: u32) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    let ts = monotonic_ns();
    let task_dir = proc_path(pid).join("task");
    for entry in
        fs::read_dir(&task_dir).with_context(|| format!("cannot read {}", task_dir.display()))?
    {
        let Some(tid) = entry?
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let comm = fs::read(task_dir.join(tid.to_string()).join("comm")).unwrap_or_default();
        let mut header = Header::user::<TaskComm>(ts, pid, tid);
        header.kind = Kind::TaskInfo as u16;
        out.push(Record::TaskInfo(TaskComm {
            header,
            comm: comm_bytes(&comm),
        }));
    }
    let fd_dir = proc_path(pid).join("fd");
    for entry in
        fs::read_dir(&fd_dir).with_context(|| format!("cannot read {}", fd_dir.display()))?
    {
        let Some(fd) = entry?
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Some(info) = fd_info(pid, fd) else {
            continue;
        };
        out.push(Record::FdInfo(info));
        if let Some(ino) = socket_ino(pid, fd) {
            out.push(Record::Socket(Socket {
                header: Header::user::<Socket>(ts, pid, pid),
                fd,
                _pad: 0,
                ino,
            }));
        }
        if FdKind::from_u32(info.kind) == FdKind::Epoll {
            let text = fs::read_to_string(proc_path(pid).join("fdinfo").join(fd.to_string()))
                .unwrap_or_default();
            for (tfd, events, data) in parse_epoll_fdinfo(&text) {
                out.push(Record::Interest(Interest {
                    header: Header::user::<Interest>(ts, pid, pid),
                    epfd: fd,
                    fd: tfd,
                    events,
                    _pad: 0,
                    data,
                }));
            }
        }
    }
    Ok(out)
}

fn comm_bytes(raw: &[u8]) -> [u8; COMM_LEN] {
    let mut comm = [0; COMM_LEN];
    let name = raw.strip_suffix(b"\n").unwrap_or(raw);
    let n = name.len().min(COMM_LEN - 1);
    comm[..n].copy_from_slice(&name[..n]);
    comm
}

/// Parses the `tfd: 5 events: 19 data: 5 ...` lines of an epoll fd's fdinfo (events and data
/// in hex).
fn parse_epoll_fdinfo(text: &str) -> Vec<(i32, u32, u64)> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let mut field = |name: &str| -> Option<&str> {
                (words.next()? == name).then_some(())?;
                words.next()
            };
            let tfd = field("tfd:")?.parse().ok()?;
            let events = u32::from_str_radix(field("events:")?, 16).ok()?;
            let data = u64::from_str_radix(field("data:")?, 16).ok()?;
            Some((tfd, events, data))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_epoll_fdinfo() {
        let text = "pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1057\n\
                    tfd:        5 events:       19 data:                5  pos:0 ino:2c42 sdev:c\n\
                    tfd:        7 events: 80000001 data:     7f00000000aa  pos:0 ino:2c43 sdev:c\n";
        assert_eq!(
            parse_epoll_fdinfo(text),
            vec![(5, 0x19, 5), (7, 0x8000_0001, 0x7f00_0000_00aa)]
        );
    }

    #[test]
    fn this_process_is_alive_and_a_bogus_pid_is_not() {
        assert!(is_alive(std::process::id()));
        assert!(
            check_alive(u32::MAX - 1)
                .unwrap_err()
                .to_string()
                .contains("no such process")
        );
    }

    #[test]
    fn snapshot_of_self_names_threads_and_epoll_interest() {
        // SAFETY: plain syscalls on fds this test owns.
        let (epfd, efd) = unsafe { (libc::epoll_create1(0), libc::eventfd(0, 0)) };
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: 42,
        };
        assert_eq!(
            unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, efd, &mut ev) },
            0
        );
        let parsed = snapshot(std::process::id()).unwrap();
        let interest = parsed.iter().find_map(|r| match r {
            uprof_common::Record::Interest(i) if i.epfd == epfd => Some(*i),
            _ => None,
        });
        let interest = interest.expect("the epoll fd's interest list is in the snapshot");
        // The kernel always adds EPOLLERR and EPOLLHUP to the interest mask.
        let events = (libc::EPOLLIN | libc::EPOLLERR | libc::EPOLLHUP) as u32;
        assert_eq!(
            (interest.fd, interest.events, interest.data),
            (efd, events, 42)
        );
        assert!(
            parsed
                .iter()
                .any(|r| matches!(r, uprof_common::Record::FdInfo(i)
            if i.fd == efd && FdKind::from_u32(i.kind) == FdKind::EventFd))
        );
        assert!(
            parsed
                .iter()
                .any(|r| matches!(r, uprof_common::Record::TaskInfo(t)
            if t.header.tid == std::process::id()))
        );
        unsafe { libc::close(efd) };
        unsafe { libc::close(epfd) };
    }

    #[test]
    fn a_listening_socket_is_a_listener_and_its_connections_are_sockets() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        let me = std::process::id();
        assert_eq!(fd_kind(me, listener.as_raw_fd()), Some(FdKind::Listener));
        assert_eq!(fd_kind(me, client.as_raw_fd()), Some(FdKind::Socket));
        assert_eq!(fd_kind(me, accepted.as_raw_fd()), Some(FdKind::Socket));
    }
}
