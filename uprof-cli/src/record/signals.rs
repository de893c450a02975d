//! The signals that stop a recording: SIGINT (Ctrl-C), SIGTERM and SIGHUP (the terminal or the
//! SSH session went away). Installed before anything is loaded, so that each one stops uprof
//! cleanly whenever it comes.
use std::time::Duration;

use anyhow::{Context as _, Result};
use tokio::signal::unix::{Signal, SignalKind, signal};
use uprof_capture::Stop;

pub struct Signals {
    interrupt: Signal,
    terminate: Signal,
    hangup: Signal,
}

impl Signals {
    pub fn install() -> Result<Signals> {
        let install = |kind| signal(kind).context("cannot handle signals");
        Ok(Signals {
            interrupt: install(SignalKind::interrupt())?,
            terminate: install(SignalKind::terminate())?,
            hangup: install(SignalKind::hangup())?,
        })
    }

    /// The next stopping signal.
    pub async fn next(&mut self) -> Stop {
        tokio::select! {
            _ = self.interrupt.recv() => Stop::Interrupted,
            _ = self.terminate.recv() => Stop::Terminated,
            _ = self.hangup.recv() => Stop::HungUp,
        }
    }

    /// The next stopping signal, or the end of `duration`.
    pub async fn next_or_after(&mut self, duration: Option<Duration>) -> Stop {
        let Some(duration) = duration else {
            return self.next().await;
        };
        tokio::select! {
            stop = self.next() => stop,
            () = tokio::time::sleep(duration) => Stop::DurationReached,
        }
    }
}
