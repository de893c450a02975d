//! An error and its causes on one line, each cause named once.

/// `e` and its causes joined with ": ", as anyhow's `{:#}` prints them, leaving out a cause
/// whose message the text already holds: some error types (aya's `ProgramError::LoadError`,
/// for one) put their source in their own message *and* return it from `source()`.
pub fn chain(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let message = cause.to_string();
        if text.contains(&message) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&message);
    }
    text
}

#[cfg(test)]
mod tests {
    use std::{fmt, io};

    use anyhow::Context as _;

    use super::*;

    /// Like aya's `LoadError`: its message holds its source, which it also returns.
    #[derive(Debug)]
    struct Refused(io::Error);

    impl fmt::Display for Refused {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "the syscall returned {}. Verifier output: none", self.0)
        }
    }

    impl std::error::Error for Refused {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let e = Err::<(), _>(Refused(io::Error::from_raw_os_error(libc::EPERM)))
            .context("cannot load")
            .unwrap_err();
        assert_eq!(
            chain(&e),
            "cannot load: the syscall returned Operation not permitted (os error 1). \
             Verifier output: none"
        );
    }

    #[test]
    fn distinct_causes_are_all_named() {
        let e = Err::<(), _>(io::Error::from_raw_os_error(libc::ENOENT))
            .context("cannot open f")
            .context("cannot start")
            .unwrap_err();
        assert_eq!(
            chain(&e),
            "cannot start: cannot open f: No such file or directory (os error 2)"
        );
    }
}
