//! What became of each probe uprof tried, and reasons shortened to one line.
use anyhow::Result;
use uprof_common::ProbeKind;

/// What became of one probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeStatus {
    /// `category:name` of a tracepoint, or `kind:function` (`fentry:ep_poll_callback`).
    pub name: String,
    pub kind: ProbeKind,
    pub attached: bool,
    /// Why it did not attach.
    pub note: Option<String>,
}

impl ProbeStatus {
    /// A `kind` program on kernel function or BTF tracepoint `target`.
    pub(crate) fn hook(kind: ProbeKind, target: &str, result: &Result<()>) -> ProbeStatus {
        ProbeStatus::of(format!("{}:{target}", kind.name()), kind, result)
    }

    /// A program on tracepoint `category:name`.
    pub(crate) fn tracepoint(category: &str, name: &str, result: &Result<()>) -> ProbeStatus {
        ProbeStatus::of(format!("{category}:{name}"), ProbeKind::Tracepoint, result)
    }

    fn of(name: String, kind: ProbeKind, result: &Result<()>) -> ProbeStatus {
        ProbeStatus {
            name,
            kind,
            attached: result.is_ok(),
            note: result.as_ref().err().map(one_line),
        }
    }
}

/// `e` with its causes on one line. A refused load carries the verifier's log (aya appends it,
/// a line per instruction and register state): only its messages are kept, so that a reason
/// fits in a status line, a probe note or `uprof doctor`'s table.
pub(crate) fn one_line(e: &anyhow::Error) -> String {
    let text = crate::message::chain(e);
    let Some((head, log)) = text.split_once("Verifier output:") else {
        return text.replace('\n', " ");
    };
    let listing = |line: &str| {
        line.is_empty()
            || line.starts_with([';', ':', 'R'])
            || line.starts_with(|c: char| c.is_ascii_digit())
            || ["from ", "verification time", "stack depth", "processed "]
                .iter()
                .any(|p| line.starts_with(p))
    };
    let messages: Vec<&str> = log.lines().map(str::trim).filter(|l| !listing(l)).collect();
    let head = head.trim_end().trim_end_matches('.');
    match messages.is_empty() {
        true => head.to_owned(),
        false => format!("{head}; the verifier says: {}", messages.join("; ")),
    }
}

#[cfg(test)]
mod tests {
    use anyhow::anyhow;

    use super::*;

    #[test]
    fn a_verifier_log_shrinks_to_its_messages() {
        // As Debian's 5.10 refused fentry on __x64_sys_epoll_wait (abridged).
        let log = "the BPF_PROG_LOAD syscall returned Permission denied (os error 13). \
                   Verifier output: arg#0 type is not a struct\nUnrecognized arg#0 type PTR\n\
                   ; pub fn $name(raw: *mut c_void) -> i32 {\n0: (bf) r8 = r1\n\
                   \x20R0=map_value(id=0,off=0,ks=4,vs=1,imm=0) R10=fp0\n\n\
                   from 13 to 15: R0=map_value(id=0)\n24: (79) r1 = *(u64 *)(r8 +0)\n\
                   func '__x64_sys_epoll_wait' arg0 type FWD is not a struct\n\
                   invalid bpf_context access off=0 size=8\nverification time 5035 usec\n\
                   stack depth 96+0\nprocessed 25 insns (limit 1000000)\n";
        let e = anyhow!("{log}").context("the kernel refused to load the fentry program");
        assert_eq!(
            one_line(&e),
            "the kernel refused to load the fentry program: the BPF_PROG_LOAD syscall returned \
             Permission denied (os error 13); the verifier says: arg#0 type is not a struct; \
             Unrecognized arg#0 type PTR; func '__x64_sys_epoll_wait' arg0 type FWD is not a \
             struct; invalid bpf_context access off=0 size=8"
        );
    }

    #[test]
    fn an_empty_verifier_log_leaves_the_reason_alone() {
        // As the development hosts refuse fentry: no log, the errno repeated by the cause.
        let e = anyhow!("the BPF_PROG_LOAD syscall returned Operation not permitted (os error 1). Verifier output: ")
            .context("the kernel refused to load the fentry program");
        assert_eq!(
            one_line(&e),
            "the kernel refused to load the fentry program: the BPF_PROG_LOAD syscall returned \
             Operation not permitted (os error 1)"
        );
    }

    #[test]
    fn probe_names_say_kind_and_target() {
        let ok = Ok(());
        let waking = ProbeStatus::hook(ProbeKind::TpBtf, "sched_waking", &ok);
        assert_eq!(waking.name, "tp_btf:sched_waking");
        assert!(ProbeKind::TpBtf.is_probe_on(&waking.name, "sched_waking"));
        assert!(!ProbeKind::Fentry.is_probe_on(&waking.name, "sched_waking"));
        let refused = Err(anyhow!("no"));
        let status = ProbeStatus::tracepoint("task", "task_rename", &refused);
        assert_eq!(
            (status.name.as_str(), status.kind, status.attached),
            ("task:task_rename", ProbeKind::Tracepoint, false)
        );
        assert_eq!(status.note.as_deref(), Some("no"));
    }
}
