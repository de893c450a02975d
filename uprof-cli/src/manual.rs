//! `uprof completions SHELL` and `uprof man`: what a package installs beside the binary, made
//! from the same argument definitions the binary parses.
use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::{Args, CommandFactory as _, ValueEnum};
use clap_complete::Shell as CompleteShell;

use crate::cli::Cli;

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Args, Debug)]
pub struct ManArgs {
    /// The subcommand whose page to print (default: uprof's own page).
    #[arg(value_name = "SUBCOMMAND", conflicts_with = "dir")]
    pub subcommand: Option<String>,
    /// Write every page (uprof.1, uprof-record.1, ...) into DIR instead.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

pub fn completions(shell: Shell) -> Result<()> {
    let shell = match shell {
        Shell::Bash => CompleteShell::Bash,
        Shell::Zsh => CompleteShell::Zsh,
        Shell::Fish => CompleteShell::Fish,
    };
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "uprof", &mut out);
    std::io::stdout()
        .lock()
        .write_all(&out)
        .context("cannot write the completions")
}

pub fn man(args: &ManArgs) -> Result<()> {
    let uprof = Cli::command().disable_help_subcommand(true);
    if let Some(dir) = &args.dir {
        clap_mangen::generate_to(uprof, dir)
            .with_context(|| format!("cannot write the manual pages to {}", dir.display()))?;
        crate::say::say!("uprof: wrote the manual pages to {}", dir.display());
        return Ok(());
    }
    let page = match &args.subcommand {
        None => uprof,
        Some(name) => {
            let mut uprof = uprof;
            uprof.build();
            let Some(sub) = uprof.find_subcommand(name) else {
                let names: Vec<&str> = uprof.get_subcommands().map(|c| c.get_name()).collect();
                bail!("no subcommand `{name}`: one of {}", names.join(", "));
            };
            // Named as the page's file is (uprof-record), as a subcommand's own help names it.
            sub.clone()
        }
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(page).render(&mut out)?;
    std::io::stdout()
        .lock()
        .write_all(&out)
        .context("cannot write the manual page")
}
