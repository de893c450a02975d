//! `cargo xtask build --target aarch64`: release builds of uprof (its eBPF programs compiled
//! for that architecture's kernel) and tickloop's programs for another architecture, from
//! this machine (`scripts/setup.sh` installs the target and its linker).
use anyhow::Result;
use clap::ValueEnum;

use crate::release;

#[derive(clap::Args)]
pub struct Args {
    /// The architecture to build for.
    #[arg(long, value_enum)]
    target: Target,
}

/// An architecture uprof builds for.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Target {
    #[value(name = "x86_64")]
    X86_64,
    Aarch64,
}

impl Target {
    /// Rust's target triple.
    fn triple(self) -> &'static str {
        match self {
            Target::X86_64 => "x86_64-unknown-linux-gnu",
            Target::Aarch64 => "aarch64-unknown-linux-gnu",
        }
    }
}

/// uprof and tickloop's servers, load generator and benchmark. uprof-testprogs is not built:
/// its scenarios make x86-64's syscalls (`epoll_wait`, `poll`, `select`), see `docs/arm64.md`.
const PACKAGES: [&str; 2] = ["uprof-cli", "tickloop-apps"];

pub fn main(args: Args) -> Result<()> {
    let dir = release::cross_build("build", &PACKAGES, args.target.triple())?;
    println!("{}", dir.display());
    Ok(())
}
