//! What a watcher wants ([`Interest`]) and what the backend reported ([`Readiness`]).

use std::fmt;
use std::ops::{BitOr, BitOrAssign};

/// The directions a watcher wants to be told about.
///
/// [`Interest::NONE`] pauses a watcher: it stays open but is removed from the backend and no
/// longer keeps the loop alive.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Interest(u8);

impl Interest {
    /// Not interested in anything (a paused watcher).
    pub const NONE: Interest = Interest(0);
    /// Data can be read, or a peer hung up, or a listener has a connection to accept.
    pub const READABLE: Interest = Interest(1);
    /// Data can be written without blocking.
    pub const WRITABLE: Interest = Interest(2);
    /// Both directions.
    pub const BOTH: Interest = Interest(3);

    /// True when no direction is wanted.
    pub const fn is_none(self) -> bool {
        self.0 == 0
    }
    /// True when [`Interest::READABLE`] is included.
    pub const fn is_readable(self) -> bool {
        self.0 & 1 != 0
    }
    /// True when [`Interest::WRITABLE`] is included.
    pub const fn is_writable(self) -> bool {
        self.0 & 2 != 0
    }
}

impl BitOr for Interest {
    type Output = Interest;
    fn bitor(self, rhs: Interest) -> Interest {
        Interest(self.0 | rhs.0)
    }
}

impl fmt::Debug for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.is_readable(), self.is_writable()) {
            (false, false) => f.write_str("NONE"),
            (true, false) => f.write_str("READABLE"),
            (false, true) => f.write_str("WRITABLE"),
            (true, true) => f.write_str("READABLE | WRITABLE"),
        }
    }
}

/// What the backend reported for one descriptor in one poll.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Readiness(u8);

impl Readiness {
    /// Nothing.
    pub const EMPTY: Readiness = Readiness(0);
    /// Readable (`EPOLLIN`, `POLLIN`, or set in select's read set).
    pub const READABLE: Readiness = Readiness(1);
    /// Writable (`EPOLLOUT`, `POLLOUT`, or set in select's write set).
    pub const WRITABLE: Readiness = Readiness(2);
    /// The peer hung up (`EPOLLHUP`/`EPOLLRDHUP`, `POLLHUP`).
    pub const HANGUP: Readiness = Readiness(4);
    /// An error is pending on the descriptor (`EPOLLERR`, `POLLERR`, `POLLNVAL`).
    pub const ERROR: Readiness = Readiness(8);

    /// True when the descriptor can be read (or a read would report EOF/error).
    pub const fn is_readable(self) -> bool {
        self.0 & 1 != 0
    }
    /// True when the descriptor can be written.
    pub const fn is_writable(self) -> bool {
        self.0 & 2 != 0
    }
    /// True when the peer hung up.
    pub const fn is_hangup(self) -> bool {
        self.0 & 4 != 0
    }
    /// True when an error is pending.
    pub const fn is_error(self) -> bool {
        self.0 & 8 != 0
    }
    /// True when nothing was reported.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Keeps the directions the watcher asked for; a hang-up or error is reported as the
    /// wanted directions too (as libuv does), so a callback that only reads still sees it.
    pub(crate) fn filtered_by(self, interest: Interest) -> Readiness {
        let wanted = u8::from(interest.is_readable()) | (u8::from(interest.is_writable()) << 1);
        let trouble = self.0 & (Self::HANGUP.0 | Self::ERROR.0);
        let directions = if trouble != 0 {
            wanted
        } else {
            self.0 & wanted
        };
        if directions == 0 {
            Readiness::EMPTY
        } else {
            Readiness(directions | trouble)
        }
    }
}

impl BitOr for Readiness {
    type Output = Readiness;
    fn bitor(self, rhs: Readiness) -> Readiness {
        Readiness(self.0 | rhs.0)
    }
}

impl BitOrAssign for Readiness {
    fn bitor_assign(&mut self, rhs: Readiness) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Self::READABLE, "READABLE"),
            (Self::WRITABLE, "WRITABLE"),
            (Self::HANGUP, "HANGUP"),
            (Self::ERROR, "ERROR"),
        ];
        let set: Vec<&str> = names
            .iter()
            .filter(|(bit, _)| self.0 & bit.0 != 0)
            .map(|(_, name)| *name)
            .collect();
        if set.is_empty() {
            f.write_str("EMPTY")
        } else {
            f.write_str(&set.join(" | "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_keeps_only_wanted_directions() {
        let both = Readiness::READABLE | Readiness::WRITABLE;
        assert_eq!(both.filtered_by(Interest::READABLE), Readiness::READABLE);
        assert_eq!(both.filtered_by(Interest::NONE), Readiness::EMPTY);
        assert_eq!(
            Readiness::WRITABLE.filtered_by(Interest::READABLE),
            Readiness::EMPTY
        );
    }

    #[test]
    fn hangup_is_reported_as_the_wanted_direction() {
        let got = Readiness::HANGUP.filtered_by(Interest::READABLE);
        assert_eq!(got, Readiness::READABLE | Readiness::HANGUP);
        assert_eq!(
            Readiness::ERROR.filtered_by(Interest::NONE),
            Readiness::EMPTY
        );
    }
}
