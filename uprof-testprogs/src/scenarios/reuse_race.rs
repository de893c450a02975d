//! `fd-reuse-race`: one thread closes an fd while another takes its number for a new fd, adds
//! that to an epoll instance and gets an event from it, COUNT times.
//!
//! The kernel frees an fd number as `close` begins and only then releases what the fd held, so
//! another thread's new fd, its `epoll_ctl(ADD)` and its events can all come before the
//! `close` returns. A tracer that orders the `close` by its return credits the new fd to the
//! old one's generation. To hold that window open, the closed fd is a memfd carrying many POSIX
//! record locks: after freeing the number, `close` removes them one by one (about 75 µs for 500
//! on the development hosts). The other thread spins until the number is free and takes it at
//! once, in turn for an eventfd, an accepted Unix socket and an epoll instance (which gets an
//! eventfd of its own to wait on).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;

use anyhow::{Context, Result, anyhow, bail, ensure};

use super::{PATIENCE, Run, expect_events};
use crate::books::CtlOp;
use crate::caller::{Caller, Epoll, EpollCall, Fd};
use crate::fds;
use crate::report::ReuseRace;

/// Record locks on the closed fd: the longer `close` takes after freeing the number.
const LOCKS: i64 = 500;

const EPOLLIN: u32 = libc::EPOLLIN as u32;

/// How the closer and the reuser take turns. The reuser spins (it must be running when the
/// number comes free); the closer blocks on channels.
struct Turns {
    /// `round << 32 | fd`: the fd the closer is about to close in `round` (rounds from 1).
    target: AtomicU64,
    /// The last round whose `close` has returned.
    closed: AtomicU64,
    /// Set when the closer gives up, so that the reuser stops spinning.
    abort: AtomicBool,
}

pub(super) fn fd_reuse_race(run: &Run) -> Result<()> {
    let c = run.caller;
    let ep = c.epoll_create1().context("epoll_create1")?;
    let turns = Arc::new(Turns {
        target: AtomicU64::new(0),
        closed: AtomicU64::new(0),
        abort: AtomicBool::new(false),
    });
    let (prepared_tx, prepared) = mpsc::channel::<()>();
    let (done_tx, done) = mpsc::channel::<()>();
    // Each thread on a CPU of its own, where there are two: the reuser must be running while
    // the closer is inside `close`.
    let cpus = allowed_cpus().context("sched_getaffinity")?;
    let (&closer_cpu, others) = cpus.split_first().context("no CPU to run on")?;
    pin_to(closer_cpu).context("sched_setaffinity")?;
    let reuser_cpu = others.first().copied().unwrap_or(closer_cpu);
    let reuser = {
        let (books, turns, rounds) = (Arc::clone(run.books), Arc::clone(&turns), run.count);
        thread::spawn(move || {
            pin_to(reuser_cpu).context("sched_setaffinity")?;
            reuse(&books, ep, &turns, rounds, &prepared_tx, &done_tx)
        })
    };
    let closed = close_rounds(c, &turns, run.count, &prepared, &done);
    if closed.is_err() {
        turns.abort.store(true, Ordering::Release);
    }
    let reused = reuser.join().map_err(|_| anyhow!("the reuser panicked"))?;
    // When both fail, the reuser's error is the cause (the closer only sees it stop).
    let overlapped = reused.context("the reuser")?;
    closed?;
    run.books.race(ReuseRace {
        rounds: run.count,
        cpus: cpus.len().min(2) as u64,
        overlapped,
    });
    Ok(c.close(ep.fd)?)
}

/// The closer's side: each round, a dup of a locked memfd on the lowest free number, closed
/// while the reuser waits for that number.
fn close_rounds(
    c: &Caller,
    turns: &Turns,
    rounds: u64,
    prepared: &mpsc::Receiver<()>,
    done: &mpsc::Receiver<()>,
) -> Result<()> {
    let memfd = memfd().context("memfd_create")?;
    for round in 1..=rounds {
        prepared
            .recv()
            .map_err(|_| anyhow!("the reuser stopped before round {round}"))?;
        let fd = lowest_free_dup(memfd).context("dup of the memfd")?;
        lock_bytes(fd, LOCKS).context("locking the memfd")?;
        turns
            .target
            .store(round << 32 | fd as u64, Ordering::Release);
        c.close(fd).with_context(|| format!("closing fd {fd}"))?;
        turns.closed.store(round, Ordering::Release);
        done.recv()
            .map_err(|_| anyhow!("the reuser stopped in round {round}"))?;
    }
    Ok(c.close(memfd)?)
}

/// The reuser's side; returns the rounds whose `epoll_ctl(ADD)` returned before the `close`.
fn reuse(
    books: &Arc<crate::books::Books>,
    ep: Epoll,
    turns: &Turns,
    rounds: u64,
    prepared: &mpsc::Sender<()>,
    done: &mpsc::Sender<()>,
) -> Result<u64> {
    let c = Caller::new(books);
    c.set_name("reuser")?;
    let (listener, addr) = fds::unix_listener().context("listening")?;
    let mut overlapped = 0;
    for round in 1..=rounds {
        let taker = Taker::prepare(round, &addr)?;
        prepared.send(()).context("telling the closer")?;
        let number = wait_for_target(turns, round)?;
        wait_until_closed(turns, number)?;
        let (new, instance) = taker.take(&c, listener)?;
        ensure!(
            new.fd == number,
            "round {round}: the new fd is {}, not the freed number {number}",
            new.fd
        );
        c.epoll_ctl(ep, CtlOp::Add, new, EPOLLIN)
            .with_context(|| format!("adding fd {number}"))?;
        if turns.closed.load(Ordering::Acquire) < round {
            overlapped += 1;
        }
        taker.deliver(&c, ep, new, instance)?;
        c.epoll_ctl(ep, CtlOp::Del, new, 0)
            .with_context(|| format!("removing fd {number}"))?;
        c.close(new.fd)?;
        taker.clean_up(&c)?;
        done.send(()).context("telling the closer")?;
    }
    c.close(listener.fd)?;
    Ok(overlapped)
}

/// What the reuser's next new fd is, with what it made beforehand (so that the new fd gets the
/// freed number, the lowest free one).
enum Taker {
    EventFd,
    /// A connection waiting in the listener's queue, from `client`.
    Accepted {
        client: Fd,
    },
    /// An epoll instance that will watch `inner`.
    Epoll {
        inner: Fd,
    },
}

impl Taker {
    fn prepare(round: u64, addr: &fds::UnixAddr) -> Result<Taker> {
        Ok(match round % 3 {
            0 => Taker::EventFd,
            1 => Taker::Accepted {
                client: fds::unix_connect(addr).context("connecting")?,
            },
            _ => Taker::Epoll {
                inner: fds::eventfd().context("eventfd")?,
            },
        })
    }

    /// Makes the new fd (and, for an epoll instance, its handle).
    fn take(&self, c: &Caller, listener: Fd) -> Result<(Fd, Option<Epoll>)> {
        Ok(match self {
            Taker::EventFd => (fds::eventfd().context("eventfd")?, None),
            Taker::Accepted { .. } => (fds::accept(listener).context("accept4")?, None),
            Taker::Epoll { .. } => {
                let instance = c.epoll_create1().context("epoll_create1")?;
                (instance.as_fd(), Some(instance))
            }
        })
    }

    /// Makes `new` ready, waits for its one event on `ep`, and consumes it.
    fn deliver(&self, c: &Caller, ep: Epoll, new: Fd, instance: Option<Epoll>) -> Result<()> {
        match (self, instance) {
            (Taker::EventFd, _) => fds::poke(new)?,
            (Taker::Accepted { client }, _) => fds::poke(*client)?,
            (Taker::Epoll { inner }, Some(instance)) => {
                c.epoll_ctl(instance, CtlOp::Add, *inner, EPOLLIN)
                    .context("adding the inner eventfd")?;
                fds::poke(*inner)?;
            }
            (Taker::Epoll { .. }, None) => bail!("fd {} is not an epoll instance", new.fd),
        }
        expect_events(
            c.epoll_wait(ep, EpollCall::Wait, 4, Some(PATIENCE)),
            &[new.fd],
        )?;
        match (self, instance) {
            (Taker::Epoll { inner }, Some(instance)) => {
                expect_events(
                    c.epoll_wait(instance, EpollCall::Wait, 4, Some(PATIENCE)),
                    &[inner.fd],
                )?;
                fds::drain(*inner)?;
            }
            _ => {
                fds::drain(new)?;
            }
        }
        Ok(())
    }

    fn clean_up(self, c: &Caller) -> Result<()> {
        match self {
            Taker::EventFd => Ok(()),
            Taker::Accepted { client } => Ok(c.close(client.fd)?),
            Taker::Epoll { inner } => Ok(c.close(inner.fd)?),
        }
    }
}

/// Spins until the closer names the fd of `round`.
fn wait_for_target(turns: &Turns, round: u64) -> Result<i32> {
    loop {
        let target = turns.target.load(Ordering::Acquire);
        if target >> 32 == round {
            return Ok(target as u32 as i32);
        }
        if turns.abort.load(Ordering::Acquire) {
            bail!("the closer gave up in round {round}");
        }
        std::hint::spin_loop();
    }
}

/// Spins until `fd` is no longer open (`fcntl(F_GETFD)` fails with EBADF).
fn wait_until_closed(turns: &Turns, fd: i32) -> Result<()> {
    // SAFETY: F_GETFD only reads the fd's flags.
    while unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0 {
        if turns.abort.load(Ordering::Acquire) {
            bail!("the closer gave up while fd {fd} was open");
        }
        std::hint::spin_loop();
    }
    let e = std::io::Error::last_os_error();
    ensure!(
        e.raw_os_error() == Some(libc::EBADF),
        "fcntl({fd}, F_GETFD): {e}"
    );
    Ok(())
}

fn memfd() -> std::io::Result<i32> {
    // SAFETY: a NUL-terminated name.
    let fd = unsafe { libc::memfd_create(c"uprof-locks".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(fd)
}

/// A new fd for `fd`'s file on the lowest free number.
fn lowest_free_dup(fd: i32) -> std::io::Result<i32> {
    // SAFETY: no pointer arguments.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if new < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(new)
}

/// Read-locks `count` separate bytes of `fd`'s file (every other byte, so that no two locks
/// merge into one).
fn lock_bytes(fd: i32, count: i64) -> std::io::Result<()> {
    for i in 0..count {
        let lock = libc::flock {
            l_type: libc::F_RDLCK as libc::c_short,
            l_whence: libc::SEEK_SET as libc::c_short,
            l_start: 2 * i,
            l_len: 1,
            l_pid: 0,
        };
        // SAFETY: `lock` is a live flock.
        if unsafe { libc::fcntl(fd, libc::F_SETLK, &lock) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The CPUs this thread may run on.
fn allowed_cpus() -> std::io::Result<Vec<usize>> {
    // SAFETY: an all-zero cpu_set_t is the empty set; sched_getaffinity fills it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a live cpu_set_t of the size passed.
    if unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: CPU_ISSET reads a bit of the live set, below CPU_SETSIZE.
    let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect();
    Ok(cpus)
}

/// Binds the calling thread to `cpu`.
fn pin_to(cpu: usize) -> std::io::Result<()> {
    // SAFETY: an all-zero cpu_set_t is the empty set; CPU_SET writes a bit below CPU_SETSIZE.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a live cpu_set_t of the size passed.
    if unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
