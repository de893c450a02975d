//! The `epoll-scenario` scenarios: each does a small, exactly known amount of work through a
//! [`Caller`] and checks every wait returned what it should, so the counts in its report are
//! both exact and the ones its description promises.

mod antipatterns;
mod basic;
mod child;
mod fd_reuse;
mod herd;
mod many_fds;
mod planted;
mod poll;
mod reuse_race;
mod signals;
mod threads;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};

use crate::books::{Books, CtlOp};
use crate::caller::{Caller, Epoll, EpollCall, Event, Fd, Waited};
use crate::fds;

/// Timeout of the waits meant to time out.
const IDLE: Duration = Duration::from_millis(1);
/// Timeout of the waits meant to find something ready: they return at once, and this only
/// bounds how long a broken scenario hangs.
const PATIENCE: Duration = Duration::from_secs(5);

/// What a scenario gets to work with.
pub struct Run<'a> {
    /// The process's books (for snapshots and for threads the scenario starts).
    pub books: &'a Arc<Books>,
    /// The main thread's caller.
    pub caller: &'a Caller,
    /// The scenario's size argument, or its default.
    pub count: u64,
    /// The number of waits, for scenarios that take `--waits`.
    pub waits: u64,
}

/// A scenario's size argument: what it counts and its default.
pub struct Count {
    pub meaning: &'static str,
    pub default: u64,
}

/// One scenario.
pub struct Scenario {
    pub name: &'static str,
    pub summary: &'static str,
    /// The optional `COUNT` argument, if the scenario takes one.
    pub count: Option<Count>,
    /// The default of `--waits`, if the scenario takes it.
    pub waits: Option<u64>,
    run: fn(&Run) -> Result<()>,
}

impl Scenario {
    /// Runs the scenario on the calling (main) thread. When it returns, every thread it started
    /// has finished, except one that `exit-mid-wait` leaves blocked on purpose.
    pub fn run(&self, run: &Run) -> Result<()> {
        (self.run)(run)
    }
}

/// Every scenario, in `--list` order.
pub const ALL: &[Scenario] = &[
    Scenario {
        name: "timeouts",
        summary: "COUNT epoll_wait calls with a 1 ms timeout on an empty interest list",
        count: Some(Count {
            meaning: "waits",
            default: 20,
        }),
        waits: None,
        run: basic::timeouts,
    },
    Scenario {
        name: "ready",
        summary: "a pipe, a Unix socket and an eventfd made ready a known number of times, several per return",
        count: None,
        waits: None,
        run: basic::ready,
    },
    Scenario {
        name: "syscalls",
        summary: "the same waits through epoll_wait, epoll_pwait and epoll_pwait2",
        count: None,
        waits: None,
        run: basic::syscalls,
    },
    Scenario {
        name: "eintr",
        summary: "a thread blocked in epoll_wait interrupted COUNT times by a signal from another thread",
        count: Some(Count {
            meaning: "signals",
            default: 5,
        }),
        waits: None,
        run: signals::eintr,
    },
    Scenario {
        name: "fd-reuse",
        summary: "a pipe closed and its fd number reused by a new pipe, plus EEXIST and ENOENT epoll_ctl errors",
        count: None,
        waits: None,
        run: fd_reuse::fd_reuse,
    },
    Scenario {
        name: "fd-reuse-race",
        summary: "COUNT rounds: the main thread closes an fd (slowly: a memfd with 500 record locks) while thread reuser takes the freed number for an eventfd, an accepted socket or an epoll instance, adds it to an epoll instance and gets one event from it",
        count: Some(Count {
            meaning: "rounds",
            default: 150,
        }),
        waits: None,
        run: reuse_race::fd_reuse_race,
    },
    Scenario {
        name: "threads",
        summary: "the main thread and a thread named worker-1, each with its own epoll instance",
        count: None,
        waits: None,
        run: threads::threads,
    },
    Scenario {
        name: "quiet-thread",
        summary: "a second thread (not renamed) makes COUNT epoll_wait calls with a 1 ms timeout on the main thread's empty epoll instance, and no other call",
        count: Some(Count {
            meaning: "waits",
            default: 20,
        }),
        waits: None,
        run: threads::quiet_thread,
    },
    Scenario {
        name: "child",
        summary: "a forked child waits on its own epoll instance; its report goes under children",
        count: None,
        waits: None,
        run: child::child,
    },
    Scenario {
        name: "exit-mid-wait",
        summary: "the process exits while a second thread is blocked in epoll_wait forever",
        count: None,
        waits: None,
        run: threads::exit_mid_wait,
    },
    Scenario {
        name: "poll",
        summary: "poll, ppoll, select and pselect6 with known nfds and ready counts",
        count: None,
        waits: None,
        run: poll::poll,
    },
    Scenario {
        name: "many-fds",
        summary: "COUNT pipes registered, one made ready before each of --waits epoll_wait calls",
        count: Some(Count {
            meaning: "pipes",
            default: 1000,
        }),
        waits: Some(1000),
        run: many_fds::many_fds,
    },
    Scenario {
        name: "planted-latency",
        summary: "an eventfd and a Unix socket made ready (twice each) while the loop is busy for 20 ms before each of COUNT waits, then made ready once more and closed undelivered; the delays are reported under planted",
        count: Some(Count {
            meaning: "waits",
            default: 5,
        }),
        waits: None,
        run: planted::planted_latency,
    },
    Scenario {
        name: "herd",
        summary: "3 threads wait on one Unix datagram socket, each in its own epoll instance; COUNT datagrams are sent one at a time while all 3 are blocked: each wakes all 3",
        count: Some(Count {
            meaning: "datagrams",
            default: 5,
        }),
        waits: None,
        run: herd::herd,
    },
    Scenario {
        name: "herd-exclusive",
        summary: "herd with the socket registered EPOLLEXCLUSIVE: each datagram wakes exactly one waiter",
        count: Some(Count {
            meaning: "datagrams",
            default: 5,
        }),
        waits: None,
        run: herd::herd_exclusive,
    },
    Scenario {
        name: "anti-ctl-churn",
        summary: "COUNT events of an eventfd, each followed by two epoll_ctl MODs (output interest on, then off): the ctl-churn finding",
        count: Some(Count {
            meaning: "events",
            default: 300,
        }),
        waits: None,
        run: antipatterns::ctl_churn,
    },
    Scenario {
        name: "anti-busy-poll",
        summary: "COUNT zero-timeout epoll_wait calls in a row that find nothing: the busy-poll finding",
        count: Some(Count {
            meaning: "polls",
            default: 2000,
        }),
        waits: None,
        run: antipatterns::busy_poll,
    },
    Scenario {
        name: "anti-maxevents",
        summary: "8 eventfds kept readable; COUNT epoll_wait calls with maxevents 4 each return 4: the maxevents-saturated finding",
        count: Some(Count {
            meaning: "waits",
            default: 200,
        }),
        waits: None,
        run: antipatterns::maxevents,
    },
    Scenario {
        name: "anti-hangup",
        summary: "a socket whose peer is closed stays registered; COUNT waits each deliver its EPOLLHUP: the stale-interest finding",
        count: Some(Count {
            meaning: "waits",
            default: 200,
        }),
        waits: None,
        run: antipatterns::hangup,
    },
    Scenario {
        name: "anti-leak",
        summary: "the read ends of COUNT pipes are registered and never written; after 1.2 s of waits that time out they are closed still registered: the stale-interest finding (leaks)",
        count: Some(Count {
            meaning: "pipes",
            default: 16,
        }),
        waits: None,
        run: antipatterns::leak,
    },
    Scenario {
        name: "anti-linear-scan",
        summary: "COUNT poll calls over 200 pipes of which one is readable: the linear-scan finding",
        count: Some(Count {
            meaning: "polls",
            default: 200,
        }),
        waits: None,
        run: antipatterns::linear_scan,
    },
    Scenario {
        name: "anti-saturated",
        summary: "for COUNT seconds every tick works 2 ms and the next event is ready by then: the saturated-loop finding",
        count: Some(Count {
            meaning: "seconds",
            default: 4,
        }),
        waits: None,
        run: antipatterns::saturated,
    },
];

/// The scenario called `name`.
pub fn find(name: &str) -> Option<&'static Scenario> {
    ALL.iter().find(|s| s.name == name)
}

/// Fails unless `waited` returned exactly one event for each of `fds`, in any order.
fn expect_events(waited: Waited<Vec<Event>>, fds: &[i32]) -> Result<()> {
    let Waited::Ready(events) = waited else {
        bail!("expected events for fds {fds:?}, the wait returned {waited:?}");
    };
    let mut got: Vec<i32> = events.iter().map(|e| e.fd).collect();
    let mut want = fds.to_vec();
    got.sort_unstable();
    want.sort_unstable();
    ensure!(
        got == want,
        "expected events for fds {want:?}, got {events:?}"
    );
    Ok(())
}

/// Fails unless `waited` timed out.
fn expect_timeout<T: std::fmt::Debug>(waited: Waited<T>) -> Result<()> {
    ensure!(
        matches!(waited, Waited::TimedOut),
        "expected a timeout, the wait returned {waited:?}"
    );
    Ok(())
}

/// Adds `watched` to `ep` for input, then `events` times: pokes `feed`, waits for the one event
/// and drains `watched`.
fn deliver(caller: &Caller, ep: Epoll, watched: Fd, feed: Fd, events: u32) -> Result<()> {
    caller
        .epoll_ctl(ep, CtlOp::Add, watched, libc::EPOLLIN as u32)
        .with_context(|| format!("adding fd {}", watched.fd))?;
    for _ in 0..events {
        fds::poke(feed)?;
        expect_events(
            caller.epoll_wait(ep, EpollCall::Wait, 8, Some(PATIENCE)),
            &[watched.fd],
        )?;
        fds::drain(watched)?;
    }
    Ok(())
}

/// On a new epoll instance: [`deliver`]s `ready` events from `watched`, then makes `idle` waits
/// that time out, removes `watched` and closes the instance (the fds stay open).
fn rounds(caller: &Caller, watched: Fd, feed: Fd, ready: u32, idle: u32) -> Result<()> {
    let ep = caller.epoll_create1().context("epoll_create1")?;
    deliver(caller, ep, watched, feed, ready)?;
    for _ in 0..idle {
        expect_timeout(caller.epoll_wait(ep, EpollCall::Wait, 8, Some(IDLE)))?;
    }
    caller
        .epoll_ctl(ep, CtlOp::Del, watched, 0)
        .with_context(|| format!("removing fd {}", watched.fd))?;
    caller.close(ep.fd)?;
    Ok(())
}

/// Closes every fd in `fds` through `caller`.
fn close_all(caller: &Caller, fds: &[Fd]) -> Result<()> {
    for fd in fds {
        caller.close(fd.fd)?;
    }
    Ok(())
}
