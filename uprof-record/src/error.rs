//! Errors of writing and opening record files. Each message is one sentence naming the file.
//! Damage found while reading records is not an error but a [`crate::Damage`]: the records
//! before it are good.
//!
//! An error that wraps another returns it from `source()` and leaves it out of its own message:
//! printing the chain (`anyhow`'s `{:#}`) then names the cause once, not twice.
use std::fmt;
use std::io;
use std::path::PathBuf;

use uprof_common::ParseError;

use crate::format::{FORMAT_VERSION, OLDEST_READABLE_VERSION};

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

    #[error("{} is {kind}, not a record file (uprof reads only regular files)", path.display())]
    NotAFile { path: PathBuf, kind: FileKind },

    #[error("{} is not a uprof record file (it does not start with \"UPROFREC\")", path.display())]
    NotARecordFile { path: PathBuf },

    #[error(
        "{} uses record format version {version}, but this uprof reads only versions \
         {OLDEST_READABLE_VERSION} to {FORMAT_VERSION}{}",
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

/// What a path that is not a regular file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Directory,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    /// Anything else that is not a regular file.
    Other,
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Directory => "a directory",
            FileKind::Fifo => "a FIFO (named pipe)",
            FileKind::Socket => "a socket",
            FileKind::CharDevice => "a character device",
            FileKind::BlockDevice => "a block device",
            FileKind::Other => "not a regular file",
        })
    }
}

/// Why [`crate::Writer::push`] refused bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecordProblem {
    #[error("its header says {header_len} bytes but {slice_len} were given")]
    LengthMismatch { header_len: usize, slice_len: usize },
    #[error("{0}")]
    Invalid(ParseError),
}

/// Characters of text from a file (such as a JSON parser's message, which quotes the input)
/// that a message shows at most.
pub(crate) const MAX_QUOTED_CHARS: usize = 200;

/// `text`, which may come from a file, made safe to put in a message: control characters
/// escaped (`\u{1b}`, `\n`), so that it cannot drive a terminal or break a line, and cut to
/// [`MAX_QUOTED_CHARS`] characters, ending in `...` when cut.
pub(crate) fn quoted_from_file(text: &str) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == MAX_QUOTED_CHARS {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
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

    #[test]
    fn quoted_text_is_cut_and_has_no_control_characters() {
        assert_eq!(quoted_from_file("plain"), "plain");
        assert_eq!(
            quoted_from_file("a\x1b]0;PWN\x07\nb"),
            "a\\u{1b}]0;PWN\\u{7}\\nb"
        );
        let long = "é".repeat(10 * MAX_QUOTED_CHARS);
        let quoted = quoted_from_file(&long);
        assert_eq!(quoted, format!("{}...", "é".repeat(MAX_QUOTED_CHARS)));
        assert_eq!(
            quoted_from_file(&long[..2 * MAX_QUOTED_CHARS]),
            long[..2 * MAX_QUOTED_CHARS]
        );
    }
}
