//! `uprof`: a thin command line over uprof's library crates.
mod agent;
mod check;
mod cli;
mod compare;
mod doctor;
mod manual;
mod record;
mod report;
mod say;
mod top;

use std::process::ExitCode;

use clap::Parser as _;

/// jemalloc gives freed memory back to the kernel, where glibc's malloc keeps most of what
/// loading took (the kernel's BTF, parsed: tens of MB) in the arena of the thread that loaded,
/// for the whole life of `uprof agent` (docs/benchmarks.md, uprof agent).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Freed pages go back after a second rather than jemalloc's default ten.
#[unsafe(export_name = "_rjem_malloc_conf")]
static ALLOCATOR_CONF: &[u8; 37] = b"dirty_decay_ms:1000,muzzy_decay_ms:0\0";

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    if let cli::Command::Check(args) = &cli.command {
        return match check::run(args) {
            Ok(verdict) => verdict.exit_code(),
            Err(e) => exit_on(&e),
        };
    }
    let result = match cli.command {
        cli::Command::Record(args) => record::run(args),
        cli::Command::Report(args) => report::run(&args),
        cli::Command::Compare(args) => compare::run(&args),
        cli::Command::Check(_) => unreachable!("handled above"),
        cli::Command::Doctor => doctor::run(),
        cli::Command::Top(args) => top::run(args),
        cli::Command::Agent(args) => agent::run(args),
        cli::Command::Completions { shell } => manual::completions(shell),
        cli::Command::Man(args) => manual::man(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => exit_on(&e),
    }
}

/// The exit status of a command that failed with `e`, said on stderr.
fn exit_on(e: &anyhow::Error) -> ExitCode {
    // The reader went away (`uprof report f | head`): nothing is wrong, stop quietly.
    if is_broken_pipe(e) {
        return ExitCode::SUCCESS;
    }
    say::say!("uprof: error: {}", uprof_trace::message::chain(e));
    ExitCode::FAILURE
}

/// Whether `e` comes from writing to a pipe whose reader has closed it.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
