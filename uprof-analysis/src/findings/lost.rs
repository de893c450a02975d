//! `lost-records`: the kernel dropped records; every figure is then a lower bound.
use super::*;

#[derive(Default)]
pub(super) struct Lost {
    total: u64,
    seen: Seen,
}

pub(super) fn finding(total: u64, when: When) -> Finding {
    Finding {
        kind: Kind::LostRecords,
        severity: Severity::Warn,
        tier: "syscall".to_owned(),
        at: Place::default(),
        when,
        summary: format!(
            "{total} records were lost (the ring buffer was full): every count in this report \
             is a lower bound and some waits may be misattributed"
        ),
        evidence: vec![figure("lost", total as f64, "records")],
        advice: "Record again with a larger --buffer-mib, or without wake-up probes \
                 (--no-wakeups) on a busy machine.",
    }
}

impl Lost {
    pub(super) fn lost(&mut self, l: &crate::stream::Lost) {
        if l.total > self.total {
            self.total = l.total;
            self.seen.at(l.ts);
        }
    }

    pub(super) fn finish(&mut self, out: &mut Found) {
        if self.total > 0 {
            out.push(finding(self.total, self.seen.when(Vec::new())));
        }
    }
}
