//! Builds the eBPF programs (`uprof-ebpf`) with the pinned nightly and bpf-linker, the way
//! aya-template does; the object is embedded in this crate with `include_bytes_aligned!`.
use anyhow::{Context as _, anyhow};

/// The nightly that compiles `uprof-ebpf`. bpf-linker must be built against its LLVM
/// (`scripts/setup.sh` does both).
const EBPF_NIGHTLY: &str = "nightly-2026-10-15";

fn main() -> anyhow::Result<()> {
    let metadata = cargo_metadata::MetadataCommand::new()
        .no_deps()
        .exec()
        .context("cargo metadata")?;
    let ebpf = metadata
        .packages
        .into_iter()
        .find(|p| p.name.as_str() == "uprof-ebpf")
        .ok_or_else(|| anyhow!("uprof-ebpf package not found"))?;
    let root_dir = ebpf
        .manifest_path
        .parent()
        .ok_or_else(|| anyhow!("no parent for {}", ebpf.manifest_path))?;
    let package = aya_build::Package {
        name: ebpf.name.as_str(),
        root_dir: root_dir.as_str(),
        ..Default::default()
    };
    aya_build::build_ebpf([package], aya_build::Toolchain::Custom(EBPF_NIGHTLY))
}
