//! The loop itself: handles, the run modes and the phases of one tick.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::os::fd::{AsRawFd, RawFd};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::backend::{Backend, BackendKind, ReadyEvent};
use crate::current;
use crate::error::{LoopError, Result, io_error};
use crate::executor::{Executor, Task};
use crate::interest::{Interest, Readiness};
use crate::registry::Registry;
use crate::slab::Key;
use crate::stats::LoopStats;
use crate::thread_pool::{JobOutput, ThreadPool};
use crate::timer::TimerQueue;
use crate::wake::{EventFd, LoopWaker};

type IoCallback = Box<dyn FnMut(&mut EventLoop, IoHandle, Readiness)>;
type TimerCallback = Box<dyn FnMut(&mut EventLoop, TimerHandle)>;
type CloseCallback = Box<dyn FnOnce(&mut EventLoop)>;
type Completion = Box<dyn FnOnce(&mut EventLoop, JobOutput)>;

/// The backend token of the loop's own eventfd; watcher tokens never reach it because slab
/// indices stay far below `u32::MAX`.
const WAKE_TOKEN: u64 = u64::MAX;

/// Thread-pool size when none is configured (libuv's default `UV_THREADPOOL_SIZE`).
pub const DEFAULT_POOL_THREADS: usize = 4;

/// A watched file descriptor. Copyable; stale after [`EventLoop::close`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IoHandle(Key);

/// A started timer. Copyable; stale once a one-shot timer fired or after
/// [`EventLoop::stop_timer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerHandle(Key);

/// How long [`EventLoop::run`] runs (libuv's `uv_run_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunMode {
    /// Until nothing keeps the loop alive, or [`EventLoop::stop`] is called.
    Default,
    /// One tick, blocking in the poll phase if nothing is pending, then the timers that
    /// became due while polling: at least one callback runs unless the loop is not alive.
    Once,
    /// One tick with a zero poll timeout.
    NoWait,
}

/// Settings for [`EventLoop::with_config`].
#[derive(Clone, Copy, Debug)]
pub struct LoopConfig {
    /// Which readiness mechanism to use.
    pub backend: BackendKind,
    /// Worker threads, started on the first [`EventLoop::queue_work`].
    pub pool_threads: usize,
}

impl LoopConfig {
    /// The given backend with [`DEFAULT_POOL_THREADS`] workers.
    pub fn new(backend: BackendKind) -> Self {
        LoopConfig {
            backend,
            pool_threads: DEFAULT_POOL_THREADS,
        }
    }
}

/// A single-threaded event loop in the style of libuv.
///
/// Each tick runs these phases in order:
/// 1. update the loop's notion of now (when timers exist: nothing else reads it before the
///    poll, which updates it again);
/// 2. run the timers that are due;
/// 3. apply the watcher queue (pending interest changes) to the backend in one batch;
/// 4. poll, with a timeout of zero if close callbacks are pending or the loop was stopped,
///    else until the nearest timer, else forever;
/// 5. run the callbacks of ready watchers;
/// 6. run the completions of thread-pool work that finished;
/// 7. poll the `async` tasks that were woken;
/// 8. run close callbacks.
///
/// Callbacks get `&mut EventLoop`, so they can watch, re-arm, close (their own handle
/// included), start timers, queue work and stop the loop.
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use std::time::Duration;
/// use tickloop::{BackendKind, EventLoop, RunMode};
///
/// let mut lp = EventLoop::new(BackendKind::Poll)?;
/// let fired = Rc::new(Cell::new(0));
/// let counter = Rc::clone(&fired);
/// lp.start_repeating_timer(Duration::ZERO, Duration::from_millis(1), move |lp, timer| {
///     counter.set(counter.get() + 1);
///     if counter.get() == 3 {
///         lp.stop_timer(timer);
///     }
/// });
/// lp.run(RunMode::Default)?;
/// assert_eq!(fired.get(), 3);
/// # Ok::<(), tickloop::LoopError>(())
/// ```
pub struct EventLoop {
    backend: Box<dyn Backend>,
    registry: Registry<IoCallback>,
    timers: TimerQueue<TimerCallback>,
    pool: Option<ThreadPool>,
    pool_threads: usize,
    /// Pending thread-pool work, by job id; each keeps the loop alive.
    completions: HashMap<u64, Completion>,
    next_job_id: u64,
    wake: Arc<EventFd>,
    wake_registered: bool,
    wake_signalled: bool,
    closing: Vec<CloseCallback>,
    executor: Executor,
    ready: Vec<ReadyEvent>,
    now: Instant,
    stop_requested: bool,
    stats: LoopStats,
}

impl EventLoop {
    /// A loop on the given backend, with the default thread-pool size.
    pub fn new(backend: BackendKind) -> Result<Self> {
        Self::with_config(LoopConfig::new(backend))
    }

    /// A loop with explicit settings.
    pub fn with_config(config: LoopConfig) -> Result<Self> {
        Self::with_backend(config.backend.open()?, config.pool_threads)
    }

    /// A loop on a backend built by the caller.
    pub fn with_backend(backend: Box<dyn Backend>, pool_threads: usize) -> Result<Self> {
        let wake = Arc::new(EventFd::new()?);
        Ok(EventLoop {
            backend,
            registry: Registry::new(),
            timers: TimerQueue::new(),
            pool: None,
            pool_threads,
            completions: HashMap::new(),
            next_job_id: 0,
            executor: Executor::new(Arc::clone(&wake)),
            wake,
            wake_registered: false,
            wake_signalled: false,
            closing: Vec::new(),
            ready: Vec::new(),
            now: Instant::now(),
            stop_requested: false,
            stats: LoopStats::default(),
        })
    }

    /// The backend in use.
    pub fn backend_kind(&self) -> BackendKind {
        self.backend.kind()
    }

    /// The time cached at the start of the current tick's timer phase, and again when its
    /// poll returned (libuv's `uv_now`): I/O callbacks and the phases after them see the latter.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Counters of what the loop has done so far.
    pub fn stats(&self) -> LoopStats {
        self.stats
    }

    /// A handle other threads can use to wake this loop.
    pub fn waker(&self) -> LoopWaker {
        LoopWaker {
            eventfd: Arc::clone(&self.wake),
        }
    }

    /// Watches `fd` and calls `callback` whenever it is ready for something in `interest`.
    ///
    /// The loop does not own `fd`: keep it open until the handle is closed. Moving the owner
    /// (say a `TcpStream`) into the callback does exactly that, because the callback is dropped
    /// after the descriptor has left the backend.
    ///
    /// With the `epoll-et` backend a callback is told once per readiness change, so it must
    /// read or write until `EAGAIN`; doing so is correct on every backend.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::os::fd::AsRawFd;
    /// use std::os::unix::net::UnixStream;
    /// use tickloop::{BackendKind, EventLoop, Interest, RunMode};
    ///
    /// let mut lp = EventLoop::new(BackendKind::Select)?;
    /// let (mut reader, mut writer) = UnixStream::pair().unwrap();
    /// writer.write_all(b"ping").unwrap();
    /// let fd = reader.as_raw_fd();
    /// lp.watch(fd, Interest::READABLE, move |lp, handle, ready| {
    ///     assert!(ready.is_readable());
    ///     let mut buf = [0; 4];
    ///     reader.read_exact(&mut buf).unwrap();
    ///     assert_eq!(&buf, b"ping");
    ///     lp.close(handle).unwrap(); // drops `reader` once the callback returns
    /// })?;
    /// lp.run(RunMode::Default)?;
    /// # Ok::<(), tickloop::LoopError>(())
    /// ```
    pub fn watch(
        &mut self,
        fd: RawFd,
        interest: Interest,
        callback: impl FnMut(&mut EventLoop, IoHandle, Readiness) + 'static,
    ) -> Result<IoHandle> {
        self.backend.check_fd(fd)?;
        Ok(IoHandle(self.registry.insert(
            fd,
            interest,
            Box::new(callback),
        )))
    }

    /// Changes what a watcher waits for: re-arming, switching direction, or pausing with
    /// [`Interest::NONE`]. Takes effect at the next poll phase.
    pub fn set_interest(&mut self, handle: IoHandle, interest: Interest) -> Result<()> {
        self.registry.set_interest(handle.0, interest)
    }

    /// What a watcher currently waits for.
    pub fn interest(&self, handle: IoHandle) -> Result<Interest> {
        self.registry.interest(handle.0)
    }

    /// Stops watching and frees the handle. Safe inside the handle's own callback: the callback
    /// finishes, then is dropped.
    pub fn close(&mut self, handle: IoHandle) -> Result<()> {
        if self.registry.remove(handle.0, self.backend.as_mut())? {
            self.stats.interest_updates += 1;
        }
        Ok(())
    }

    /// Like [`EventLoop::close`], and runs `on_close` in the close phase of this tick.
    pub fn close_then(
        &mut self,
        handle: IoHandle,
        on_close: impl FnOnce(&mut EventLoop) + 'static,
    ) -> Result<()> {
        self.close(handle)?;
        self.closing.push(Box::new(on_close));
        Ok(())
    }

    /// Calls `callback` once, `timeout` from the start of this tick. A zero timeout fires in
    /// the next timer phase; timers due at the same time fire in the order they were started.
    pub fn start_timer(
        &mut self,
        timeout: Duration,
        callback: impl FnMut(&mut EventLoop, TimerHandle) + 'static,
    ) -> TimerHandle {
        TimerHandle(
            self.timers
                .start(self.now + timeout, None, Box::new(callback)),
        )
    }

    /// Calls `callback` after `timeout`, then every `interval` until stopped.
    pub fn start_repeating_timer(
        &mut self,
        timeout: Duration,
        interval: Duration,
        callback: impl FnMut(&mut EventLoop, TimerHandle) + 'static,
    ) -> TimerHandle {
        TimerHandle(
            self.timers
                .start(self.now + timeout, Some(interval), Box::new(callback)),
        )
    }

    /// Moves a live timer's deadline to `timeout` from now (also from inside its own callback,
    /// which keeps a one-shot timer alive).
    pub fn restart_timer(&mut self, timer: TimerHandle, timeout: Duration) -> Result<()> {
        if self.timers.restart(timer.0, self.now + timeout) {
            Ok(())
        } else {
            Err(LoopError::StaleHandle)
        }
    }

    /// Cancels a timer; returns false if it had already fired (one-shot) or been stopped.
    pub fn stop_timer(&mut self, timer: TimerHandle) -> bool {
        self.timers.stop(timer.0).is_some()
    }

    /// Runs `work` on the thread pool and then `after` on the loop thread with its result
    /// (`Err` holds the panic payload if `work` panicked). Pending work keeps the loop alive.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use tickloop::{BackendKind, EventLoop, RunMode};
    ///
    /// let mut lp = EventLoop::new(BackendKind::Epoll)?;
    /// let answer = Rc::new(Cell::new(0));
    /// let slot = Rc::clone(&answer);
    /// lp.queue_work(|| (1..=10u64).product::<u64>(), move |_lp, result| {
    ///     slot.set(result.unwrap());
    /// })?;
    /// lp.run(RunMode::Default)?;
    /// assert_eq!(answer.get(), 3_628_800);
    /// # Ok::<(), tickloop::LoopError>(())
    /// ```
    pub fn queue_work<T: Send + 'static>(
        &mut self,
        work: impl FnOnce() -> T + Send + 'static,
        after: impl FnOnce(&mut EventLoop, std::thread::Result<T>) + 'static,
    ) -> Result<()> {
        if self.pool.is_none() {
            let pool = ThreadPool::new(self.pool_threads, Arc::clone(&self.wake))
                .map_err(|e| io_error("spawning thread-pool workers", e))?;
            self.pool = Some(pool);
        }
        let id = self.next_job_id;
        self.next_job_id += 1;
        self.completions.insert(
            id,
            Box::new(move |lp, output: JobOutput| {
                let typed = output.map(|boxed| {
                    *boxed
                        .downcast::<T>()
                        .expect("a job's output has the type its completion expects")
                });
                after(lp, typed);
            }),
        );
        let pool = self.pool.as_ref().expect("started above");
        pool.submit(
            id,
            Box::new(move || Box::new(work()) as Box<dyn Any + Send>),
        );
        Ok(())
    }

    /// Runs an `async` task on this loop. It is first polled in the task phase of the next
    /// tick, and again whenever woken; the futures in [`crate::task`] wait on this loop's
    /// watchers and timers. Unfinished tasks keep the loop alive.
    pub fn spawn(&mut self, task: impl Future<Output = ()> + 'static) {
        self.executor.spawn(Box::pin(task));
    }

    /// Makes [`EventLoop::run`] return after the current tick. Safe from any callback.
    pub fn stop(&mut self) {
        self.stop_requested = true;
    }

    /// True while active watchers, timers, pending work or close callbacks exist.
    pub fn is_alive(&self) -> bool {
        self.registry.active_count() > 0
            || self.timers.len() > 0
            || !self.completions.is_empty()
            || !self.closing.is_empty()
            || self.executor.len() > 0
    }

    /// Runs ticks as `mode` says. Returns whether the loop is still alive (libuv's `uv_run`).
    pub fn run(&mut self, mode: RunMode) -> Result<bool> {
        let mut alive = self.is_alive();
        if !alive {
            self.update_time();
        }
        while alive && !self.stop_requested {
            self.tick(mode == RunMode::NoWait)?;
            if mode == RunMode::Once {
                // A poll that ended by timeout ran no callback; the timers that made it end
                // are due now, and running them guarantees progress (as libuv does).
                self.update_time();
                self.run_due_timers();
            }
            alive = self.is_alive();
            if mode != RunMode::Default {
                break;
            }
        }
        self.stop_requested = false;
        Ok(alive)
    }

    fn tick(&mut self, no_wait: bool) -> Result<()> {
        self.stats.ticks += 1;
        // Before the poll only timers read the time. Without any, the time the last poll
        // returned serves until this poll returns, and the tick reads the clock once, not
        // twice (about 95 instructions saved per tick, `cargo xtask bench loops`).
        if self.timers.len() > 0 {
            self.update_time();
            self.run_due_timers();
        }
        self.stats.interest_updates += self.registry.flush(self.backend.as_mut())?;
        self.register_wake_fd()?;
        let timeout = if no_wait {
            Some(Duration::ZERO)
        } else {
            self.poll_timeout()
        };
        self.poll(timeout)?;
        self.run_completions();
        self.run_woken_tasks();
        self.run_close_callbacks();
        Ok(())
    }

    fn update_time(&mut self) {
        self.now = Instant::now();
    }

    fn run_due_timers(&mut self) {
        // Most ticks of a busy server have no timer due: no list to build then.
        if self
            .timers
            .next_deadline()
            .is_none_or(|deadline| deadline > self.now)
        {
            return;
        }
        for key in self.timers.take_due(self.now) {
            let Some(mut callback) = self.timers.take_callback(key) else {
                continue;
            };
            callback(self, TimerHandle(key));
            self.stats.timer_callbacks += 1;
            self.timers.finish(key, callback, self.now);
        }
    }

    /// The eventfd is registered once, on the first tick, outside the watcher registry so it
    /// never counts as an active handle (libuv unrefs its async handle likewise).
    fn register_wake_fd(&mut self) -> Result<()> {
        if !self.wake_registered {
            self.backend
                .add(self.wake.as_raw_fd(), WAKE_TOKEN, Interest::READABLE)?;
            self.stats.interest_updates += 1;
            self.wake_registered = true;
        }
        Ok(())
    }

    fn poll_timeout(&self) -> Option<Duration> {
        if self.stop_requested || !self.closing.is_empty() || !self.is_alive() {
            return Some(Duration::ZERO);
        }
        self.timers
            .next_deadline()
            .map(|deadline| deadline.saturating_duration_since(Instant::now()))
    }

    /// Waits once and dispatches what is ready.
    fn poll(&mut self, timeout: Option<Duration>) -> Result<()> {
        let mut ready = std::mem::take(&mut self.ready);
        let waited = self.backend.wait(timeout, &mut ready);
        self.stats.polls += 1;
        if let Err(err) = waited {
            self.ready = ready;
            return Err(err);
        }
        if !ready.is_empty() {
            self.stats.wakeups += 1;
            self.stats.events += ready.len() as u64;
        }
        // Ready callbacks see the time the poll returned, as libuv updates it after polling.
        self.update_time();
        for event in ready.drain(..) {
            if event.token == WAKE_TOKEN {
                self.wake_signalled = true;
                continue;
            }
            let key = Key::from_token(event.token);
            let Some((mut callback, readiness)) = self.registry.take_ready(key, event.readiness)
            else {
                continue;
            };
            callback(self, IoHandle(key), readiness);
            self.stats.io_callbacks += 1;
            self.registry.restore(key, callback);
        }
        self.ready = ready;
        Ok(())
    }

    fn run_completions(&mut self) {
        if !std::mem::take(&mut self.wake_signalled) {
            return;
        }
        // Reset the counter before taking the list: a job that finishes after the take signals
        // again, so its completion is picked up next tick.
        self.wake.drain();
        let Some(pool) = &self.pool else {
            return;
        };
        for (id, output) in pool.take_completed() {
            let completion = self
                .completions
                .remove(&id)
                .expect("every job has a completion");
            completion(self, output);
            self.stats.completions += 1;
        }
    }

    /// Polls every woken task once, with this loop current for the futures in
    /// [`crate::task`]. Tasks woken meanwhile are polled in the next tick. A task that panics
    /// is dropped like a finished one, the tasks woken after it stay queued, and the panic
    /// goes on to `run`'s caller.
    fn run_woken_tasks(&mut self) {
        // Without tasks nothing can be woken: the shared list's lock is left alone.
        if self.executor.len() == 0 {
            return;
        }
        let mut woken = self.executor.take_woken().into_iter();
        while let Some(token) = woken.next() {
            let Some((key, mut task, waker)) = self.executor.take(token) else {
                continue; // finished already, or woken twice
            };
            let polled = current::enter(self, || {
                catch_unwind(AssertUnwindSafe(|| {
                    task.as_mut().poll(&mut Context::from_waker(&waker))
                }))
            });
            match polled {
                Ok(Poll::Pending) => self.executor.put_back(key, task),
                Ok(Poll::Ready(())) => self.drop_task(key, task),
                Err(panic) => {
                    self.drop_task(key, task);
                    self.executor.wake(woken);
                    resume_unwind(panic);
                }
            }
        }
    }

    /// Drops a task with the loop current, so that its futures close their handles.
    fn drop_task(&mut self, key: Key, task: Task) {
        self.executor.remove(key);
        current::enter(self, || drop(task));
    }

    fn run_close_callbacks(&mut self) {
        if self.closing.is_empty() {
            return;
        }
        // Callbacks may close more handles; those run in the next tick, as in libuv.
        for on_close in std::mem::take(&mut self.closing) {
            on_close(self);
            self.stats.close_callbacks += 1;
        }
    }
}
