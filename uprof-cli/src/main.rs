//! `uprof`: a thin command line over uprof's library crates.
mod cli;
mod compare;
mod doctor;
mod record;
mod report;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Record(args) => record::run(args),
        cli::Command::Report(args) => report::run(&args),
        cli::Command::Compare(args) => compare::run(&args),
        cli::Command::Doctor => doctor::run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("uprof: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
