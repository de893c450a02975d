//! `uprof-demo`: a small event loop doing a counted amount of epoll work.
//!
//! The main thread watches a TCP listener and the connection it accepted, a pipe, an eventfd
//! and a periodic timerfd on one epoll instance. A feeder thread writes to the pipe, the
//! socket and the eventfd at a steady pace; gaps between writes and ticks make some of the main
//! thread's waits time out. A worker thread runs its own epoll loop on an eventfd the main
//! thread pokes every tenth tick, timing out in between.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use crate::books::{Books, CtlOp};
use crate::caller::{Caller, EpollCall, Fd, Waited};
use crate::fds;
use crate::report::{ProcessReport, Syscall};

/// Period of the timerfd, which also measures the run's duration.
const TICK: Duration = Duration::from_millis(10);
/// Timeout of the main thread's waits: shorter than the gaps between the feeder's writes.
const MAIN_TIMEOUT: Duration = Duration::from_millis(4);
/// Pause between two of the feeder's writes (to the pipe, the socket, the eventfd in turn).
const FEED_EVERY: Duration = Duration::from_millis(6);
/// Timeout of the worker's waits.
const WORKER_TIMEOUT: Duration = Duration::from_millis(30);
/// The main thread pokes the worker every this many ticks.
const WORKER_POKE_TICKS: u64 = 10;

const EPOLLIN: u32 = libc::EPOLLIN as u32;

/// What a demo run did.
pub struct Outcome {
    pub report: ProcessReport,
    pub elapsed: Duration,
    /// Writes the feeder made to the pipe, the socket and the eventfd.
    pub fed: Fed,
}

/// The feeder's writes per target.
#[derive(Debug, Default)]
pub struct Fed {
    pub pipe: u64,
    pub socket: u64,
    pub eventfd: u64,
}

/// Runs the event loop for about `duration` (counted in timer ticks).
pub fn run(books: &Arc<Books>, duration: Duration) -> Result<Outcome> {
    let started = Instant::now();
    let c = Caller::new(books);
    let ep = c.epoll_create1().context("epoll_create1")?;

    let (listener, port) = fds::tcp_listener().context("listening on loopback")?;
    c.epoll_ctl(ep, CtlOp::Add, listener, EPOLLIN)
        .context("adding the listener")?;
    let client = fds::tcp_connect(port).context("connecting to the listener")?;
    match c.epoll_wait(ep, EpollCall::Wait, 16, Some(Duration::from_secs(5))) {
        Waited::Ready(events) if events.iter().all(|e| e.fd == listener.fd) => {}
        waited => bail!("waiting for the connection returned {waited:?}"),
    }
    let conn = fds::accept(listener).context("accepting the connection")?;
    let (pipe_r, pipe_w) = fds::pipe()?;
    let event = fds::eventfd()?;
    let timer = fds::periodic_timerfd(TICK)?;
    let drained = [conn, pipe_r, event];
    for fd in [conn, pipe_r, event, timer] {
        c.epoll_ctl(ep, CtlOp::Add, fd, EPOLLIN)
            .with_context(|| format!("adding fd {}", fd.fd))?;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let worker_wake = fds::eventfd()?;
    let worker = spawn_worker(books, worker_wake, &stop)?;
    let feeder = spawn_feeder(pipe_w, client, event, &stop)?;

    let ticks_wanted = (duration.as_nanos() / TICK.as_nanos()) as u64;
    let mut ticks = 0;
    while ticks < ticks_wanted {
        let events = match c.epoll_wait(ep, EpollCall::Wait, 16, Some(MAIN_TIMEOUT)) {
            Waited::Ready(events) => events,
            Waited::TimedOut | Waited::Interrupted => continue,
            Waited::Failed(e) => return Err(e).context("epoll_wait"),
        };
        for e in events {
            if e.fd == timer.fd {
                for _ in 0..fds::counter(&fds::drain(timer)?)? {
                    ticks += 1;
                    if ticks % WORKER_POKE_TICKS == 0 {
                        fds::poke(worker_wake)?;
                    }
                }
            } else {
                let fd = drained
                    .iter()
                    .find(|fd| fd.fd == e.fd)
                    .with_context(|| format!("event for fd {}", e.fd))?;
                fds::drain(*fd)?;
            }
        }
    }

    stop.store(true, Ordering::Relaxed);
    fds::poke(worker_wake)?;
    let fed = feeder
        .join()
        .map_err(|_| anyhow!("the feeder panicked"))??;
    worker
        .join()
        .map_err(|_| anyhow!("the worker panicked"))??;
    for fd in [
        conn,
        client,
        listener,
        pipe_r,
        pipe_w,
        event,
        timer,
        worker_wake,
    ] {
        c.close(fd.fd)?;
    }
    c.close(ep.fd)?;
    Ok(Outcome {
        report: books.snapshot(),
        elapsed: started.elapsed(),
        fed,
    })
}

/// The worker: its own epoll loop on `wake`, until `stop`.
fn spawn_worker(
    books: &Arc<Books>,
    wake: Fd,
    stop: &Arc<AtomicBool>,
) -> Result<thread::JoinHandle<Result<()>>> {
    let (books, stop) = (Arc::clone(books), Arc::clone(stop));
    let work = move || -> Result<()> {
        let c = Caller::new(&books);
        let ep = c.epoll_create1().context("epoll_create1")?;
        c.epoll_ctl(ep, CtlOp::Add, wake, EPOLLIN)
            .context("adding the wake-up eventfd")?;
        while !stop.load(Ordering::Relaxed) {
            match c.epoll_wait(ep, EpollCall::Wait, 4, Some(WORKER_TIMEOUT)) {
                Waited::Ready(_) => {
                    fds::drain(wake)?;
                }
                Waited::TimedOut | Waited::Interrupted => {}
                Waited::Failed(e) => return Err(e).context("epoll_wait"),
            }
        }
        c.close(ep.fd)?;
        Ok(())
    };
    thread::Builder::new()
        .name("demo-worker".into())
        .spawn(work)
        .context("starting the worker")
}

/// The feeder: writes to the pipe, the socket and the eventfd in turn, until `stop`. It makes
/// no counted call.
fn spawn_feeder(
    pipe: Fd,
    socket: Fd,
    event: Fd,
    stop: &Arc<AtomicBool>,
) -> Result<thread::JoinHandle<Result<Fed>>> {
    let stop = Arc::clone(stop);
    let work = move || -> Result<Fed> {
        let mut fed = Fed::default();
        for turn in 0.. {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let (fd, count) = match turn % 3 {
                0 => (pipe, &mut fed.pipe),
                1 => (socket, &mut fed.socket),
                _ => (event, &mut fed.eventfd),
            };
            fds::poke(fd)?;
            *count += 1;
            thread::sleep(FEED_EVERY);
        }
        Ok(fed)
    };
    thread::Builder::new()
        .name("demo-feeder".into())
        .spawn(work)
        .context("starting the feeder")
}

/// A one-paragraph account of the run, for people.
pub fn summary(outcome: &Outcome) -> String {
    let report = &outcome.report;
    let mut text = format!(
        "uprof-demo (pid {}) ran its event loop for {:.2} s.",
        report.pid,
        outcome.elapsed.as_secs_f64()
    );
    for t in &report.threads {
        let _ = write!(
            text,
            " Thread {} (tid {}) made {} epoll_wait calls: {} returned {} events, {} timed out, {} were \
             interrupted; it also made {} epoll_ctl and {} close calls.",
            t.comm,
            t.tid,
            t.calls_of(Syscall::EpollWait),
            t.ready,
            t.events,
            t.timeouts,
            t.interrupted,
            t.calls_of(Syscall::EpollCtl),
            t.calls_of(Syscall::Close),
        );
    }
    for ep in &report.epolls {
        let delivered: Vec<String> = ep
            .fds
            .iter()
            .map(|f| format!("fd {} ({}) {}", f.fd, f.kind.name(), f.delivered))
            .collect();
        let _ = write!(
            text,
            " Epoll fd {} delivered: {}.",
            ep.epfd,
            delivered.join(", ")
        );
    }
    let fed = &outcome.fed;
    let _ = write!(
        text,
        " The feeder thread wrote {} times to the pipe, {} to the socket and {} to the eventfd.",
        fed.pipe, fed.socket, fed.eventfd
    );
    text
}
