//! What a record file says about its recording session, stored as JSON in the `HEAD` and `END `
//! chunks. Fields may be added (with a default, so older files still read); readers ignore
//! fields they do not know, so older builds read newer files of the same format version.
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uprof_common::{ProbeKind, Tier, probes::WAKE_TRACEPOINTS};

/// Describes the recording: written first, so even a file cut short after it says what it is.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(remote = "Self")]
pub struct SessionHeader {
    /// The file's format version; [`crate::Writer::create`] sets it to [`crate::FORMAT_VERSION`].
    pub format_version: u16,
    /// Version of the uprof that recorded.
    pub uprof_version: String,
    /// `uname -r` of the recording machine.
    pub kernel_release: String,
    pub hostname: String,
    /// Every probe uprof tried to attach, attached or not.
    pub probes: Vec<ProbeInfo>,
    /// The tracing tier in use (which probe set the kernel allowed).
    pub tier: Tier,
    /// Whether wake-ups of blocked waiters were recorded (`Wake` records, run delays). Files
    /// written before the field existed say it by their probe list: see
    /// [`ProbeInfo::records_wakeups`].
    #[serde(default)]
    pub wakeups: bool,
    /// Clock of every record timestamp: `"CLOCK_MONOTONIC"`.
    pub clock: String,
    /// `CLOCK_REALTIME - CLOCK_MONOTONIC` at the start, in nanoseconds: adding it to a record
    /// timestamp gives wall-clock time.
    pub boot_offset_ns: i64,
    /// `CLOCK_MONOTONIC` nanoseconds when recording started.
    pub start_ts: u64,
    pub target: Target,
}

impl Serialize for SessionHeader {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SessionHeader::serialize(self, serializer)
    }
}

impl<'de> Deserialize<'de> for SessionHeader {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// The header as stored, where `wakeups` may be missing.
        #[derive(Deserialize)]
        struct Stored {
            #[serde(flatten, with = "SessionHeader")]
            header: SessionHeader,
            wakeups: Option<bool>,
        }
        let Stored {
            mut header,
            wakeups,
        } = Stored::deserialize(deserializer)?;
        header.wakeups =
            wakeups.unwrap_or_else(|| header.probes.iter().any(ProbeInfo::records_wakeups));
        Ok(header)
    }
}

/// One probe and whether it could be attached.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ProbeInfo {
    /// `category:name` of a tracepoint, or `kind:function` (`fentry:ep_poll_callback`).
    pub name: String,
    pub kind: ProbeKind,
    pub attached: bool,
    /// Why it was not attached, or anything else worth knowing.
    pub note: Option<String>,
}

impl ProbeInfo {
    /// Whether this probe attached is what makes a recording follow wake-ups (the first wake-up
    /// tracepoint).
    pub fn records_wakeups(&self) -> bool {
        self.attached && self.kind.is_probe_on(&self.name, WAKE_TRACEPOINTS[0])
    }
}

/// What was traced.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Target {
    /// The command uprof started, if it started one.
    pub command: Option<Vec<String>>,
    /// The processes traced from the start (those uprof started or attached to).
    pub pids: Vec<u32>,
}

/// How the recording ended: the last chunk of a file whose recorder finished.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SessionEnd {
    /// `CLOCK_MONOTONIC` nanoseconds when recording stopped.
    pub end_ts: u64,
    /// Records in the file; [`crate::Writer::finish`] sets it to the number it wrote.
    pub records: u64,
    /// Records the kernel could not deliver (ring buffer full).
    pub lost_events: u64,
    /// Why recording stopped, e.g. `"target exited"`, `"interrupted"`.
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header as the uprof of before the `wakeups` field wrote it (socket tier, wake-up
    /// probes attached): `probes` filled in by the test.
    fn stored_header(probes: &str) -> String {
        format!(
            r#"{{"format_version":1,"uprof_version":"0.1.0","kernel_release":"6.18.44",
            "hostname":"h","probes":[{probes}],"tier":"socket","clock":"CLOCK_MONOTONIC",
            "boot_offset_ns":1,"start_ts":2,"target":{{"command":null,"pids":[7]}}}}"#
        )
    }

    const SYSCALL_PROBE: &str = r#"{"name":"syscalls:sys_exit_epoll_wait","kind":"tracepoint","attached":true,"note":null}"#;

    fn wake_probe(attached: bool) -> String {
        format!(
            r#"{{"name":"tp_btf:sched_waking","kind":"tp_btf","attached":{attached},"note":null}}"#
        )
    }

    #[test]
    fn an_older_header_says_wakeups_by_its_probes() {
        let with = stored_header(&format!("{SYSCALL_PROBE},{}", wake_probe(true)));
        let header: SessionHeader = serde_json::from_str(&with).unwrap();
        assert_eq!((header.tier, header.wakeups), (Tier::Socket, true));
        assert_eq!(header.probes[1].kind, ProbeKind::TpBtf);
        for without in [
            stored_header(SYSCALL_PROBE),
            stored_header(&format!("{SYSCALL_PROBE},{}", wake_probe(false))),
        ] {
            let header: SessionHeader = serde_json::from_str(&without).unwrap();
            assert!(!header.wakeups, "{without}");
        }
    }

    #[test]
    fn a_header_round_trips_with_its_typed_fields() {
        let mut header: SessionHeader =
            serde_json::from_str(&stored_header(&wake_probe(true))).unwrap();
        // Said explicitly, the field wins over the probe list.
        header.wakeups = false;
        let json = serde_json::to_value(&header).unwrap();
        assert_eq!(json["tier"], "socket");
        assert_eq!(json["wakeups"], false);
        assert_eq!(json["probes"][0]["kind"], "tp_btf");
        let back: SessionHeader = serde_json::from_value(json).unwrap();
        assert_eq!(back, header);
    }

    /// Tiers and probe kinds are stored under the names the command line and reports use.
    #[test]
    fn tiers_and_probe_kinds_are_stored_by_name() {
        for tier in Tier::ALL {
            assert_eq!(serde_json::to_value(tier).unwrap(), tier.name());
        }
        for kind in [
            ProbeKind::Tracepoint,
            ProbeKind::Fentry,
            ProbeKind::Fexit,
            ProbeKind::Kprobe,
            ProbeKind::TpBtf,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.name());
        }
        let unknown = serde_json::from_str::<Tier>(r#""psychic""#).unwrap_err();
        assert!(
            unknown.to_string().contains("unknown variant `psychic`"),
            "{unknown}"
        );
    }
}
