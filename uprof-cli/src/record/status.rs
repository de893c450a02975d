//! The one-line live status shown on a terminal while recording.
use std::{
    io::{IsTerminal as _, Write as _},
    time::{Duration, Instant},
};

pub struct StatusLine {
    enabled: bool,
    started: Instant,
    shown: bool,
}

impl StatusLine {
    pub fn new() -> StatusLine {
        StatusLine {
            enabled: std::io::stderr().is_terminal(),
            started: Instant::now(),
            shown: false,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn update(&mut self, records: u64, lost: u64) {
        if !self.enabled {
            return;
        }
        let lost = if lost > 0 {
            format!("\x1b[1;31m{lost} lost\x1b[0m")
        } else {
            "0 lost".into()
        };
        eprint!(
            "\r\x1b[Kuprof: recording {:.1}s, {records} records, {lost} (Ctrl-C to stop)",
            self.elapsed().as_secs_f64()
        );
        let _ = std::io::stderr().flush();
        self.shown = true;
    }

    pub fn clear(&mut self) {
        if self.shown {
            eprint!("\r\x1b[K");
            self.shown = false;
        }
    }
}
