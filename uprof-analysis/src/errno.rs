//! Names of the `errno` values `epoll_ctl` returns.

/// The errors `epoll_ctl(2)` documents.
const NAMES: [(i32, &str); 8] = [
    (libc::EBADF, "EBADF"),
    (libc::EEXIST, "EEXIST"),
    (libc::EINVAL, "EINVAL"),
    (libc::ELOOP, "ELOOP"),
    (libc::ENOENT, "ENOENT"),
    (libc::ENOMEM, "ENOMEM"),
    (libc::ENOSPC, "ENOSPC"),
    (libc::EPERM, "EPERM"),
];

/// `EEXIST` for 17; `errno N` for a value `epoll_ctl` does not document.
pub fn name(errno: i32) -> String {
    match NAMES.iter().find(|(value, _)| *value == errno) {
        Some((_, name)) => (*name).to_owned(),
        None => format!("errno {errno}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_known_and_unknown_values() {
        assert_eq!(super::name(libc::EEXIST), "EEXIST");
        assert_eq!(super::name(libc::ENOENT), "ENOENT");
        assert_eq!(super::name(1000), "errno 1000");
    }
}
