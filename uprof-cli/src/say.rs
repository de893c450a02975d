//! Messages on stderr that cannot panic. After a hang-up (SIGHUP) the terminal refuses writes
//! (EIO), and a closed pipe refuses them too (EPIPE): `eprintln!` would then panic where uprof
//! must still finish its file.
use std::{fmt, io::Write as _};

/// Writes one line to stderr; a failure is ignored (nobody is there to read it).
pub fn line(args: fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "{args}");
}

/// `say!("...", args)`: one line on stderr, like `eprintln!` without its panic.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::say::line(format_args!($($arg)*))
    };
}
pub(crate) use say;
