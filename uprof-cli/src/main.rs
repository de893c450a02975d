//! `uprof`: a thin command line over uprof's library crates.
mod agent;
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

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Record(args) => record::run(args),
        cli::Command::Report(args) => report::run(&args),
        cli::Command::Compare(args) => compare::run(&args),
        cli::Command::Doctor => doctor::run(),
        cli::Command::Top(args) => top::run(args),
        cli::Command::Agent(args) => agent::run(args),
        cli::Command::Completions { shell } => manual::completions(shell),
        cli::Command::Man(args) => manual::man(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`uprof report f | head`): nothing is wrong, stop quietly.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            say::say!("uprof: error: {}", uprof_trace::message::chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// Whether `e` comes from writing to a pipe whose reader has closed it.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
