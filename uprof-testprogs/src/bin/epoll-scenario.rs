//! `epoll-scenario <SCENARIO> [COUNT]`: does one scenario's exactly known epoll work and prints
//! a JSON report of it (see `uprof_testprogs::report`) on stdout.
#![no_main]

use std::io::Write;

use anyhow::{Context, Result, bail};
use clap::builder::PossibleValuesParser;
use clap::{CommandFactory, FromArgMatches, Parser};
use uprof_testprogs::books::Books;
use uprof_testprogs::caller::Caller;
use uprof_testprogs::scenarios::{self, Run};
use uprof_testprogs::trigger;

#[derive(Parser)]
#[command(
    name = "epoll-scenario",
    about = "Does an exactly known amount of epoll work and reports it as JSON"
)]
struct Args {
    /// The scenario to run (described below).
    #[arg(required_unless_present = "list", value_parser = PossibleValuesParser::new(scenarios::ALL.iter().map(|s| s.name)))]
    scenario: Option<String>,
    /// Size of the scenario, for those that take one (timeouts: waits, eintr: signals,
    /// many-fds: pipes).
    count: Option<u64>,
    /// Number of waits (many-fds only).
    #[arg(long)]
    waits: Option<u64>,
    /// Print `ready <pid>` on stderr and wait for SIGUSR2 before starting.
    #[arg(long)]
    trigger_signal: bool,
    /// Print the scenario names, one per line, and exit.
    #[arg(long)]
    list: bool,
}

#[unsafe(no_mangle)]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    let matches = Args::command().after_help(scenario_help()).get_matches();
    let args = Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match run(args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("epoll-scenario: {e:#}");
            1
        }
    }
}

/// One line per scenario: its name, its COUNT and --waits if it takes them, and what it does.
fn scenario_help() -> String {
    let mut help = String::from("Scenarios:");
    for s in scenarios::ALL {
        let count = s.count.as_ref().map_or(String::new(), |c| {
            format!(" [COUNT {}, default {}]", c.meaning, c.default)
        });
        let waits = s
            .waits
            .map_or(String::new(), |w| format!(" [--waits default {w}]"));
        help.push_str(&format!("\n  {}{count}{waits}: {}", s.name, s.summary));
    }
    help
}

fn run(args: Args) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    if args.list {
        for s in scenarios::ALL {
            writeln!(stdout, "{}", s.name)?;
        }
        return Ok(());
    }
    let name = args.scenario.as_deref().context("no scenario given")?;
    let scenario = scenarios::find(name).with_context(|| format!("unknown scenario {name}"))?;
    let count = match (&scenario.count, args.count) {
        (Some(count), given) => given.unwrap_or(count.default),
        (None, Some(_)) => bail!("scenario {name} takes no COUNT"),
        (None, None) => 0,
    };
    let waits = match (scenario.waits, args.waits) {
        (Some(default), given) => given.unwrap_or(default),
        (None, Some(_)) => bail!("scenario {name} takes no --waits"),
        (None, None) => 0,
    };
    if args.trigger_signal {
        trigger::wait_for_sigusr2()?;
    }
    let books = Books::new(name);
    let caller = Caller::new(&books);
    scenario
        .run(&Run {
            books: &books,
            caller: &caller,
            count,
            waits,
        })
        .with_context(|| format!("scenario {name}"))?;
    let report = serde_json::to_string(&books.snapshot()).context("serialising the report")?;
    writeln!(stdout, "{report}").context("printing the report")?;
    stdout.flush().context("printing the report")?;
    // Returning exits the whole process (exit_group), even under a thread still blocked in a
    // wait (exit-mid-wait).
    Ok(())
}
