//! Kernel struct member offsets from the running kernel's BTF (`/sys/kernel/btf/vmlinux`):
//! Rust eBPF has no CO-RE relocations, so the callback tier's programs get them as globals.
//!
//! The reader understands just what member offsets need (the BTF format is documented in the
//! kernel's `Documentation/bpf/btf.rst`): the type section's records, struct and union members,
//! array elements (arm64's saved registers are `regs[31]`), and the typedef/qualifier chains to
//! skip.
use std::{
    collections::HashMap,
    fs,
    path::Path,
    sync::{Arc, Mutex, PoisonError},
};

use anyhow::{Context as _, Result, bail};
use uprof_common::arch::SYSCALL_ARG_REGISTERS;

/// Where the running kernel's BTF is.
pub const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

/// The running kernel's BTF as aya reads it (to load fentry, fexit and tp_btf programs).
pub(crate) fn aya_kernel() -> Result<Arc<aya::Btf>> {
    AYA_KERNEL
        .get(|| aya::Btf::from_sys_fs().map_err(anyhow::Error::from))
        .context("cannot read the kernel's BTF")
}

static AYA_KERNEL: Parsed<aya::Btf> = Parsed::new();
static KERNEL: Parsed<Btf> = Parsed::new();

/// A kernel BTF parsed on first use and kept until [`Loading`] ends: loading the programs
/// reads it many times (each parse a fraction of a second under emulation), but parsed it
/// takes tens of MB that a long-running agent must not keep.
struct Parsed<T>(Mutex<Option<Arc<T>>>);

impl<T> Parsed<T> {
    const fn new() -> Parsed<T> {
        Parsed(Mutex::new(None))
    }

    fn get(&self, parse: impl FnOnce() -> Result<T>) -> Result<Arc<T>> {
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(parsed) = &*kept {
            return Ok(Arc::clone(parsed));
        }
        let parsed = Arc::new(parse()?);
        *kept = Some(Arc::clone(&parsed));
        Ok(parsed)
    }

    fn forget(&self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

/// While it lives, programs are being loaded: the kernel's BTF, once parsed, is kept; when it
/// ends the parsed BTF is freed.
pub(crate) struct Loading(());

impl Loading {
    pub(crate) fn start() -> Loading {
        Loading(())
    }
}

impl Drop for Loading {
    fn drop(&mut self) {
        AYA_KERNEL.forget();
        KERNEL.forget();
    }
}

/// A load-time global of the eBPF programs that holds a kernel struct member's offset:
/// `offset(ty, path) - offset(ty, from)` (`from` empty: the start of `ty`). `path` may list
/// alternatives for members renamed between kernels, `new|old`: the first that exists counts.
#[derive(Clone, Copy, Debug)]
pub struct Member {
    pub global: &'static str,
    ty: &'static str,
    path: &'static str,
    from: &'static str,
}

const fn member(global: &'static str, ty: &'static str, path: &'static str) -> Member {
    Member {
        global,
        ty,
        path,
        from: "",
    }
}

/// From the current task to a `struct file` by fd (callback and socket tiers).
pub const FD_TABLE: &[Member] = &[
    member("TASK_FILES", "task_struct", "files"),
    member("FILES_FDT", "files_struct", "fdt"),
    member("FDTABLE_MAX_FDS", "fdtable", "max_fds"),
    member("FDTABLE_FD", "fdtable", "fd"),
];

/// `ep_poll_callback`'s wait-queue entry to the epitem and its instance (callback tier).
pub const CALLBACK: &[Member] = &[
    member("EPPOLL_WAIT", "eppoll_entry", "wait"),
    member("EPPOLL_BASE", "eppoll_entry", "base"),
    member("EPITEM_FD", "epitem", "ffd.fd"),
    member("EPITEM_FILE", "epitem", "ffd.file"),
    member("EPITEM_EP", "epitem", "ep"),
    member("EPITEM_EVENTS", "epitem", "event.events"),
    member("EPITEM_DATA", "epitem", "event.data"),
    member("FILE_PRIVATE_DATA", "file", "private_data"),
];

/// A file's inode, and a `struct sock`'s inode number (socket tier).
pub const SOCKET: &[Member] = &[
    member("FILE_INODE", "file", "f_inode"),
    member("INODE_MODE", "inode", "i_mode"),
    member("INODE_INO", "inode", "i_ino"),
    member("SOCK_SOCKET", "sock", "sk_socket"),
    // struct socket_alloc { struct socket socket; struct inode vfs_inode; }
    Member {
        global: "SOCKET_INO",
        ty: "socket_alloc",
        path: "vfs_inode.i_ino",
        from: "socket",
    },
];

/// A task's thread id and state (wake-ups of blocked waiters). `state` was renamed `__state`
/// in 5.14.
pub const SCHED: &[Member] = &[
    member("TASK_PID", "task_struct", "pid"),
    member("TASK_TGID", "task_struct", "tgid"),
    member("TASK_STATE", "task_struct", "__state|state"),
];

/// Where `struct pt_regs` keeps a syscall's six arguments (syscall hooks by fentry).
pub const SYSCALL_REGS: &[Member] = &[
    member("PT_REGS_ARG0", "pt_regs", SYSCALL_ARG_REGISTERS[0]),
    member("PT_REGS_ARG1", "pt_regs", SYSCALL_ARG_REGISTERS[1]),
    member("PT_REGS_ARG2", "pt_regs", SYSCALL_ARG_REGISTERS[2]),
    member("PT_REGS_ARG3", "pt_regs", SYSCALL_ARG_REGISTERS[3]),
    member("PT_REGS_ARG4", "pt_regs", SYSCALL_ARG_REGISTERS[4]),
    member("PT_REGS_ARG5", "pt_regs", SYSCALL_ARG_REGISTERS[5]),
];

/// The running kernel's BTF (our reader), parsed once per [`Loading`].
fn kernel() -> Result<Arc<Btf>> {
    KERNEL.get(|| Btf::from_file(Path::new(VMLINUX)))
}

/// The global that says whether the programs may walk from the current task through BTF-typed
/// pointers (`bpf_get_current_task_btf`, Linux 5.11+): direct loads instead of a
/// `bpf_probe_read_kernel` call per pointer. The kernel's BTF names its helpers (`enum
/// bpf_func_id`), so this asks the kernel, not its version number.
pub fn task_btf_global() -> Result<(&'static str, u32)> {
    let has = kernel()?.has_enumerator("bpf_func_id", "BPF_FUNC_get_current_task_btf");
    Ok(("TASK_BTF", u32::from(has)))
}

/// Reads the offsets of `members` from the running kernel's BTF: `(global name, offset)`.
pub fn offsets(members: &[&[Member]]) -> Result<Vec<(&'static str, u32)>> {
    let btf = kernel()?;
    members
        .iter()
        .flat_map(|group| group.iter())
        .map(|m| {
            let from = match m.from {
                "" => 0,
                from => btf.member_offset(m.ty, from)?,
            };
            let mut paths = m.path.split('|');
            let first = paths.next().unwrap_or_default();
            let to = paths.fold(btf.member_offset(m.ty, first), |found, path| {
                found.or_else(|_| btf.member_offset(m.ty, path))
            })?;
            let offset = to
                .checked_sub(from)
                .with_context(|| format!("{}.{} precedes {}.{from}", m.ty, m.path, m.ty))?;
            Ok((m.global, offset))
        })
        .collect()
}

const MAGIC: u16 = 0xeb9f;
const HEADER_LEN: usize = 24;
const TYPE_LEN: usize = 12;

/// How deep anonymous members and typedef chains may nest: far deeper than in any kernel, and
/// what bounds the work a malformed BTF (a type that contains itself) can cause.
const MAX_NESTING: u32 = 32;

/// BTF kinds (`BTF_KIND_*`) this reader looks at.
const INT: u32 = 1;
const ARRAY: u32 = 3;
const STRUCT: u32 = 4;
const UNION: u32 = 5;
const ENUM: u32 = 6;
const TYPEDEF: u32 = 8;
const VOLATILE: u32 = 9;
const CONST: u32 = 10;
const RESTRICT: u32 = 11;
const FLOAT: u32 = 16;
const TYPE_TAG: u32 = 18;
const ENUM64: u32 = 19;

/// One type record: kind, name, its size or the type it refers to, and members.
struct TypeRecord {
    kind: u32,
    name: u32,
    /// The size in bytes of an integer, struct, union, enum or float; the type that qualifiers
    /// and typedefs refer to.
    size_or_type: u32,
    /// An array's `(element type, number of elements)`.
    array: Option<(u32, u32)>,
    /// `(name, type, bit offset)` of a struct's or union's members; `(name, 0, value)` of an
    /// enum's enumerators.
    members: Vec<(u32, u32, u32)>,
}

/// The type section of a BTF blob, indexed by type id.
pub struct Btf {
    /// `types[id - 1]`: ids start at 1 (0 is void).
    types: Vec<TypeRecord>,
    strings: Vec<u8>,
    structs_by_name: HashMap<String, u32>,
}

impl Btf {
    pub fn from_file(path: &Path) -> Result<Btf> {
        let bytes = fs::read(path)
            .with_context(|| format!("cannot read the kernel's BTF ({})", path.display()))?;
        Btf::parse(&bytes)
            .with_context(|| format!("cannot parse the kernel's BTF ({})", path.display()))
    }

    fn parse(bytes: &[u8]) -> Result<Btf> {
        let u16_at = |at: usize| {
            bytes
                .get(at..at + 2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
        };
        let u32_at = |at: usize| {
            bytes
                .get(at..at + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        if u16_at(0) != Some(MAGIC) {
            bail!("not little-endian BTF (bad magic)");
        }
        let field = |i: usize| {
            u32_at(8 + 4 * i)
                .map(|v| v as usize)
                .context("BTF header cut short")
        };
        let hdr_len = u32_at(4).context("BTF header cut short")? as usize;
        let (type_off, type_len, str_off, str_len) = (field(0)?, field(1)?, field(2)?, field(3)?);
        if hdr_len < HEADER_LEN {
            bail!("BTF header of {hdr_len} bytes is too short");
        }
        let strings = bytes
            .get(hdr_len + str_off..hdr_len + str_off + str_len)
            .context("BTF string section out of bounds")?
            .to_vec();
        let (start, end) = (hdr_len + type_off, hdr_len + type_off + type_len);
        if end > bytes.len() {
            bail!("BTF type section out of bounds");
        }
        let mut types = Vec::new();
        let mut at = start;
        while at < end {
            let word = |i: usize| u32_at(at + 4 * i).context("BTF type cut short");
            let (name, info, size_or_type) = (word(0)?, word(1)?, word(2)?);
            let (vlen, kind, kind_flag) = (
                (info & 0xffff) as usize,
                (info >> 24) & 0x1f,
                info >> 31 == 1,
            );
            at += TYPE_LEN;
            let mut members = Vec::new();
            let mut array = None;
            if kind == ARRAY {
                // struct btf_array { type, index_type, nelems }
                let elements = u32_at(at).zip(u32_at(at + 8));
                array = Some(elements.context("BTF array cut short")?);
            }
            if kind == ENUM {
                for i in 0..vlen {
                    let e = at + 8 * i;
                    let e_name = u32_at(e).context("BTF enumerator cut short")?;
                    let e_value = u32_at(e + 4).context("BTF enumerator cut short")?;
                    members.push((e_name, 0, e_value));
                }
            }
            if kind == STRUCT || kind == UNION {
                for i in 0..vlen {
                    let m = at + 12 * i;
                    let (m_name, m_type, m_off) = (
                        u32_at(m).context("BTF member cut short")?,
                        u32_at(m + 4).context("BTF member cut short")?,
                        u32_at(m + 8).context("BTF member cut short")?,
                    );
                    // With kind_flag set, the low 24 bits are the offset and the rest a bit-field size.
                    members.push((
                        m_name,
                        m_type,
                        if kind_flag { m_off & 0xff_ffff } else { m_off },
                    ));
                }
            }
            at += extra_len(kind, vlen).with_context(|| format!("unknown BTF kind {kind}"))?;
            types.push(TypeRecord {
                kind,
                name,
                size_or_type,
                array,
                members,
            });
        }
        let mut btf = Btf {
            types,
            strings,
            structs_by_name: HashMap::new(),
        };
        for (i, t) in btf.types.iter().enumerate() {
            if t.kind == STRUCT && !t.members.is_empty() {
                let name = btf.name(t.name).to_owned();
                btf.structs_by_name.entry(name).or_insert(i as u32 + 1);
            }
        }
        Ok(btf)
    }

    /// Whether `enum enum_name` has an enumerator `value`.
    pub fn has_enumerator(&self, enum_name: &str, value: &str) -> bool {
        self.types.iter().any(|t| {
            t.kind == ENUM
                && self.name(t.name) == enum_name
                && t.members
                    .iter()
                    .any(|&(name, _, _)| self.name(name) == value)
        })
    }

    /// The byte offset of `path` in `struct name`: members separated by dots, each maybe an
    /// array's element (`regs[1]`).
    pub fn member_offset(&self, name: &str, path: &str) -> Result<u32> {
        let mut ty = *self
            .structs_by_name
            .get(name)
            .with_context(|| format!("the kernel's BTF has no struct {name}"))?;
        let overflow = || format!("the offset of {name}.{path} overflows");
        let mut offset_bits: u32 = 0;
        for part in path.split('.') {
            let (member, index) = split_index(part)
                .with_context(|| format!("{path} is not a member path (member.member[index])"))?;
            let (bits, member_type) =
                self.find_member(ty, member, MAX_NESTING).with_context(|| {
                    format!("struct {name} has no member {path} in the kernel's BTF")
                })?;
            offset_bits = offset_bits.checked_add(bits).with_context(overflow)?;
            ty = member_type;
            if let Some(index) = index {
                let (bits, element) = self
                    .element(ty, index)
                    .with_context(|| format!("{name}.{path}: no such array element"))?;
                offset_bits = offset_bits.checked_add(bits).with_context(overflow)?;
                ty = element;
            }
        }
        if !offset_bits.is_multiple_of(8) {
            bail!("{name}.{path} is a bit field");
        }
        Ok(offset_bits / 8)
    }

    /// Finds member `name` of struct or union `id` (looking inside anonymous members, at most
    /// `depth` levels down): its bit offset and its type, typedefs and qualifiers stripped.
    fn find_member(&self, id: u32, name: &str, depth: u32) -> Option<(u32, u32)> {
        let depth = depth.checked_sub(1)?;
        let t = self.get(id)?;
        if t.kind != STRUCT && t.kind != UNION {
            return None;
        }
        t.members.iter().find_map(|&(m_name, m_type, bits)| {
            let m_type = self.strip(m_type);
            match self.name(m_name) {
                n if n == name => Some((bits, m_type)),
                "" => self
                    .find_member(m_type, name, depth)
                    .and_then(|(inner, t)| Some((bits.checked_add(inner)?, t))),
                _ => None,
            }
        })
    }

    /// Element `index` of array `id`: its bit offset and its type, stripped. `None` when `id`
    /// is not an array, `index` is out of its bounds, or the element's size is not in the BTF.
    fn element(&self, id: u32, index: u32) -> Option<(u32, u32)> {
        let (element, count) = self.get(id).filter(|t| t.kind == ARRAY)?.array?;
        if index >= count {
            return None;
        }
        let element = self.strip(element);
        let bits = self.size(element, MAX_NESTING)?.checked_mul(8)?;
        Some((bits.checked_mul(index)?, element))
    }

    /// The size in bytes of type `id`, typedefs and qualifiers stripped, if the BTF states it
    /// (not for pointers: their size is the kernel's, not the type's). `depth` bounds nested
    /// arrays.
    fn size(&self, id: u32, depth: u32) -> Option<u32> {
        let depth = depth.checked_sub(1)?;
        let t = self.get(self.strip(id))?;
        match t.kind {
            INT | STRUCT | UNION | ENUM | FLOAT | ENUM64 => Some(t.size_or_type),
            ARRAY => {
                let (element, count) = t.array?;
                self.size(element, depth)?.checked_mul(count)
            }
            _ => None,
        }
    }

    /// `id` without typedefs, qualifiers and type tags (at most [`MAX_NESTING`] of them).
    fn strip(&self, mut id: u32) -> u32 {
        for _ in 0..MAX_NESTING {
            match self.get(id) {
                Some(t) if matches!(t.kind, TYPEDEF | VOLATILE | CONST | RESTRICT | TYPE_TAG) => {
                    id = t.size_or_type
                }
                _ => break,
            }
        }
        id
    }

    fn get(&self, id: u32) -> Option<&TypeRecord> {
        self.types.get((id as usize).checked_sub(1)?)
    }

    fn name(&self, offset: u32) -> &str {
        let rest = self.strings.get(offset as usize..).unwrap_or_default();
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        std::str::from_utf8(&rest[..end]).unwrap_or_default()
    }
}

/// A member path's part, `name` or `name[index]`: the name and the index. `None` if malformed.
fn split_index(part: &str) -> Option<(&str, Option<u32>)> {
    let Some((name, rest)) = part.split_once('[') else {
        return Some((part, None));
    };
    let index = rest.strip_suffix(']')?.parse().ok()?;
    Some((name, Some(index)))
}

/// Bytes that follow a type record of `kind` with `vlen` entries (`Documentation/bpf/btf.rst`).
fn extra_len(kind: u32, vlen: usize) -> Option<usize> {
    Some(match kind {
        1 | 14 | 17 => 4,             // INT, VAR, DECL_TAG
        3 => 12,                      // ARRAY
        4 | 5 | 15 | 19 => 12 * vlen, // STRUCT, UNION, DATASEC, ENUM64
        6 | 13 => 8 * vlen,           // ENUM, FUNC_PROTO
        2 | 7..=12 | 16 | 18 => 0,    // PTR, FWD, TYPEDEF, qualifiers, FUNC, FLOAT, TYPE_TAG
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parsed_btf_is_kept_until_forgotten() {
        let kept = Parsed::new();
        let mut parses = 0;
        let mut parse = || -> Result<u32> {
            parses += 1;
            Ok(7)
        };
        let first = kept.get(&mut parse).unwrap();
        assert!(Arc::ptr_eq(&first, &kept.get(&mut parse).unwrap()));
        kept.forget();
        assert!(!Arc::ptr_eq(&first, &kept.get(&mut parse).unwrap()));
        assert!(kept.get(|| bail!("not parsed again")).is_ok());
        drop(parse);
        assert_eq!(parses, 2);
    }

    fn host() -> Btf {
        Btf::from_file(Path::new(VMLINUX)).expect("this machine has kernel BTF")
    }

    /// The host's BTF: structs whose layout is fixed by the ABI or stable for decades.
    #[test]
    fn finds_members_through_nesting_and_typedefs() {
        let btf = host();
        // struct epoll_event is packed on x86-64: data right after the 4-byte events.
        assert_eq!(
            btf.member_offset("epitem", "event.data").unwrap()
                - btf.member_offset("epitem", "event.events").unwrap(),
            4
        );
        // struct epoll_filefd { struct file *file; int fd; }
        assert_eq!(
            btf.member_offset("epitem", "ffd.fd").unwrap()
                - btf.member_offset("epitem", "ffd").unwrap(),
            8
        );
        // The wait-queue entry's `flags` comes first (include/linux/wait.h).
        assert_eq!(btf.member_offset("wait_queue_entry", "flags").unwrap(), 0);
        // struct list_head { next, prev }.
        assert_eq!(btf.member_offset("list_head", "prev").unwrap(), 8);
        assert!(btf.member_offset("epitem", "no_such_member").is_err());
        assert!(btf.member_offset("no_such_struct", "x").is_err());
        // A renamed member: the first alternative that exists counts.
        let renamed = [Member {
            global: "X",
            ty: "task_struct",
            path: "no_such_member|pid",
            from: "",
        }];
        assert_eq!(
            offsets(&[&renamed]).unwrap(),
            vec![("X", btf.member_offset("task_struct", "pid").unwrap())]
        );
        let groups = [FD_TABLE, CALLBACK, SOCKET, SCHED, SYSCALL_REGS];
        assert_eq!(
            offsets(&groups).unwrap().len(),
            groups.iter().map(|g| g.len()).sum::<usize>()
        );
    }

    /// A BTF blob of `types` (each a type record and its members, as words) and `strings`.
    fn blob(types: &[&[u32]], strings: &[u8]) -> Vec<u8> {
        let type_bytes: Vec<u8> = types
            .iter()
            .flat_map(|t| t.iter())
            .flat_map(|w| w.to_le_bytes())
            .collect();
        let mut bytes = vec![0x9f, 0xeb, 1, 0];
        let header = [
            HEADER_LEN as u32,
            0,
            type_bytes.len() as u32,
            type_bytes.len() as u32,
            strings.len() as u32,
        ];
        bytes.extend(header.iter().flat_map(|w| w.to_le_bytes()));
        bytes.extend(type_bytes);
        bytes.extend(strings);
        bytes
    }

    /// A struct record: name offset, `members` as `(name offset, type, bit offset)`.
    fn struct_of(name: u32, members: &[(u32, u32, u32)]) -> Vec<u32> {
        let mut words = vec![name, STRUCT << 24 | members.len() as u32, 8];
        words.extend(members.iter().flat_map(|&(n, t, o)| [n, t, o]));
        words
    }

    /// Malformed BTF cannot make the reader overflow or recurse without end: an error instead.
    #[test]
    fn a_malformed_btf_is_an_error_not_a_crash() {
        let strings = b"\0S\0a\0b\0";
        // struct S (id 1) { a: struct T at bit 0xffff_fff8 }; struct T (id 2) { b at bit 64 }.
        let s = struct_of(1, &[(3, 2, 0xffff_fff8)]);
        let t = struct_of(0, &[(5, 0, 64)]);
        let btf = Btf::parse(&blob(&[&s, &t], strings)).unwrap();
        assert_eq!(btf.member_offset("S", "a").unwrap(), 0x1fff_ffff);
        let overflow = btf.member_offset("S", "a.b").unwrap_err();
        assert!(overflow.to_string().contains("overflows"), "{overflow}");
        // struct S (id 1) { an anonymous member of type S }: looking for a member inside it.
        let s = struct_of(1, &[(0, 1, 0)]);
        let btf = Btf::parse(&blob(&[&s], strings)).unwrap();
        assert!(btf.member_offset("S", "a").is_err());
        // A typedef (id 2) of itself as a member's type.
        let s = struct_of(1, &[(0, 2, 0)]);
        let typedef = [0, TYPEDEF << 24, 2];
        let btf = Btf::parse(&blob(&[&s, &typedef], strings)).unwrap();
        assert!(btf.member_offset("S", "a").is_err());
    }

    /// arm64's `struct pt_regs`, abridged: `{ union { struct user_pt_regs user_regs; struct {
    /// u64 regs[31]; u64 sp; ... }; }; u64 orig_x0; }`. Elements of a typedef'd array, inside
    /// anonymous members.
    #[test]
    fn finds_array_elements() {
        let strings = b"\0pt_regs\0regs\0orig_x0\0u64\0sp\0p\0";
        let (pt_regs, regs, orig_x0, u64_name, sp, p) = (1, 9, 14, 22, 26, 29);
        let types: [&[u32]; 9] = [
            // 1: struct pt_regs { <anonymous union 2>; u64 orig_x0; u64 *p[2]; }
            &struct_of(
                pt_regs,
                &[(0, 2, 0), (orig_x0, 6, 34 * 64), (p, 8, 35 * 64)],
            ),
            // 2: union { <anonymous struct 3> }
            &[0, UNION << 24 | 1, 272, 0, 3, 0],
            // 3: struct { u64 regs[31]; u64 sp; }
            &struct_of(0, &[(regs, 9, 0), (sp, 6, 31 * 64)]),
            // 4: u64 regs[31], as the array record
            &[0, ARRAY << 24, 0, 6, 5, 31],
            // 5: the 64-bit integer (size 8), and its encoding word
            &[u64_name, INT << 24, 8, 64],
            // 6: typedef u64
            &[u64_name, TYPEDEF << 24, 5],
            // 7: u64 *
            &[0, 2 << 24, 6],
            // 8: u64 *[2]: pointers have no size in BTF
            &[0, ARRAY << 24, 0, 7, 5, 2],
            // 9: const u64[31]
            &[0, CONST << 24, 4],
        ];
        let btf = Btf::parse(&blob(&types, strings)).unwrap();
        let at = |path: &str| btf.member_offset("pt_regs", path);
        assert_eq!(at("regs[0]").unwrap(), 0);
        assert_eq!(at("regs[1]").unwrap(), 8);
        assert_eq!(at("regs[5]").unwrap(), 40);
        assert_eq!(at("regs[30]").unwrap(), 240);
        assert_eq!(at("sp").unwrap(), 248);
        assert_eq!(at("orig_x0").unwrap(), 272);
        for bad in [
            "regs[31]", "regs[x]", "regs[1", "regs[-1]", "sp[0]", "p[0]", "p[1]",
        ] {
            assert!(at(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn finds_enumerators() {
        // enum E (id 1) { A = 0, B = 1 }.
        let strings = b"\0E\0A\0B\0C\0";
        let e = [1, ENUM << 24 | 2, 4, 3, 0, 5, 1];
        let btf = Btf::parse(&blob(&[&e], strings)).unwrap();
        assert!(btf.has_enumerator("E", "B"));
        assert!(!btf.has_enumerator("E", "C"));
        assert!(!btf.has_enumerator("A", "B"));
        // Every kernel uprof runs on has bpf_get_current_task (4.8+); none has this one.
        let host = host();
        assert!(host.has_enumerator("bpf_func_id", "BPF_FUNC_get_current_task"));
        assert!(!host.has_enumerator("bpf_func_id", "BPF_FUNC_no_such_helper"));
    }

    #[test]
    fn rejects_what_is_not_btf() {
        assert!(Btf::parse(b"not btf at all, not at all").is_err());
        assert!(Btf::parse(&[0x9f, 0xeb, 1, 0]).is_err());
    }
}
