//! The async layer: tasks driven by the loop's watchers and timers, per backend.

mod common;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tickloop::{BackendKind, EventLoop, RunMode, task};

/// Sleeping tasks finish in the order of their deadlines, not of spawning.
fn sleeping_tasks_finish_by_deadline(kind: BackendKind) {
    let mut lp = EventLoop::new(kind).unwrap();
    let order = Rc::new(RefCell::new(Vec::new()));
    for millis in [30u64, 10, 20] {
        let order = Rc::clone(&order);
        lp.spawn(async move {
            task::sleep(Duration::from_millis(millis)).await;
            order.borrow_mut().push(millis);
        });
    }
    let started = Instant::now();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*order.borrow(), [10, 20, 30]);
    assert!(started.elapsed() >= Duration::from_millis(30));
}

/// A ping-pong between two tasks over a socket pair, awaiting readiness each round.
fn tasks_ping_pong_over_a_socket(kind: BackendKind) {
    let mut lp = EventLoop::new(kind).unwrap();
    let (mut left, mut right) = UnixStream::pair().unwrap();
    left.set_nonblocking(true).unwrap();
    right.set_nonblocking(true).unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    let left_log = Rc::clone(&log);
    lp.spawn(async move {
        for round in 0..3u8 {
            task::writable(left.as_raw_fd()).await.unwrap();
            left.write_all(&[round]).unwrap();
            task::readable(left.as_raw_fd()).await.unwrap();
            let mut reply = [0u8; 1];
            left.read_exact(&mut reply).unwrap();
            left_log.borrow_mut().push(reply[0]);
        }
    });
    lp.spawn(async move {
        for _ in 0..3 {
            task::readable(right.as_raw_fd()).await.unwrap();
            let mut ball = [0u8; 1];
            right.read_exact(&mut ball).unwrap();
            right.write_all(&[ball[0] + 100]).unwrap();
        }
    });
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*log.borrow(), [100, 101, 102]);
}

/// A task whose waker is called from another thread is polled again and finishes.
fn task_woken_from_another_thread(kind: BackendKind) {
    let mut lp = EventLoop::new(kind).unwrap();
    let result = Rc::new(RefCell::new(None));
    let slot = Rc::clone(&result);
    let (tx, rx) = std::sync::mpsc::channel::<u32>();
    let mut sender = Some(tx);
    lp.spawn(async move {
        let value = std::future::poll_fn(|cx| {
            if let Ok(v) = rx.try_recv() {
                return std::task::Poll::Ready(v);
            }
            if let Some(tx) = sender.take() {
                let waker = cx.waker().clone();
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(10));
                    tx.send(7).unwrap();
                    waker.wake();
                });
            }
            std::task::Poll::Pending
        })
        .await;
        *slot.borrow_mut() = Some(value);
    });
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*result.borrow(), Some(7));
}

/// Polls a future once, so it registers its watcher or timer, and goes on whatever it says.
async fn poll_once<F: Future>(future: Pin<&mut F>) {
    let mut future = Some(future);
    std::future::poll_fn(|cx| {
        let _ = future.take().expect("polled once").poll(cx);
        Poll::Ready(())
    })
    .await
}

/// Polls the future it holds, then panics: the future is dropped with the task afterwards, not
/// while unwinding (as an `async` block's locals would be).
struct PollThenPanic<F>(Pin<Box<F>>);

impl<F: Future> Future for PollThenPanic<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let _ = self.0.as_mut().poll(cx);
        panic!("task failed");
    }
}

/// A task that panics leaves the loop as if the task had finished: the panic reaches `run`'s
/// caller, the timer and watcher its futures held are released, the tasks woken after it in
/// the same phase still run, and no loop is current any more.
fn a_panicking_task_is_dropped_cleanly(kind: BackendKind) {
    let mut lp = EventLoop::new(kind).unwrap();
    let (ours, _theirs) = UnixStream::pair().unwrap();
    lp.spawn(PollThenPanic(Box::pin(async move {
        let sleep = pin!(task::sleep(Duration::from_secs(60)));
        poll_once(sleep).await;
        let readable = pin!(task::readable(ours.as_raw_fd()));
        poll_once(readable).await;
        std::future::pending::<()>().await;
    })));
    let after_it = Rc::new(Cell::new(false));
    let flag = Rc::clone(&after_it);
    lp.spawn(async move { flag.set(true) });

    let panic = catch_unwind(AssertUnwindSafe(|| lp.run(RunMode::Default))).unwrap_err();
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"task failed"));
    let outside = catch_unwind(|| {
        let mut sleep = pin!(task::sleep(Duration::from_millis(1)));
        let _ = sleep.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    });
    assert!(
        outside.is_err(),
        "a future outside any task reached the loop"
    );

    let alive = lp.run(RunMode::NoWait).unwrap();
    assert!(after_it.get(), "the task woken after the panicking one ran");
    assert!(
        !alive,
        "the panicked task, its timer and its watcher are gone"
    );
}

/// Dropping a loop inside a task of another loop leaves the outer loop's handles alone: the
/// inner loop's unfinished futures must not take the outer loop for theirs.
fn dropping_a_loop_inside_a_task_leaves_the_running_loop_alone(kind: BackendKind) {
    let mut outer = EventLoop::new(kind).unwrap();
    let fired = Rc::new(Cell::new(false));
    let flag = Rc::clone(&fired);
    // The outer loop's first timer has the same key as the inner loop's first timer.
    outer.start_timer(Duration::from_millis(5), move |_, _| flag.set(true));
    outer.spawn(async move {
        let mut inner = EventLoop::new(kind).unwrap();
        inner.spawn(task::sleep(Duration::from_secs(60)));
        assert!(inner.run(RunMode::NoWait).unwrap());
        drop(inner);
    });
    outer.run(RunMode::Default).unwrap();
    assert!(
        fired.get(),
        "the outer loop's timer was stopped by the inner loop's future"
    );
}

crate::per_backend!(
    sleeping_tasks_finish_by_deadline,
    tasks_ping_pong_over_a_socket,
    task_woken_from_another_thread,
    a_panicking_task_is_dropped_cleanly,
    dropping_a_loop_inside_a_task_leaves_the_running_loop_alone,
);

#[test]
#[should_panic(expected = "inside a task spawned on an EventLoop")]
fn futures_outside_a_task_panic() {
    let waker = std::task::Waker::noop();
    let mut sleep = std::pin::pin!(task::sleep(Duration::from_millis(1)));
    let _ = sleep
        .as_mut()
        .poll(&mut std::task::Context::from_waker(waker));
}
