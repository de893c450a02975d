//! The async layer: tasks driven by the loop's watchers and timers, per backend.

mod common;

use std::cell::RefCell;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

use std::future::Future;

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

crate::per_backend!(
    sleeping_tasks_finish_by_deadline,
    tasks_ping_pong_over_a_socket,
    task_woken_from_another_thread,
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
