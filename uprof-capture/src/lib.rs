//! One uprof recording, without the command line: the targets (running processes, or a command
//! forked and held before `exec` until it is traced), the ring buffer drained into a record file
//! or straight into the analysis, what user space adds along the way (fd kinds from `/proc`,
//! followed processes dropped when they exit, lost-record counts), and the end of the session
//! (waits still blocked stored as unfinished, the file's `END` chunk).
//!
//! An output made while recording (`--interval` rows, a streamed hdrlog, `uprof top`) watches
//! the records as they are stored; without a file it shares its reconstruction with the
//! end-of-recording analysis.
//!
//! The `uprof` binary loads the [`uprof_trace::Tracer`], opens the output, decides when to
//! stop (signals, `--duration`) and talks to the terminal; [`Capture`] does the rest.
mod capture;
mod launch;
mod recorder;
mod session;
mod targets;
mod watch;

pub use capture::{Capture, Destination, Finished, Progress, Stop, Target};
pub use launch::Exit;
pub use targets::{Selection, ThreadOf, processes};
