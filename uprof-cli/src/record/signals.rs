//! The signals that stop a recording: SIGINT (Ctrl-C), SIGTERM and SIGHUP (the terminal or the
//! SSH session went away). Installed before anything is loaded, so that each one stops uprof
//! cleanly whenever it comes.
use std::{io, mem, ptr, time::Duration};

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
        let _held = HeldBack::stopping_signals().context("cannot handle signals")?;
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

/// The stopping signals blocked on this thread until dropped. signal-hook-registry (under
/// tokio) sets a signal's handler before it publishes the action the handler runs: a signal
/// that comes in between would be dropped. Blocked, it waits and is delivered once the
/// mask is restored. uprof has no other thread yet that could take it.
struct HeldBack(libc::sigset_t);

impl HeldBack {
    fn stopping_signals() -> io::Result<HeldBack> {
        // SAFETY: sigset_t is plain data, initialised by sigemptyset before any other use.
        let mut stopping = unsafe { mem::zeroed::<libc::sigset_t>() };
        let mut before = unsafe { mem::zeroed::<libc::sigset_t>() };
        // SAFETY: valid pointers to sigset_t; the signal numbers are valid.
        unsafe {
            libc::sigemptyset(&mut stopping);
            for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                libc::sigaddset(&mut stopping, signal);
            }
        }
        // SAFETY: valid pointers; only this thread's mask changes.
        match unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &stopping, &mut before) } {
            0 => Ok(HeldBack(before)),
            errno => Err(io::Error::from_raw_os_error(errno)),
        }
    }
}

impl Drop for HeldBack {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved above; a pending signal is delivered now.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, ptr::null_mut()) };
    }
}
