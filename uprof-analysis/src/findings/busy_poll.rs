//! `busy-poll`: a thread that spins on zero-timeout waits that find nothing. One empty poll
//! before each blocking wait (libuv runs one when it has idle or check handles; node does) is
//! not spinning: only a poll followed by another poll counts.
use super::*;
use crate::stream::{Outcome, Timeout, Wait};

#[derive(Default)]
pub(super) struct Spin {
    /// Empty polls followed by another empty poll.
    spins: u64,
    /// The last wait was an empty poll: a run of polls is going on.
    polled: bool,
    /// The run going on: its first poll's entry, its last poll's return, and `spins` before
    /// it (it spun if `spins` grew since). Judged when it ends: per poll, a count and a store.
    run: (u64, u64),
    run_from: u64,
    /// Over the runs that spun: from the first one's start to the last one's end.
    seen: Seen,
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
            self.run.1 = w.exit_ts;
        } else if poll {
            self.run = (w.enter_ts, w.enter_ts);
            self.run_from = self.spins;
        } else if self.polled {
            self.end_run();
        }
        self.polled = poll;
    }

    fn end_run(&mut self) {
        if std::mem::take(&mut self.polled) && self.spins > self.run_from {
            let (start, end) = self.run;
            self.seen.at(start);
            self.seen.at(end);
            if end.saturating_sub(start) > self.longest_run.0 {
                self.longest_run = (
                    end - start,
                    Range {
                        start_ns: start,
                        end_ns: end,
                    },
                );
            }
        }
    }
}

pub(super) fn finish(threads: &mut Threads, judge: &Judge<'_>, out: &mut Found) {
    let limits = judge.limits;
    for (id, state) in threads.iter_mut() {
        state.spin.end_run();
        let (t, waits) = (&state.spin, state.waits.waits);
        let share = ratio(t.spins, waits);
        if waits < limits.min_events || share < limits.busy_poll_share {
            continue;
        }
        let (longest, range) = t.longest_run;
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
