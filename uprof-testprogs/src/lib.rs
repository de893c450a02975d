//! Programs with exactly known epoll behaviour: uprof's demo target (`uprof-demo`) and the
//! subjects of its integration tests (`epoll-scenario`).
//!
//! Every counted syscall (`epoll_create1`, `epoll_ctl`, the epoll and poll wait families,
//! `close`) is issued raw through [`sys`] and counted by the calling thread's
//! [`caller::Caller`] as it is made, into the process's [`books::Books`]; the programs print
//! the resulting [`report::ProcessReport`] as JSON, for comparison with uprof's report.
//!
//! The binaries use `#![no_main]`: Rust's runtime start-up would otherwise `poll` the standard
//! fds before `main`, an uncounted wait that uprof would see.

#[cfg(not(target_arch = "x86_64"))]
compile_error!(
    "uprof-testprogs makes x86_64 syscalls (epoll_wait, poll, select) other architectures lack"
);

pub mod attach;
pub mod books;
pub mod caller;
pub mod demo;
pub mod fds;
pub mod proc_task;
pub mod report;
pub mod scenarios;
pub mod sys;
pub mod trigger;
