//! Errors of writing and opening record files. Each message is one sentence naming the file.
//! Damage found while reading records is not an error but a [`crate::Damage`]: the records
//! before it are good.
//!
//! An error that wraps another returns it from `source()` and leaves it out of its own message:
//! printing the chain (`anyhow`'s `{:#}`) then names the cause once, not twice.
use std::io;
use std::path::PathBuf;

use uprof_common::ParseError;

use crate::FORMAT_VERSION;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot {action} record file {}", path.display())]
    Io {
        path: PathBuf,
        /// What was being done, e.g. "create", "write to".
        action: &'static str,
        source: io::Error,
    },

    #[error("{} is not a uprof record file (it does not start with \"UPROFREC\")", path.display())]
    NotARecordFile { path: PathBuf },

    #[error(
        "{} uses record format version {version}, but this uprof reads only version {FORMAT_VERSION}{}",
        path.display(),
        if *version > FORMAT_VERSION { " (it was written by a newer uprof)" } else { "" }
    )]
    UnsupportedVersion { path: PathBuf, version: u16 },

    #[error("record file {} has a damaged session header: {reason}", path.display())]
    BadHeader { path: PathBuf, reason: String },

    #[error("cannot add a record to {}: {reason}", path.display())]
    BadRecord {
        path: PathBuf,
        reason: RecordProblem,
    },
}

/// Why [`crate::Writer::push`] refused bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecordProblem {
    #[error("its header says {header_len} bytes but {slice_len} were given")]
    LengthMismatch { header_len: usize, slice_len: usize },
    #[error("{0}")]
    Invalid(ParseError),
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    /// The message and its causes, joined as `anyhow` prints them with `{:#}`.
    fn chain(err: &Error) -> String {
        let mut text = err.to_string();
        let mut cause = err.source();
        while let Some(c) = cause {
            text = format!("{text}: {c}");
            cause = c.source();
        }
        text
    }

    #[test]
    fn a_wrapped_cause_is_named_once() {
        let err = Error::Io {
            path: "/nowhere/f.uprof".into(),
            action: "create",
            source: io::Error::from_raw_os_error(libc::ENOENT),
        };
        assert_eq!(
            chain(&err),
            "cannot create record file /nowhere/f.uprof: No such file or directory (os error 2)"
        );
    }
}
