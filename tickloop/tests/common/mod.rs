//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::os::fd::{FromRawFd, OwnedFd};

/// Expands each listed `fn name(kind: BackendKind)` into one `#[test]` per backend, in modules
/// named after the backends (`epoll::name`, `epoll_et::name`, `poll::name`, `select::name`).
/// Attributes before a name (say `#[cfg_attr(miri, ignore = "why")]`) go on each of its tests.
#[macro_export]
macro_rules! per_backend {
    ($($(#[$attr:meta])* $test:ident),* $(,)?) => {
        $crate::per_backend!(@module epoll, Epoll, [], $($(#[$attr])* $test),*);
        $crate::per_backend!(@module epoll_et, EpollEdge, [], $($(#[$attr])* $test),*);
        $crate::per_backend!(@module poll, Poll, [], $($(#[$attr])* $test),*);
        $crate::per_backend!(
            @module select, Select,
            // A test that is ignored under Miri anyway gets `ignore` twice.
            [
                #[cfg_attr(miri, ignore = "Miri does not emulate select(2)")]
                #[allow(unused_attributes)]
            ],
            $($(#[$attr])* $test),*
        );
    };
    // The backend's attributes travel as one bracketed token tree, so that they can be
    // repeated for every test.
    (@module $module:ident, $kind:ident, $backend_attrs:tt, $($(#[$attr:meta])* $test:ident),*) => {
        mod $module {
            $($crate::per_backend!(@test $kind, $backend_attrs, $(#[$attr])* $test);)*
        }
    };
    (@test $kind:ident, [$(#[$backend_attr:meta])*], $(#[$attr:meta])* $test:ident) => {
        #[test]
        $(#[$backend_attr])*
        $(#[$attr])*
        fn $test() {
            super::$test(tickloop::BackendKind::$kind)
        }
    };
}

/// A non-blocking pipe: (read end, write end).
pub fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: fds has room for two descriptors, which we then own.
    unsafe {
        assert_eq!(
            libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC),
            0
        );
        (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
    }
}

/// A non-blocking eventfd.
pub fn eventfd() -> OwnedFd {
    // SAFETY: plain syscall; we own the result.
    unsafe {
        let fd = libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC);
        assert!(fd >= 0);
        OwnedFd::from_raw_fd(fd)
    }
}

/// Raises the soft (and if needed hard) RLIMIT_NOFILE to at least `wanted`.
pub fn raise_fd_limit(wanted: u64) {
    // SAFETY: getrlimit/setrlimit with a live struct.
    unsafe {
        let mut limit = std::mem::zeroed::<libc::rlimit>();
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        if limit.rlim_cur >= wanted {
            return;
        }
        limit.rlim_cur = wanted;
        limit.rlim_max = limit.rlim_max.max(wanted);
        assert_eq!(
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit),
            0,
            "raising RLIMIT_NOFILE to {wanted}: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Open descriptors of this process.
pub fn open_fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}
