//! `busy-poll`: a thread that spins on zero-timeout waits that find nothing. One empty poll
//! before each blocking wait (libuv runs one when it has idle or check handles; node does) is
//! not spinning: only a poll followed by another poll counts.
use super::*;
use crate::stream::{Outcome, Timeout, Wait};

#[derive(Default)]
pub(super) struct Spin {
    /// Empty polls followed by another empty poll.
    spins: u64,
    /// The last wait was an empty poll.
    polled: bool,
    /// Time between waits and inside them, over the spinning stretches.
    seen: Seen,
    /// The run of polls going on: its first poll's entry, its last spinning poll's return.
    run: Option<(u64, u64)>,
    longest_run: (u64, Range),
}

fn empty_poll(w: &Wait) -> bool {
    w.timeout == Timeout::Zero && w.outcome == Outcome::Timeout
}

impl Spin {
    #[inline]
    pub(super) fn wait(&mut self, w: &Wait<'_>) {
        let poll = empty_poll(w);
        if poll && self.polled {
            self.spins += 1;
            self.seen.at(w.exit_ts);
            if let Some(run) = &mut self.run {
                run.1 = w.exit_ts;
            }
        } else if poll {
            self.run = Some((w.enter_ts, w.enter_ts));
        } else if self.polled {
            self.longest_run = self.longest();
            self.run = None;
        }
        self.polled = poll;
    }

    /// The longest run, counting the one going on: its length and span.
    fn longest(&self) -> (u64, Range) {
        match self.run {
            Some((start, end)) if end.saturating_sub(start) > self.longest_run.0 => (
                end - start,
                Range {
                    start_ns: start,
                    end_ns: end,
                },
            ),
            _ => self.longest_run,
        }
    }
}

pub(super) fn finish(threads: &Threads, judge: &Judge<'_>, out: &mut Found) {
    let limits = judge.limits;
    for (id, state) in threads.iter() {
        let (t, waits) = (&state.spin, state.waits.waits);
        let share = ratio(t.spins, waits);
        if waits < limits.min_events || share < limits.busy_poll_share {
            continue;
        }
        let (longest, range) = t.longest();
        out.push(Finding {
            kind: Kind::BusyPoll,
            severity: Severity::Warn,
            tier: judge.tier(Needs::Syscalls),
            at: judge.known.place_of_thread(id),
            when: t.seen.when(vec![range]),
            summary: format!(
                "{:.0} % of {} waits were zero-timeout polls that found nothing, right after \
                     another such poll: the thread spins (longest run {})",
                share * 100.0,
                waits,
                crate::text::duration(longest)
            ),
            evidence: vec![
                figure("waits", waits as f64, "waits"),
                figure("spinning_polls", t.spins as f64, "waits"),
                figure("share", share, "ratio"),
                figure("longest_run", longest as f64, "ns"),
            ],
            advice: "Block in the wait (timeout -1, or until the next timer) when there is \
                         no work; poll with timeout 0 at most once before blocking.",
        });
    }
}
