//! A libuv-style event loop for Linux with epoll, poll and select backends.
//!
//! [`EventLoop`] owns a queue of handles (I/O watchers and timers) and a watcher queue of
//! pending interest changes. Every tick it updates its time, runs due timers, applies the
//! watcher queue to the backend in one batch, polls with a timeout derived from the nearest
//! timer, dispatches ready watchers, runs completions of thread-pool work, polls woken
//! `async` tasks ([`EventLoop::spawn`], [`task`]) and then runs close callbacks. The backends
//! issue the raw `epoll_wait`, `poll` and `select` system calls (`epoll_pwait`, `ppoll` and
//! `pselect6` on aarch64, which lacks the former), so a tracer sees exactly those.
//!
//! Modules: [`backend`] (the [`Backend`] trait and its epoll/poll/select implementations),
//! the watcher registry and queue, timers, the waker, the thread pool, the task executor with
//! its futures in [`task`], and [`signal`] for turning signals into a readable descriptor.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::net::{TcpListener, TcpStream};
//! use std::os::fd::AsRawFd;
//! use tickloop::{BackendKind, EventLoop, Interest, RunMode};
//!
//! let listener = TcpListener::bind("127.0.0.1:0").unwrap();
//! listener.set_nonblocking(true).unwrap();
//! let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
//!
//! let mut lp = EventLoop::new("epoll".parse()?)?;
//! let fd = listener.as_raw_fd();
//! lp.watch(fd, Interest::READABLE, move |lp, handle, _ready| {
//!     let (mut conn, _) = listener.accept().unwrap();
//!     conn.write_all(b"hello").unwrap();
//!     lp.close(handle).unwrap();
//! })?;
//! lp.run(RunMode::Default)?;
//! let mut greeting = String::new();
//! client.read_to_string(&mut greeting).unwrap();
//! assert_eq!(greeting, "hello");
//! # Ok::<(), tickloop::LoopError>(())
//! ```

pub mod backend;
mod current;
mod error;
mod event_loop;
mod executor;
mod interest;
mod registry;
pub mod signal;
mod slab;
mod stats;
pub mod task;
mod thread_pool;
mod timer;
mod wake;

pub use backend::{Backend, BackendKind, ReadyEvent, SELECT_FD_LIMIT};
pub use error::{LoopError, Result};
pub use event_loop::{DEFAULT_POOL_THREADS, EventLoop, IoHandle, LoopConfig, RunMode, TimerHandle};
pub use interest::{Interest, Readiness};
pub use stats::LoopStats;
pub use wake::LoopWaker;
