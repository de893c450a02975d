//! The one-line status shown on a terminal while the programs load and while recording; on
//! anything else (a pipe, a file) nothing is shown.
use std::io::IsTerminal as _;

use crate::say;

pub struct StatusLine {
    enabled: bool,
    shown: bool,
}

impl StatusLine {
    /// A status line on stderr if it is a terminal and the line is `wanted` there.
    pub fn new(wanted: bool) -> StatusLine {
        StatusLine {
            enabled: wanted && std::io::stderr().is_terminal(),
            shown: false,
        }
    }

    /// Replaces the line with `text` (one line, no newline).
    pub fn show(&mut self, text: std::fmt::Arguments<'_>) {
        if self.enabled {
            say::partial(format_args!("\r\x1b[K{text}"));
            self.shown = true;
        }
    }

    pub fn clear(&mut self) {
        if self.shown {
            say::partial(format_args!("\r\x1b[K"));
            self.shown = false;
        }
    }
}
