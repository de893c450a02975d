//! The kernel side of uprof, seen from user space: checks the machine, loads and attaches the
//! eBPF programs, chooses which processes are traced, and hands out the ring buffer the
//! records arrive in. It knows nothing of files or reports.
mod btf;
pub mod clock;
pub mod doctor;
pub mod message;
pub mod preflight;
mod probes;
pub mod procfs;
mod tier;
mod tracefs;
mod tracer;

pub use probes::{ProbeStatus, SyscallHooks};
pub use tier::Tier;
pub use tracer::{Tracer, TracerOptions};
