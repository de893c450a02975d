//! tracefs: where the tracepoints and their `format` files live.
use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result, bail};

const MOUNT_POINT: &str = "/sys/kernel/tracing";
const LEGACY_MOUNT_POINT: &str = "/sys/kernel/debug/tracing";

/// Finds tracefs, mounting it on `/sys/kernel/tracing` when it is not mounted anywhere (as perf
/// does; root only).
pub fn ensure_mounted() -> Result<PathBuf> {
    for dir in [MOUNT_POINT, LEGACY_MOUNT_POINT] {
        if Path::new(dir).join("events").is_dir() {
            return Ok(PathBuf::from(dir));
        }
    }
    let status = std::process::Command::new("mount")
        .args(["-t", "tracefs", "nodev", MOUNT_POINT])
        .status();
    if matches!(status, Ok(s) if s.success()) && Path::new(MOUNT_POINT).join("events").is_dir() {
        return Ok(PathBuf::from(MOUNT_POINT));
    }
    bail!(
        "tracefs is not mounted and could not be mounted: run `mount -t tracefs nodev {MOUNT_POINT}` \
         as root (the syscall tracepoints live there)"
    )
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
    fn missing_field_is_none() {
        assert_eq!(parse_field_offset(FORK_6_18, "child_comm"), None);
        assert_eq!(parse_field_offset(RENAME, "comm"), None);
    }
}
