//! What a test run leaves behind: processes and the eBPF programs they hold. The test process
//! becomes a child subreaper, so that orphans of the processes it starts (a child uprof forked
//! and lost) are re-parented to it instead of to init, where they could not be told apart from
//! those of other test runs.
use std::{fs, path::Path};

/// Makes this process adopt the orphans of its descendants.
pub fn adopt_orphans() {
    // SAFETY: prctl with integer arguments.
    assert_eq!(
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) },
        0
    );
}

/// The processes of this test run still there: children of this process (adopted orphans
/// included) that hold eBPF programs or whose command line mentions `marker`, and any process
/// whose command line does. Each is described with the programs it holds, then killed and
/// reaped so that a failing test leaves nothing attached either.
pub fn take_leftovers(marker: &Path) -> Vec<String> {
    let me = std::process::id();
    let marker = marker.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for pid in all_pids() {
        if pid == me {
            continue;
        }
        let cmdline = fs::read(format!("/proc/{pid}/cmdline"))
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .unwrap_or_default();
        let programs = bpf_programs(pid);
        let ours = parent(pid) == Some(me) && !programs.is_empty();
        if ours || cmdline.contains(&marker) {
            found.push(format!(
                "pid {pid} `{cmdline}` holds {} eBPF programs: {programs:?}",
                programs.len()
            ));
            // SAFETY: kill and waitpid have no memory effects; waitpid fails harmlessly on a
            // process that is not our child.
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
                libc::waitpid(pid as i32, std::ptr::null_mut(), 0);
            }
        }
    }
    found
}

fn all_pids() -> Vec<u32> {
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

fn parent(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the parenthesised command name: state, then the parent's pid.
    stat.rsplit_once(") ")?.1.split(' ').nth(1)?.parse().ok()
}

/// The eBPF programs `pid` holds a descriptor of: `id N (type T)` from each one's fdinfo.
fn bpf_programs(pid: u32) -> Vec<String> {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    fds.filter_map(|e| {
        let e = e.ok()?;
        if fs::read_link(e.path()).ok()?.to_str()? != "anon_inode:bpf-prog" {
            return None;
        }
        let info = fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", e.file_name().to_str()?));
        let info = info.ok()?;
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_owned())
        };
        Some(format!(
            "id {} (type {})",
            field("prog_id:")?,
            field("prog_type:")?
        ))
    })
    .collect()
}
