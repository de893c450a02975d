//! tracefs: where the tracepoints and their `format` files live.
use std::{
    ffi::CString,
    fs, io,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result, bail};

use crate::preflight;

const MOUNT_POINT: &str = "/sys/kernel/tracing";

/// A file every kernel uprof runs on has, and the first kind uprof reads: if it is unreadable,
/// so is the rest.
const PROBE_FILE: &str = "events/sched/sched_process_fork/format";

/// Finds tracefs (at its usual place if it is mounted there too), mounting it on
/// `/sys/kernel/tracing` when it is mounted nowhere and this process may mount (as perf does).
/// Fails with one sentence that tells a missing tracefs from an unreadable one, and says what
/// to do.
pub fn ensure_mounted() -> Result<PathBuf> {
    let mut points = mount_points(&fs::read_to_string("/proc/self/mountinfo").unwrap_or_default());
    if points.is_empty() {
        if !preflight::may_mount() {
            bail!(
                "tracefs is not mounted: run `mount -t tracefs nodev {MOUNT_POINT}` as root (the \
                 tracepoints uprof attaches to live there)"
            );
        }
        mount().with_context(|| {
            format!("tracefs is not mounted, and mounting it on {MOUNT_POINT} failed")
        })?;
        points.push(PathBuf::from(MOUNT_POINT));
    }
    let dir = points
        .iter()
        .find(|p| p.as_os_str() == MOUNT_POINT)
        .unwrap_or(&points[0]);
    let probe = dir.join(PROBE_FILE);
    match fs::File::open(&probe) {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => bail!(
            "tracefs is mounted on {} but this user cannot read it ({}: {e}): uprof needs {}",
            dir.display(),
            probe.display(),
            preflight::CAPABILITIES_NEEDED
        ),
        // A missing tracepoint is reported, with its name, where it is needed.
        _ => Ok(dir.clone()),
    }
}

/// Where tracefs is mounted, from `/proc/self/mountinfo`.
fn mount_points(mountinfo: &str) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| {
            // `ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE ...`
            let (fields, rest) = line.split_once(" - ")?;
            let fs_type = rest.split(' ').next()?;
            let point = fields.split(' ').nth(4)?;
            (fs_type == "tracefs").then(|| PathBuf::from(unescape(point)))
        })
        .collect()
}

/// A mountinfo path: spaces, tabs, newlines and backslashes are written as octal escapes.
fn unescape(path: &str) -> String {
    path.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

fn mount() -> io::Result<()> {
    let c = |s: &str| CString::new(s).expect("no NUL in a constant");
    let (source, target, fs_type) = (c("nodev"), c(MOUNT_POINT), c("tracefs"));
    // SAFETY: valid NUL-terminated strings; no mount data.
    let ret = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fs_type.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    match ret {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// The byte offset of `field` in the records of tracepoint `category:name`, read from its
/// `format` file.
pub fn field_offset(tracefs: &Path, category: &str, name: &str, field: &str) -> Result<u32> {
    let path = tracefs
        .join("events")
        .join(category)
        .join(name)
        .join("format");
    let text = fs::read_to_string(&path).with_context(|| {
        format!(
            "tracepoint {category}:{name} is not available ({})",
            path.display()
        )
    })?;
    parse_field_offset(&text, field).with_context(|| {
        format!(
            "tracepoint {category}:{name} has no field `{field}` in {}",
            path.display()
        )
    })
}

/// Finds `field:<type> <field>[..];\toffset:<n>;` in a format file.
fn parse_field_offset(format: &str, field: &str) -> Option<u32> {
    format.lines().find_map(|line| {
        let decl = line.trim().strip_prefix("field:")?;
        let (decl, rest) = decl.split_once(';')?;
        let name = decl.rsplit(' ').next()?.split('[').next()?;
        if name != field {
            return None;
        }
        rest.trim()
            .strip_prefix("offset:")?
            .split(';')
            .next()?
            .trim()
            .parse()
            .ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORK_6_18: &str = "name: sched_process_fork
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:__data_loc char[] parent_comm;\toffset:8;\tsize:4;\tsigned:0;
\tfield:pid_t parent_pid;\toffset:12;\tsize:4;\tsigned:1;
\tfield:pid_t child_pid;\toffset:20;\tsize:4;\tsigned:1;
";

    const RENAME: &str = "\tfield:pid_t pid;\toffset:8;\tsize:4;\tsigned:1;
\tfield:char oldcomm[16];\toffset:12;\tsize:16;\tsigned:0;
\tfield:char newcomm[16];\toffset:28;\tsize:16;\tsigned:0;
";

    #[test]
    fn finds_offsets_of_plain_array_and_data_loc_fields() {
        assert_eq!(parse_field_offset(FORK_6_18, "child_pid"), Some(20));
        assert_eq!(parse_field_offset(FORK_6_18, "parent_comm"), Some(8));
        assert_eq!(parse_field_offset(RENAME, "newcomm"), Some(28));
        assert_eq!(parse_field_offset(RENAME, "pid"), Some(8));
    }

    #[test]
    fn finds_tracefs_mounts_among_the_others() {
        let mountinfo = "\
22 1 0:21 / /sys rw,nosuid shared:7 - sysfs sysfs rw
31 22 0:12 / /sys/kernel/tracing rw,relatime shared:12 - tracefs nodev rw,mode=700
40 35 0:12 / /sys/kernel/debug/tracing rw,relatime - tracefs tracefs rw
41 1 0:12 / /mnt/my\\040traces rw - tracefs nodev rw
";
        assert_eq!(
            mount_points(mountinfo),
            [
                "/sys/kernel/tracing",
                "/sys/kernel/debug/tracing",
                "/mnt/my traces"
            ]
            .map(PathBuf::from)
        );
        assert!(mount_points("22 1 0:21 / /sys rw - sysfs sysfs rw\n").is_empty());
    }

    #[test]
    fn missing_field_is_none() {
        assert_eq!(parse_field_offset(FORK_6_18, "child_comm"), None);
        assert_eq!(parse_field_offset(RENAME, "comm"), None);
    }
}
