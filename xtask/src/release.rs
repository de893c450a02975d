//! Release builds of the workspace's binaries, for the commands that measure them.
use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

use crate::{bench::procs::describe, vm::target_dir};

/// Builds `packages` (release) with the cargo running this xtask; returns the directory that
/// holds their binaries. `who` prefixes the command line it prints.
pub fn build(who: &str, packages: &[&str]) -> Result<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or("cargo".into()));
    cargo
        .current_dir(&workspace)
        .args(["build", "--release", "--quiet"]);
    for package in packages {
        cargo.args(["-p", package]);
    }
    eprintln!("{who}: {}", describe(&cargo));
    let status = cargo.status().context("cannot run cargo")?;
    if !status.success() {
        bail!("`{}` failed ({status})", describe(&cargo));
    }
    Ok(target_dir().join("release"))
}
