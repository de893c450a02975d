//! `uprof record -p PIDS` with its machine-readable start signal (`--ready-fd`), as tests
//! start it.
use std::{path::Path, process::Command, time::Duration};

use uprof_testprogs::attach;

/// How long uprof may take to load its programs and start tracing (several seconds in a VM).
const START_UP: Duration = Duration::from_secs(120);

/// `uprof record --ready-fd 3 -p PIDS -o FILE` and the start signal it will give.
pub fn record_pids(pids: &[u32], file: &Path) -> (Command, Ready) {
    let mut cmd = attach::record_pids(Path::new(env!("CARGO_BIN_EXE_uprof")), pids, file);
    let ready = Ready::give_to(&mut cmd);
    (cmd, ready)
}

/// The start signal of a `uprof record` from [`record_pids`].
pub struct Ready(attach::Ready);

impl Ready {
    /// Hands fd 3 (`--ready-fd 3`) to `cmd` when it starts (for a `uprof record --ready-fd 3` other
    /// than [`record_pids`]'s).
    pub fn give_to(cmd: &mut Command) -> Ready {
        Ready(attach::Ready::give_to(cmd).expect("a pipe for the start signal"))
    }

    /// Waits until uprof says it traces, or ends without saying so: whether it did.
    pub fn wait(&mut self) -> bool {
        self.0.wait(START_UP).unwrap()
    }
}
