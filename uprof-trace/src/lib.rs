//! The kernel side of uprof, seen from user space: checks the machine, loads and attaches the
//! eBPF programs, chooses which processes are traced, and hands out the ring buffer the
//! records arrive in. It knows nothing of files or reports.
//!
//! Modules, each depending only on those listed before it: `attach` (one program of each kind),
//! `status` (what became of a probe), `btf`, `tracefs`, `offsets` (tracepoint fields),
//! `probes` (syscall hooks, task tracepoints), `tier`, `tracer`, `doctor`.
mod attach;
mod btf;
pub mod clock;
pub mod doctor;
mod offsets;
pub mod preflight;
mod probes;
pub mod procfs;
mod status;
mod tier;
mod tracefs;
mod tracer;

pub use probes::SyscallHooks;
pub use status::ProbeStatus;
pub use tracer::{Tracer, TracerOptions};
pub use uprof_common::{ProbeKind, Tier};
