//! Futures for tasks spawned with [`EventLoop::spawn`](crate::EventLoop::spawn): wait for a
//! descriptor to become readable or writable, or sleep, using the loop's own watchers and
//! timers.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::os::fd::AsRawFd;
//! use std::os::unix::net::UnixStream;
//! use std::time::Duration;
//! use tickloop::{task, BackendKind, EventLoop, RunMode};
//!
//! let mut lp = EventLoop::new(BackendKind::Poll)?;
//! let (mut ours, mut theirs) = UnixStream::pair().unwrap();
//! ours.set_nonblocking(true).unwrap();
//! lp.spawn(async move {
//!     task::sleep(Duration::from_millis(5)).await;
//!     theirs.write_all(b"late").unwrap();
//! });
//! lp.spawn(async move {
//!     task::readable(ours.as_raw_fd()).await.unwrap();
//!     let mut buf = [0; 4];
//!     ours.read_exact(&mut buf).unwrap();
//!     assert_eq!(&buf, b"late");
//! });
//! lp.run(RunMode::Default)?;
//! # Ok::<(), tickloop::LoopError>(())
//! ```
//!
//! The futures must be awaited inside a task of an [`EventLoop`](crate::EventLoop); polled
//! anywhere else they panic.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::current;
use crate::error::Result;
use crate::event_loop::{EventLoop, IoHandle, TimerHandle};
use crate::interest::{Interest, Readiness};

/// Runs `f` with the loop whose task is being polled; `None` outside a task.
fn with_loop<R>(f: impl FnOnce(&mut EventLoop) -> R) -> Option<R> {
    current::with(f)
}

const OUTSIDE_TASK: &str = "tickloop futures must be awaited inside a task spawned on an EventLoop";

/// What a watcher or timer callback hands to the future waiting for it.
#[derive(Default)]
struct Signal<T> {
    value: Cell<Option<T>>,
    waker: RefCell<Option<Waker>>,
}

impl<T> Signal<T> {
    fn fire(&self, value: T) {
        self.value.set(Some(value));
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }

    fn wait(&self, cx: &Context<'_>) {
        *self.waker.borrow_mut() = Some(cx.waker().clone());
    }
}

/// Waits until `fd` is readable (or hung up / in error).
pub fn readable(fd: RawFd) -> ReadyFuture {
    ReadyFuture::new(fd, Interest::READABLE)
}

/// Waits until `fd` is writable (or hung up / in error).
pub fn writable(fd: RawFd) -> ReadyFuture {
    ReadyFuture::new(fd, Interest::WRITABLE)
}

/// Resolves once a descriptor is ready; see [`readable`] and [`writable`].
pub struct ReadyFuture {
    fd: RawFd,
    interest: Interest,
    watching: Option<(IoHandle, Rc<Signal<Readiness>>)>,
}

impl ReadyFuture {
    fn new(fd: RawFd, interest: Interest) -> Self {
        ReadyFuture {
            fd,
            interest,
            watching: None,
        }
    }

    fn watch(&self, lp: &mut EventLoop) -> Result<(IoHandle, Rc<Signal<Readiness>>)> {
        let signal: Rc<Signal<Readiness>> = Rc::default();
        let fired = Rc::clone(&signal);
        let handle = lp.watch(self.fd, self.interest, move |lp, handle, ready| {
            // One readiness is enough; pause until the future closes the watcher.
            lp.set_interest(handle, Interest::NONE)
                .expect("the running watcher is open");
            fired.fire(ready);
        })?;
        Ok((handle, signal))
    }
}

impl Future for ReadyFuture {
    type Output = Result<Readiness>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.watching.is_none() {
            let watched = with_loop(|lp| self.watch(lp)).expect(OUTSIDE_TASK);
            match watched {
                Ok(watching) => self.watching = Some(watching),
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        let (handle, signal) = self.watching.as_ref().expect("set above");
        match signal.value.take() {
            Some(ready) => {
                let handle = *handle;
                self.watching = None;
                with_loop(|lp| lp.close(handle)).expect(OUTSIDE_TASK)?;
                Poll::Ready(Ok(ready))
            }
            None => {
                signal.wait(cx);
                Poll::Pending
            }
        }
    }
}

impl Drop for ReadyFuture {
    fn drop(&mut self) {
        if let Some((handle, _)) = self.watching.take() {
            // No loop is current when a loop drops its unfinished tasks: it drops the
            // handles as well.
            let _ = with_loop(|lp| lp.close(handle));
        }
    }
}

/// Completes after `duration`, measured with the loop's timers.
pub fn sleep(duration: Duration) -> Sleep {
    Sleep {
        duration,
        timer: None,
    }
}

/// The future returned by [`sleep`].
pub struct Sleep {
    duration: Duration,
    timer: Option<(TimerHandle, Rc<Signal<()>>)>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let duration = self.duration;
        let (_, signal) = self.timer.get_or_insert_with(|| {
            let signal: Rc<Signal<()>> = Rc::default();
            let fired = Rc::clone(&signal);
            let timer = with_loop(|lp| lp.start_timer(duration, move |_, _| fired.fire(())))
                .expect(OUTSIDE_TASK);
            (timer, signal)
        });
        if signal.value.take().is_some() {
            self.timer = None;
            Poll::Ready(())
        } else {
            signal.wait(cx);
            Poll::Pending
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some((timer, _)) = self.timer.take() {
            let _ = with_loop(|lp| lp.stop_timer(timer));
        }
    }
}
