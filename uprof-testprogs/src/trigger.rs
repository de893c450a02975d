//! `--trigger-signal`: hold still until a tracer has attached.

use std::io::{self, Write};
use std::mem::MaybeUninit;

use anyhow::{Context, Result};

/// Blocks SIGUSR2, prints `ready <pid>` on stderr, and waits for SIGUSR2 with `sigwaitinfo`
/// (no counted syscall is made before it arrives). SIGUSR2 stays blocked afterwards, in this
/// thread and in every thread it creates.
pub fn wait_for_sigusr2() -> Result<()> {
    // SAFETY: sigemptyset/sigaddset initialise `set` before use; pthread_sigmask and
    // sigwaitinfo read it; a null info pointer asks for no siginfo.
    unsafe {
        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        libc::sigemptyset(set.as_mut_ptr());
        libc::sigaddset(set.as_mut_ptr(), libc::SIGUSR2);
        let set = set.assume_init();
        let ret = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if ret != 0 {
            return Err(io::Error::from_raw_os_error(ret)).context("blocking SIGUSR2");
        }
        let mut stderr = io::stderr().lock();
        writeln!(stderr, "ready {}", std::process::id()).context("announcing readiness")?;
        stderr.flush().context("announcing readiness")?;
        loop {
            if libc::sigwaitinfo(&set, std::ptr::null_mut()) == libc::SIGUSR2 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(e).context("waiting for SIGUSR2");
            }
        }
    }
}
