//! The records uprof's eBPF programs write into the ring buffer, and that user space stores in a
//! record file unchanged. Every record starts with a [`Header`]; `Header::len` is the size of the
//! whole record, so a stream of records can be walked without knowing every kind.
//!
//! Records are plain `#[repr(C)]` structs with explicit padding: the kernel side fills them in
//! place, the user side reads them back with [`Record::parse`] (no unsafe casts of unaligned
//! bytes, every length checked).
//!
//! Also shared by both sides: the vocabulary of the records ([`WaitSyscall`], [`FdKind`]), the
//! probes and their programs' names ([`probes`]), and the facts of the architecture
//! ([`arch`]).
#![no_std]

mod aggregate;
pub mod arch;
pub mod probes;
mod records;
mod vocab;

pub use aggregate::*;
pub use arch::EPOLL_EVENT_SIZE;
pub use probes::{ProbeKind, Tier};
pub use records::*;
pub use vocab::*;
