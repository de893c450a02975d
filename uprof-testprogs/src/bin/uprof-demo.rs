//! `uprof-demo`: a small event loop with a counted amount of epoll work, for uprof's README.
//! Prints a one-paragraph account on stderr, and with `--json` the full report on stdout.
#![no_main]

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use uprof_testprogs::books::Books;
use uprof_testprogs::{demo, trigger};

#[derive(Parser)]
#[command(
    name = "uprof-demo",
    about = "A small epoll event loop to try uprof on"
)]
struct Args {
    /// How long to run the event loop.
    #[arg(long, default_value_t = 2000)]
    duration_ms: u64,
    /// Also print the JSON report of every counted call on stdout.
    #[arg(long)]
    json: bool,
    /// Print `ready <pid>` on stderr and wait for SIGUSR2 before starting.
    #[arg(long)]
    trigger_signal: bool,
}

#[unsafe(no_mangle)]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    match run(Args::parse()) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("uprof-demo: {e:#}");
            1
        }
    }
}

fn run(args: Args) -> Result<()> {
    if args.trigger_signal {
        trigger::wait_for_sigusr2()?;
    }
    let books = Books::new("demo");
    let outcome = demo::run(&books, Duration::from_millis(args.duration_ms))?;
    eprintln!("{}", demo::summary(&outcome));
    if args.json {
        let report = serde_json::to_string(&outcome.report).context("serialising the report")?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{report}").context("printing the report")?;
        stdout.flush().context("printing the report")?;
    }
    Ok(())
}
