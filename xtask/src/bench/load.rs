//! `cargo xtask bench epoll-load`: an epoll_wait generator. Each thread polls its own empty
//! epoll instance with a zero timeout, so every call returns at once and uprof stores exactly
//! one wait record for it. The pipeline benchmark runs it, traced and untraced, through the
//! xtask binary itself.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Most calls between two looks at the clock.
const MAX_BATCH: u64 = 256;

/// Calls between two looks at the clock at `rate` calls per second (0: unpaced): about a
/// hundredth of a second's worth, so that threads sharing a low rate each make a call now and
/// then instead of all bursting together once a minute.
fn batch(rate: f64) -> u64 {
    if rate == 0.0 {
        return MAX_BATCH;
    }
    (rate / 100.0).clamp(1.0, MAX_BATCH as f64) as u64
}

/// Command-line arguments of `cargo xtask bench epoll-load`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Threads calling epoll_wait.
    #[arg(long, default_value_t = 1)]
    pub threads: u64,
    /// Calls per second over all threads; 0 calls as fast as possible.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// How long to run, in seconds.
    #[arg(long)]
    pub seconds: f64,
}

impl Args {
    /// The command that runs this load with the running xtask binary.
    pub fn command(&self) -> Result<Command> {
        let exe = std::env::current_exe().context("cannot find the xtask binary")?;
        let mut cmd = Command::new(exe);
        cmd.args(["bench", "epoll-load"])
            .args(["--threads", &self.threads.to_string()])
            .args(["--rate", &self.rate.to_string()])
            .args(["--seconds", &self.seconds.to_string()]);
        Ok(cmd)
    }
}

/// What a load run did: the line it prints on stdout.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Done {
    /// epoll_wait calls made by all threads.
    pub calls: u64,
    /// Seconds from the first call to the last.
    pub seconds: f64,
}

impl Done {
    /// Calls per second.
    pub fn rate(&self) -> f64 {
        self.calls as f64 / self.seconds
    }

    fn line(&self) -> String {
        format!("calls {} seconds {:.6}", self.calls, self.seconds)
    }

    /// Reads the line printed by [`main`].
    pub fn parse(stdout: &str) -> Result<Done> {
        let parsed = stdout.lines().find_map(|line| {
            let (calls, seconds) = line.strip_prefix("calls ")?.split_once(" seconds ")?;
            Some(Done {
                calls: calls.parse().ok()?,
                seconds: seconds.parse().ok()?,
            })
        });
        parsed.with_context(|| format!("no `calls N seconds S` line in: {stdout}"))
    }
}

/// Runs the load and prints its [`Done`] line.
pub fn main(args: Args) -> Result<()> {
    if args.threads == 0 || args.seconds <= 0.0 {
        bail!("epoll-load needs at least one thread and a positive duration");
    }
    let length = Duration::from_secs_f64(args.seconds);
    // Each thread's share of the rate, in calls per second (0: unpaced).
    let share = args.rate as f64 / args.threads as f64;
    let start = Instant::now();
    let workers: Vec<_> = (0..args.threads)
        .map(|_| thread::spawn(move || poll_until(start, length, share)))
        .collect();
    let mut calls = 0;
    for worker in workers {
        calls += worker.join().expect("a load thread panicked")?;
    }
    let done = Done {
        calls,
        seconds: start.elapsed().as_secs_f64(),
    };
    println!("{}", done.line());
    Ok(())
}

/// Calls epoll_wait on a new empty instance until `length` after `start`, at most `rate` calls
/// per second (unless 0); returns the number of calls.
fn poll_until(start: Instant, length: Duration, rate: f64) -> Result<u64> {
    // SAFETY: epoll_create1 has no memory effects; a valid fd is owned by nobody else.
    let epoll = match unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) } {
        -1 => return Err(io::Error::last_os_error()).context("epoll_create1"),
        fd => unsafe { OwnedFd::from_raw_fd(fd) },
    };
    let mut event = libc::epoll_event { events: 0, u64: 0 };
    let mut calls = 0;
    let batch = batch(rate);
    loop {
        for _ in 0..batch {
            // SAFETY: room for one event at a valid pointer.
            if unsafe { libc::epoll_wait(epoll.as_raw_fd(), &mut event, 1, 0) } < 0 {
                return Err(io::Error::last_os_error()).context("epoll_wait");
            }
        }
        calls += batch;
        let elapsed = start.elapsed();
        if elapsed >= length {
            return Ok(calls);
        }
        if rate > 0.0 {
            let due = Duration::from_secs_f64(calls as f64 / rate);
            if let Some(ahead) = due.checked_sub(elapsed) {
                thread::sleep(ahead);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn done_line_reads_back() {
        let done = Done {
            calls: 2_000_128,
            seconds: 2.5,
        };
        assert_eq!(Done::parse(&done.line()).unwrap(), done);
        assert_eq!(done.rate(), 2_000_128.0 / 2.5);
    }

    #[test]
    fn paced_load_stays_within_a_batch_of_its_rate() {
        let (rate, start) = (50_000.0, Instant::now());
        let calls = poll_until(start, Duration::from_millis(200), rate).unwrap();
        let allowed = rate * start.elapsed().as_secs_f64() + batch(rate) as f64;
        assert_eq!(calls % batch(rate), 0);
        assert!(
            calls as f64 <= allowed,
            "{calls} calls, at most {allowed} allowed"
        );
    }

    #[test]
    fn a_slow_pace_is_a_call_at_a_time() {
        // 1,000 threads sharing 5,000 calls per second: 5 calls per second each.
        let (rate, start) = (5.0, Instant::now());
        let calls = poll_until(start, Duration::from_millis(700), rate).unwrap();
        assert!((3..=5).contains(&calls), "{calls} calls in 0.7 s at 5/s");
    }
}
