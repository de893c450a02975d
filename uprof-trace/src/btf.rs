//! Kernel struct member offsets from the running kernel's BTF (`/sys/kernel/btf/vmlinux`):
//! Rust eBPF has no CO-RE relocations, so the callback tier's programs get them as globals.
use std::path::Path;

use anyhow::{Context as _, Result, anyhow, bail};
use btf_rs::{Btf, Type};

/// Where the running kernel's BTF is.
pub const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

/// The offsets the callback tier needs, in bytes, as `(global name, struct, member path)`.
pub const CALLBACK_MEMBERS: &[(&str, &str, &str)] = &[
    ("EPPOLL_WAIT", "eppoll_entry", "wait"),
    ("EPPOLL_BASE", "eppoll_entry", "base"),
    ("EPITEM_FD", "epitem", "ffd.fd"),
    ("EPITEM_EP", "epitem", "ep"),
    ("EPITEM_EVENTS", "epitem", "event.events"),
    ("EPITEM_DATA", "epitem", "event.data"),
    ("TASK_FILES", "task_struct", "files"),
    ("FILES_FDT", "files_struct", "fdt"),
    ("FDTABLE_MAX_FDS", "fdtable", "max_fds"),
    ("FDTABLE_FD", "fdtable", "fd"),
    ("FILE_PRIVATE_DATA", "file", "private_data"),
];

/// Reads every offset of [`CALLBACK_MEMBERS`] from `path`: `(global name, offset)`.
pub fn callback_offsets(path: &Path) -> Result<Vec<(&'static str, u32)>> {
    let btf = Btf::from_file(path)
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("cannot read the kernel's BTF ({})", path.display()))?;
    CALLBACK_MEMBERS
        .iter()
        .map(|&(global, ty, member)| Ok((global, member_offset(&btf, ty, member)?)))
        .collect()
}

/// The byte offset of `path` (members separated by dots) in `struct name`.
pub fn member_offset(btf: &Btf, name: &str, path: &str) -> Result<u32> {
    let mut ty = struct_named(btf, name)?;
    let mut offset_bits = 0;
    for part in path.split('.') {
        let (bits, member_type) = find_member(btf, &ty, part)?
            .with_context(|| format!("struct {name} has no member {path} in the kernel's BTF"))?;
        offset_bits += bits;
        ty = member_type;
    }
    if offset_bits % 8 != 0 {
        bail!("{name}.{path} is a bit field");
    }
    Ok(offset_bits / 8)
}

fn struct_named(btf: &Btf, name: &str) -> Result<Type> {
    btf.resolve_types_by_name(name)
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("the kernel's BTF has no struct {name}"))?
        .into_iter()
        .find(|t| matches!(t, Type::Struct(_)))
        .with_context(|| format!("the kernel's BTF has no struct {name}"))
}

/// Finds member `name` of a struct or union (looking inside anonymous members), returning its
/// bit offset and its type with typedefs and qualifiers stripped.
fn find_member(btf: &Btf, ty: &Type, name: &str) -> Result<Option<(u32, Type)>> {
    let (Type::Struct(s) | Type::Union(s)) = ty else {
        return Ok(None);
    };
    for member in &s.members {
        let member_name = btf.resolve_name(member).unwrap_or_default();
        let member_type = strip(
            btf,
            btf.resolve_chained_type(member)
                .map_err(|e| anyhow!("{e}"))?,
        )?;
        if member_name == name {
            return Ok(Some((member.bit_offset(), member_type)));
        }
        if member_name.is_empty()
            && let Some((bits, t)) = find_member(btf, &member_type, name)?
        {
            return Ok(Some((member.bit_offset() + bits, t)));
        }
    }
    Ok(None)
}

/// `ty` without typedefs, `const`, `volatile` and `restrict`.
fn strip(btf: &Btf, mut ty: Type) -> Result<Type> {
    loop {
        ty = match &ty {
            Type::Typedef(t) => btf.resolve_chained_type(t),
            Type::Const(t) | Type::Volatile(t) | Type::Restrict(t) => btf.resolve_chained_type(t),
            _ => return Ok(ty),
        }
        .map_err(|e| anyhow!("{e}"))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host's BTF: structs whose layout is fixed by the ABI or stable for decades.
    #[test]
    fn finds_members_through_nesting_and_typedefs() {
        let btf = Btf::from_file(VMLINUX).expect("this machine has kernel BTF");
        // struct epoll_event is packed on x86-64: data right after the 4-byte events.
        assert_eq!(
            member_offset(&btf, "epitem", "event.data").unwrap()
                - member_offset(&btf, "epitem", "event.events").unwrap(),
            4
        );
        // struct epoll_filefd { struct file *file; int fd; }
        assert_eq!(
            member_offset(&btf, "epitem", "ffd.fd").unwrap()
                - member_offset(&btf, "epitem", "ffd").unwrap(),
            8
        );
        // The wait-queue entry's `flags` comes first (include/linux/wait.h).
        assert_eq!(member_offset(&btf, "wait_queue_entry", "flags").unwrap(), 0);
        assert!(member_offset(&btf, "epitem", "no_such_member").is_err());
        assert_eq!(
            callback_offsets(Path::new(VMLINUX)).unwrap().len(),
            CALLBACK_MEMBERS.len()
        );
    }
}
