//! uprof's record file: the records of one recording session, with a self-describing header.
//!
//! The file is a prelude (magic and format version) followed by CRC-checked chunks: a `HEAD`
//! chunk describing the session, `EVTS` chunks of records as the eBPF programs produced them,
//! and, if the recorder finished, an `END ` chunk; each chunk carries its index in the file, so
//! a missing or moved chunk is caught. [`Writer`] holds at most one chunk in memory
//! and writes each with a single write, so a recording can run for as long as the disk allows
//! and a file cut short by a crash reads up to its last complete chunk. [`Output`] opens the file
//! under a temporary name that [`Writer::publish`] renames into place, so a recording that
//! never starts leaves an existing file at its path untouched. [`Reader`] streams the
//! records chunk by chunk and reports the first damaged chunk as a [`Damage`], and
//! [`ReadSummary::completeness`] says whether the file was whole. The byte-level
//! layout and the versioning rules are in `docs/record-format.md`.

mod chunks;
mod error;
pub mod format;
mod output;
mod reader;
mod session;
mod writer;

pub use error::{Error, FileKind, RecordProblem, Result};
pub use format::FORMAT_VERSION;
pub use output::{FILE_MODE, Output};
pub use reader::{ByteRange, Completeness, Damage, DamageKind, PartialReason, ReadSummary, Reader};
pub use session::{ProbeInfo, SessionEnd, SessionHeader, Target};
pub use writer::Writer;

#[cfg(test)]
fn test_header() -> SessionHeader {
    SessionHeader {
        format_version: FORMAT_VERSION,
        uprof_version: "0.1.0".into(),
        kernel_release: "6.8.0".into(),
        hostname: "test".into(),
        probes: Vec::new(),
        tier: uprof_common::Tier::Syscall,
        wakeups: false,
        clock: "CLOCK_MONOTONIC".into(),
        boot_offset_ns: 1,
        start_ts: 2,
        target: Target {
            command: None,
            pids: vec![1],
        },
    }
}
