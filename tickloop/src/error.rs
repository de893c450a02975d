//! The loop's error type.

use std::io;

/// Everything that can go wrong in the loop, with the operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum LoopError {
    /// A system call failed.
    #[error("{op} failed: {source}")]
    Io {
        /// What the loop was doing, e.g. `"epoll_ctl(ADD, fd 7)"`.
        op: String,
        /// The error the kernel returned.
        #[source]
        source: io::Error,
    },
    /// `select(2)` can only watch descriptors below `FD_SETSIZE`.
    #[error(
        "fd {fd} is beyond the select backend's limit: select(2) watches only fds below \
         FD_SETSIZE ({limit}); use the epoll or poll backend for more descriptors"
    )]
    FdBeyondSelectLimit {
        /// The descriptor that was refused.
        fd: i32,
        /// `FD_SETSIZE`.
        limit: usize,
    },
    /// The handle was closed (or never belonged to this loop).
    #[error("the handle is closed or belongs to another loop")]
    StaleHandle,
    /// A backend name that [`crate::BackendKind`]'s `FromStr` does not know.
    #[error("unknown backend {0:?}: expected one of epoll, epoll-et, poll, select")]
    UnknownBackend(String),
}

/// `Result` with [`LoopError`].
pub type Result<T, E = LoopError> = std::result::Result<T, E>;

/// Wraps the current `errno` (or the given error) with the operation that produced it.
pub(crate) fn io_error(op: impl Into<String>, source: io::Error) -> LoopError {
    LoopError::Io {
        op: op.into(),
        source,
    }
}

/// Turns a `-1` return of a libc call into an error carrying `errno`.
pub(crate) fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}
