//! Release builds of the workspace's binaries, for the commands that measure them and for
//! other architectures.
use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

use crate::{bench::procs::describe, vm::target_dir};

/// Builds `packages` (release) with the cargo running this xtask; returns the directory that
/// holds their binaries. `who` prefixes the command line it prints.
pub fn build(who: &str, packages: &[&str]) -> Result<PathBuf> {
    cargo_build(who, packages, None)?;
    Ok(target_dir().join("release"))
}

/// [`build`] for Rust target `triple` (the linker is set in `.cargo/config.toml`).
pub fn cross_build(who: &str, packages: &[&str], triple: &str) -> Result<PathBuf> {
    cargo_build(who, packages, Some(triple))?;
    Ok(target_dir().join(triple).join("release"))
}

fn cargo_build(who: &str, packages: &[&str], triple: Option<&str>) -> Result<()> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or("cargo".into()));
    cargo
        .current_dir(&workspace)
        .args(["build", "--release", "--quiet"]);
    if let Some(triple) = triple {
        cargo.args(["--target", triple]);
    }
    for package in packages {
        cargo.args(["-p", package]);
    }
    eprintln!("{who}: {}", describe(&cargo));
    let status = cargo.status().context("cannot run cargo")?;
    if !status.success() {
        bail!("`{}` failed ({status})", describe(&cargo));
    }
    Ok(())
}
