//! A small executor: `async` tasks driven by the loop, woken through the loop's eventfd.
//!
//! Tasks run in the loop's task phase (after thread-pool completions). While a task is polled,
//! the loop is reachable from the futures in [`crate::task`] through a thread-local pointer,
//! which is how they register watchers and timers without being handed the loop.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Wake, Waker};

use crate::event_loop::EventLoop;
use crate::slab::{Key, Slab};
use crate::wake::EventFd;

type Task = Pin<Box<dyn Future<Output = ()>>>;

/// Tokens of tasks woken since the last task phase; shared with every task's waker.
type WokenList = Arc<Mutex<Vec<u64>>>;

/// Unfinished tasks are dropped with the loop; their futures then find no current loop and
/// leave the handles, which are being dropped too, alone.
pub(crate) struct Executor {
    /// `None` while the task is being polled.
    tasks: Slab<Option<Task>>,
    woken: WokenList,
}

struct TaskWaker {
    token: u64,
    woken: WokenList,
    loop_wake: Arc<EventFd>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(self.token);
        self.loop_wake.signal();
    }
}

impl Executor {
    pub(crate) fn new() -> Self {
        Executor {
            tasks: Slab::new(),
            woken: Arc::default(),
        }
    }

    /// Unfinished tasks; each keeps the loop alive.
    pub(crate) fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Stores a task and schedules its first poll.
    pub(crate) fn spawn(&mut self, task: Task, loop_wake: &EventFd) {
        let key = self.tasks.insert(Some(task));
        self.woken
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(key.to_token());
        loop_wake.signal();
    }

    fn take_woken(&self) -> Vec<u64> {
        std::mem::take(&mut *self.woken.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

thread_local! {
    /// The loop whose task phase is running on this thread, or null.
    static CURRENT_LOOP: Cell<*mut EventLoop> = const { Cell::new(std::ptr::null_mut()) };
}

/// Runs `f` with the loop whose task is being polled, or returns `None` outside a task.
pub(crate) fn with_current_loop<R>(f: impl FnOnce(&mut EventLoop) -> R) -> Option<R> {
    let ptr = CURRENT_LOOP.with(Cell::get);
    // SAFETY: the pointer is set only during `run_woken_tasks`, which holds `&mut EventLoop`
    // and touches nothing of the loop while a task (the only user of the pointer) runs; the
    // task itself has been taken out of the loop, so no reference into the loop is live.
    (!ptr.is_null()).then(|| f(unsafe { &mut *ptr }))
}

/// Polls every woken task once. Tasks woken while this runs are polled in the next tick.
pub(crate) fn run_woken_tasks(lp: &mut EventLoop) {
    let woken = lp.executor().take_woken();
    if woken.is_empty() {
        return;
    }
    let previous = CURRENT_LOOP.with(|c| c.replace(lp as *mut EventLoop));
    for token in woken {
        let key = Key::from_token(token);
        let Some(mut task) = lp.executor_mut().tasks.get_mut(key).and_then(Option::take) else {
            continue; // finished already, or woken twice
        };
        let waker = Waker::from(Arc::new(TaskWaker {
            token,
            woken: Arc::clone(&lp.executor().woken),
            loop_wake: lp.wake_fd(),
        }));
        let done = task
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_ready();
        if done {
            lp.executor_mut().tasks.remove(key);
            // Dropped while the loop is current, so its futures can close their handles.
            drop(task);
        } else if let Some(slot) = lp.executor_mut().tasks.get_mut(key) {
            *slot = Some(task);
        }
    }
    CURRENT_LOOP.with(|c| c.set(previous));
}
