//! The strings the trace repeats, interned: sent once, at the start of the packet sequence, and
//! referred to by number (iid) in every event. Event names, argument names and the argument
//! values that come from a fixed set are known in advance; event masks (`IN|OUT`) are interned
//! as they first appear ([`Masks`]).
use rustc_hash::FxHashMap;
use uprof_common::{
    EPOLLERR, EPOLLET, EPOLLEXCLUSIVE, EPOLLHUP, EPOLLIN, EPOLLONESHOT, EPOLLOUT, EPOLLPRI,
    EPOLLRDHUP, WaitSyscall,
};

use super::trace_pb::{DebugAnnotationName, EventName, InternedData, InternedString};

/// A closed set of interned strings: the enum, its strings, and iids from 1 in declaration
/// order (after `$first` strings interned before them).
macro_rules! interned {
    ($(#[$meta:meta])* enum $name:ident after $first:expr; { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(super) enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            const ALL: &[$name] = &[$($name::$variant,)*];

            fn text(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            pub(super) fn iid(self) -> u64 {
                ($first) as u64 + self as u64 + 1
            }
        }
    };
}

interned! {
    /// Event names (slices, instants), after the names of the wait syscalls ([`wait_name`]).
    enum Name after WaitSyscall::ALL.len(); {
        /// The time between a wait's return and the thread's next wait.
        Busy = "busy",
        EpollCtl = "epoll_ctl",
        Woken = "woken",
        Ready = "ready",
        ReadyToDelivered = "ready → delivered",
        NeverDelivered = "ready, never delivered",
        Delivered = "delivered",
        /// An fd's time on an interest list.
        Registered = "registered",
        CtlMod = "EPOLL_CTL_MOD",
        CtlFailed = "epoll_ctl failed",
        Herd = "herd",
        EpollCreate = "epoll_create",
        Closed = "closed",
        Replaced = "replaced by dup2",
        ReusedByEpoll = "reused by epoll_create",
        Exit = "exit",
        Recording = "recording",
        EndOfRecording = "end of recording",
        Incomplete = "recording incomplete",
        /// A finding, at the times of its evidence.
        Finding = "finding",
    }
}

/// The event name of a wait call: its syscall's.
pub(super) fn wait_name(syscall: WaitSyscall) -> u64 {
    let index = WaitSyscall::ALL
        .iter()
        .position(|&s| s == syscall)
        .expect("ALL lists every syscall");
    index as u64 + 1
}

interned! {
    /// Argument names.
    enum Arg after 0; {
        TimeoutNs = "timeout_ns",
        Outcome = "outcome",
        Events = "events",
        Errno = "errno",
        Epfd = "epfd",
        Maxevents = "maxevents",
        Nfds = "nfds",
        RunDelayNs = "wake_to_run_ns",
        WakerPid = "waker_pid",
        WakerTid = "waker_tid",
        Tid = "tid",
        Fd = "fd",
        Generation = "generation",
        Mask = "mask",
        Data = "data",
        Op = "op",
        Source = "source",
        Coalesced = "coalesced",
        Since = "since",
        Woken = "woken_tids",
        Tier = "tier",
        Kernel = "kernel",
        Command = "command",
        Pids = "pids",
        DurationNs = "duration_ns",
        LostRecords = "lost_records",
        LateRecords = "late_records",
        UnattributedEvents = "unattributed_events",
        MalformedRecords = "malformed_records",
        Why = "why",
        Kind = "kind",
        Severity = "severity",
        Summary = "summary",
    }
}

interned! {
    /// Argument values from a fixed set.
    enum Text after 0; {
        Ready = "ready",
        Timeout = "timeout",
        Interrupted = "interrupted",
        Error = "error",
        Abandoned = "abandoned (thread exited)",
        Unfinished = "unfinished (recording ended)",
        Infinite = "infinite",
        Add = "EPOLL_CTL_ADD",
        Mod = "EPOLL_CTL_MOD",
        Del = "EPOLL_CTL_DEL",
        UnknownOp = "unknown",
        Callback = "callback",
        Socket = "socket",
        EpollCtl = "epoll_ctl",
        Snapshot = "before tracing",
    }
}

/// Everything known in advance, for the first packet of the sequence.
pub(super) fn interned_data() -> InternedData {
    let waits = WaitSyscall::ALL.iter().map(|&s| (wait_name(s), s.name()));
    let names = Name::ALL.iter().map(|n| (n.iid(), n.text()));
    InternedData {
        event_names: waits
            .chain(names)
            .map(|(iid, name)| EventName {
                iid: Some(iid),
                name: Some(name.to_owned()),
            })
            .collect(),
        debug_annotation_names: Arg::ALL
            .iter()
            .map(|a| DebugAnnotationName {
                iid: Some(a.iid()),
                name: Some(a.text().to_owned()),
            })
            .collect(),
        debug_annotation_string_values: Text::ALL
            .iter()
            .map(|t| interned_string(t.iid(), t.text()))
            .collect(),
    }
}

fn interned_string(iid: u64, text: &str) -> InternedString {
    InternedString {
        iid: Some(iid),
        str: Some(text.as_bytes().to_vec()),
    }
}

/// Event masks seen so far, interned as argument values after the [`Text`] values.
#[derive(Default)]
pub(super) struct Masks {
    iids: FxHashMap<u32, u64>,
}

/// At most this many distinct masks are interned, so that a file full of odd masks cannot
/// grow the table without bound; later ones are written out in full.
const MAX_MASKS: usize = 4096;

/// A mask's value in an event: its interned string, or the string itself.
pub(super) enum MaskValue {
    Iid(u64),
    Text(String),
}

impl Masks {
    /// The value of `mask`; a newly interned one is added to `new` (the packet's interned
    /// data) first.
    pub(super) fn value(&mut self, mask: u32, new: &mut InternedData) -> MaskValue {
        if let Some(&iid) = self.iids.get(&mask) {
            return MaskValue::Iid(iid);
        }
        let text = mask_text(mask);
        if self.iids.len() >= MAX_MASKS {
            return MaskValue::Text(text);
        }
        let iid = (Text::ALL.len() + self.iids.len() + 1) as u64;
        self.iids.insert(mask, iid);
        new.debug_annotation_string_values
            .push(interned_string(iid, &text));
        MaskValue::Iid(iid)
    }
}

/// The bits of an epoll event mask by name (`IN|OUT|ET`), unnamed ones in hex.
fn mask_text(mask: u32) -> String {
    const BITS: [(u32, &str); 9] = [
        (EPOLLIN, "IN"),
        (EPOLLPRI, "PRI"),
        (EPOLLOUT, "OUT"),
        (EPOLLERR, "ERR"),
        (EPOLLHUP, "HUP"),
        (EPOLLRDHUP, "RDHUP"),
        (EPOLLEXCLUSIVE, "EXCLUSIVE"),
        (EPOLLONESHOT, "ONESHOT"),
        (EPOLLET, "ET"),
    ];
    let mut parts: Vec<String> = BITS
        .iter()
        .filter(|(bit, _)| mask & bit != 0)
        .map(|(_, name)| (*name).to_owned())
        .collect();
    let rest = BITS.iter().fold(mask, |m, (bit, _)| m & !bit);
    if rest != 0 {
        parts.push(format!("{rest:#x}"));
    }
    if parts.is_empty() {
        "0".to_owned()
    } else {
        parts.join("|")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iids_are_distinct_within_each_table() {
        let data = interned_data();
        let mut names: Vec<u64> = data.event_names.iter().map(|n| n.iid.unwrap()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), WaitSyscall::ALL.len() + Name::ALL.len());
        assert_eq!(names.first(), Some(&1));
        let mut masks = Masks::default();
        let mut new = InternedData::default();
        let MaskValue::Iid(iid) = masks.value(EPOLLIN, &mut new) else {
            panic!("the first mask is interned");
        };
        assert!(
            data.debug_annotation_string_values
                .iter()
                .all(|s| s.iid != Some(iid))
        );
    }

    #[test]
    fn masks_are_named_bit_by_bit() {
        assert_eq!(mask_text(EPOLLIN | EPOLLOUT | EPOLLET), "IN|OUT|ET");
        assert_eq!(mask_text(EPOLLIN | 0x100), "IN|0x100");
        assert_eq!(mask_text(0), "0");
    }

    #[test]
    fn masks_are_interned_once_and_then_written_out() {
        let mut masks = Masks::default();
        let mut new = InternedData::default();
        for mask in 0..MAX_MASKS as u32 {
            assert!(matches!(masks.value(mask, &mut new), MaskValue::Iid(_)));
        }
        assert_eq!(new.debug_annotation_string_values.len(), MAX_MASKS);
        assert!(matches!(masks.value(1, &mut new), MaskValue::Iid(_)));
        let extra = MAX_MASKS as u32;
        assert!(matches!(masks.value(extra, &mut new), MaskValue::Text(t) if t == "0x1000"));
        assert_eq!(new.debug_annotation_string_values.len(), MAX_MASKS);
    }
}
