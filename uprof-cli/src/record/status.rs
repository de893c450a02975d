//! The one-line status shown on a terminal while the programs load and while recording: an
//! indicatif spinner on stderr. On anything else (a pipe, a file) indicatif draws nothing.
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Redraws at most this often; uprof updates the line every 100 ms.
const REFRESH_HZ: u8 = 10;

pub struct StatusLine(ProgressBar);

impl StatusLine {
    /// A status line on stderr if it is a terminal and the line is `wanted` there.
    pub fn new(wanted: bool) -> StatusLine {
        let bar = if wanted {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(REFRESH_HZ))
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}").expect("a valid indicatif template"),
        );
        StatusLine(bar)
    }

    /// Replaces the line with `text` (one line).
    pub fn show(&mut self, text: String) {
        self.0.set_message(text);
    }

    /// Removes the line, so that what follows starts on a clean line.
    pub fn clear(&mut self) {
        self.0.finish_and_clear();
    }
}
