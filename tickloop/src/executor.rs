//! The task store of the loop's small executor: `async` tasks, and the wakers that queue them
//! for the loop's task phase through its eventfd.
//!
//! The task phase itself is [`EventLoop`](crate::EventLoop)'s: it takes each woken task out
//! of here, polls it with the loop current (see [`crate::current`]) and puts it back or
//! drops it.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Wake, Waker};

use crate::current;
use crate::slab::{Key, Slab};
use crate::wake::EventFd;

pub(crate) type Task = Pin<Box<dyn Future<Output = ()>>>;

/// Tokens of tasks woken since the last task phase; shared with every task's waker.
type WokenList = Arc<Mutex<Vec<u64>>>;

pub(crate) struct Executor {
    /// `None` while the task is being polled.
    tasks: Slab<Option<Task>>,
    woken: WokenList,
    loop_wake: Arc<EventFd>,
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
        queue(&self.woken, &self.loop_wake, [self.token]);
    }
}

/// Queues tasks for the next task phase and makes the loop's poll return.
fn queue(woken: &WokenList, loop_wake: &EventFd, tokens: impl IntoIterator<Item = u64>) {
    woken
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .extend(tokens);
    loop_wake.signal();
}

impl Executor {
    pub(crate) fn new(loop_wake: Arc<EventFd>) -> Self {
        Executor {
            tasks: Slab::new(),
            woken: Arc::default(),
            loop_wake,
        }
    }

    /// Unfinished tasks; each keeps the loop alive.
    pub(crate) fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Stores a task and schedules its first poll.
    pub(crate) fn spawn(&mut self, task: Task) {
        let key = self.tasks.insert(Some(task));
        self.wake([key.to_token()]);
    }

    /// Queues tasks again, for the next task phase.
    pub(crate) fn wake(&self, tokens: impl IntoIterator<Item = u64>) {
        queue(&self.woken, &self.loop_wake, tokens);
    }

    /// Tokens of the tasks woken since the last call.
    pub(crate) fn take_woken(&self) -> Vec<u64> {
        std::mem::take(&mut *self.woken.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Takes a woken task out to be polled, with the waker that queues it again; `None` if it
    /// finished already (or was woken twice).
    pub(crate) fn take(&mut self, token: u64) -> Option<(Key, Task, Waker)> {
        let key = Key::from_token(token);
        let task = self.tasks.get_mut(key)?.take()?;
        let waker = Waker::from(Arc::new(TaskWaker {
            token,
            woken: Arc::clone(&self.woken),
            loop_wake: Arc::clone(&self.loop_wake),
        }));
        Some((key, task, waker))
    }

    /// Puts back a task that is still pending.
    pub(crate) fn put_back(&mut self, key: Key, task: Task) {
        if let Some(slot) = self.tasks.get_mut(key) {
            *slot = Some(task);
        }
    }

    /// Forgets a task that finished (or panicked); the caller drops it.
    pub(crate) fn remove(&mut self, key: Key) {
        self.tasks.remove(key);
    }
}

impl Drop for Executor {
    /// Unfinished tasks are dropped with no loop current, so that their futures leave alone
    /// the handles, which are being dropped with their loop, even when this loop is dropped
    /// inside a task of another loop.
    fn drop(&mut self) {
        let tasks = std::mem::replace(&mut self.tasks, Slab::new());
        current::outside(|| drop(tasks));
    }
}
