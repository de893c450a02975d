//! Worker threads that run blocking work off the loop (libuv's threadpool).
//!
//! Each finished job pushes its result onto a shared completion list and signals the loop's
//! eventfd; the loop drains the list in its completion phase and runs the `after` callbacks on
//! the loop thread.

use std::any::Any;
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::wake::EventFd;

/// The outcome of one job: its result, or the payload of its panic.
pub(crate) type JobOutput = std::thread::Result<Box<dyn Any + Send>>;
pub(crate) type Job = Box<dyn FnOnce() -> Box<dyn Any + Send> + Send>;

struct Queue {
    jobs: VecDeque<(u64, Job)>,
    shutting_down: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    job_ready: Condvar,
    completed: Mutex<Vec<(u64, JobOutput)>>,
    loop_wake: Arc<EventFd>,
}

pub(crate) struct ThreadPool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

/// Locks a mutex even if a thread panicked while holding it: jobs run outside the locks, so
/// the protected lists are always consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ThreadPool {
    pub(crate) fn new(threads: usize, loop_wake: Arc<EventFd>) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                shutting_down: false,
            }),
            job_ready: Condvar::new(),
            completed: Mutex::new(Vec::new()),
            loop_wake,
        });
        let workers = (0..threads.max(1))
            .map(|i| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("tickloop-worker-{i}"))
                    .spawn(move || work(&shared))
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(ThreadPool { shared, workers })
    }

    pub(crate) fn submit(&self, id: u64, job: Job) {
        lock(&self.shared.queue).jobs.push_back((id, job));
        self.shared.job_ready.notify_one();
    }

    /// Everything finished since the last call.
    pub(crate) fn take_completed(&self) -> Vec<(u64, JobOutput)> {
        std::mem::take(&mut *lock(&self.shared.completed))
    }
}

fn work(shared: &Shared) {
    loop {
        let (id, job) = {
            let mut queue = lock(&shared.queue);
            loop {
                if let Some(next) = queue.jobs.pop_front() {
                    break next;
                }
                if queue.shutting_down {
                    return;
                }
                queue = shared
                    .job_ready
                    .wait(queue)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
        };
        let output = catch_unwind(AssertUnwindSafe(job));
        lock(&shared.completed).push((id, output));
        shared.loop_wake.signal();
    }
}

impl Drop for ThreadPool {
    /// Lets queued jobs finish, then joins the workers.
    fn drop(&mut self) {
        lock(&self.shared.queue).shutting_down = true;
        self.shared.job_ready.notify_all();
        for worker in self.workers.drain(..) {
            // A worker can only have panicked outside a job, which `work` never does.
            let _ = worker.join();
        }
    }
}
