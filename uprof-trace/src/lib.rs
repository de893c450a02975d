//! The kernel side of uprof, seen from user space: checks the machine, loads and attaches the
//! eBPF programs, chooses which processes are traced, and hands out the ring buffer the
//! records arrive in. It knows nothing of files or reports.
//!
//! Modules, each depending only on those listed before it: `clock`, `procfs`, `preflight`,
//! `attach` (one program of each kind), `status` (what became of a probe), `btf`, `tracefs`,
//! `offsets` (tracepoint fields), `probes` (syscall hooks, task tracepoints), `tier`, `tracer`,
//! `doctor`.
mod attach;
mod btf;
pub mod clock;
pub mod doctor;
mod loop_hists;
pub mod message;
mod offsets;
pub mod preflight;
mod probes;
pub mod procfs;
mod status;
mod tier;
mod tracefs;
mod tracer;

pub use loop_hists::LoopHists;
pub use probes::{SyscallHooks, absent_syscalls_note};
pub use status::ProbeStatus;
pub use tracer::{Tracer, TracerOptions};
pub use uprof_common::{ProbeKind, Tier};

#[cfg(test)]
mod tests {
    use std::{collections::BTreeMap, fs, path::Path};

    /// The modules each module of this crate imports (`use crate::...;`), by module name.
    fn imports() -> BTreeMap<String, Vec<String>> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let modules: Vec<String> = fs::read_dir(&src)
            .unwrap()
            .filter_map(|e| e.unwrap().path().file_stem()?.to_str().map(str::to_owned))
            .filter(|m| m != "lib")
            .collect();
        modules
            .iter()
            .map(|m| {
                let text = fs::read_to_string(src.join(format!("{m}.rs"))).unwrap();
                let used = text
                    .split("use crate::")
                    .skip(1)
                    .filter_map(|rest| rest.split(';').next())
                    .flat_map(|paths| paths.split(|c: char| !c.is_alphanumeric() && c != '_'))
                    .filter(|word| modules.iter().any(|m| m == word))
                    .map(str::to_owned)
                    .collect();
                (m.clone(), used)
            })
            .collect()
    }

    /// No module imports one that imports it back, directly or not.
    #[test]
    fn modules_import_each_other_without_cycles() {
        let imports = imports();
        assert!(
            imports["tracer"].contains(&"tier".to_owned()),
            "{imports:?}"
        );
        // Remove the modules that import nothing left, until none is left.
        let mut left = imports.clone();
        while !left.is_empty() {
            let leaves: Vec<String> = left
                .iter()
                .filter(|(_, used)| used.iter().all(|u| !left.contains_key(u)))
                .map(|(m, _)| m.clone())
                .collect();
            assert!(!leaves.is_empty(), "import cycle among {left:?}");
            for m in leaves {
                left.remove(&m);
            }
        }
    }
}
