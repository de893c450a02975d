//! `poll`: the poll family, whose waits scan a list of fds.

use anyhow::{Result, bail, ensure};
use libc::pollfd;

use super::{IDLE, PATIENCE, Run, close_all, expect_timeout};
use crate::caller::{PollCall, SelectCall, Waited};
use crate::fds;

/// Ready waits per syscall, each scanning three fds of which two are ready.
const READY_WAITS: u32 = 2;

/// Two pipes and an eventfd, of which the first pipe and the eventfd are readable. Through each
/// of poll, ppoll, select and pselect6: 2 waits on all three (2 ready each), then 1 wait on the
/// idle pipe alone that times out.
pub(super) fn poll(run: &Run) -> Result<()> {
    let c = run.caller;
    let (busy_r, busy_w) = fds::pipe()?;
    let (idle_r, idle_w) = fds::pipe()?;
    let event = fds::eventfd()?;
    fds::poke(busy_w)?;
    fds::poke(event)?;
    let all = [busy_r.fd, idle_r.fd, event.fd];
    let mut ready = vec![busy_r.fd, event.fd];
    ready.sort_unstable();

    for call in PollCall::ALL {
        for _ in 0..READY_WAITS {
            let mut entries = pollfds(&all);
            match c.poll(call, &mut entries, Some(PATIENCE)) {
                Waited::Ready(n) => {
                    let mut got: Vec<i32> = entries
                        .iter()
                        .filter(|e| e.revents != 0)
                        .map(|e| e.fd)
                        .collect();
                    got.sort_unstable();
                    ensure!(
                        n == ready.len() && got == ready,
                        "{call:?} returned {n}, fds {got:?} ready"
                    );
                }
                waited => bail!("{call:?} on readable fds returned {waited:?}"),
            }
        }
        expect_timeout(c.poll(call, &mut pollfds(&[idle_r.fd]), Some(IDLE)))?;
    }

    for call in SelectCall::ALL {
        for _ in 0..READY_WAITS {
            match c.select(call, &all, Some(PATIENCE)) {
                Waited::Ready(mut got) => {
                    got.sort_unstable();
                    ensure!(got == ready, "{call:?} found fds {got:?} readable");
                }
                waited => bail!("{call:?} on readable fds returned {waited:?}"),
            }
        }
        expect_timeout(c.select(call, &[idle_r.fd], Some(IDLE)))?;
    }

    close_all(c, &[busy_r, busy_w, idle_r, idle_w, event])
}

fn pollfds(fds: &[i32]) -> Vec<pollfd> {
    fds.iter()
        .map(|&fd| pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect()
}
