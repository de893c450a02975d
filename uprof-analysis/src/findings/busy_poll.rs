//! `busy-poll`: a thread that spins on zero-timeout waits that find nothing. One empty poll
//! before each blocking wait (libuv runs one when it has idle or check handles; node does) is
//! not spinning: only a poll followed by another poll counts.
use super::*;
use crate::stream::{Outcome, Timeout, Wait};

#[derive(Default)]
pub(super) struct BusyPoll {
    threads: PerThread<Spin>,
}

#[derive(Default)]
struct Spin {
    waits: u64,
    /// Empty polls followed by another empty poll.
    spins: u64,
    /// The last wait was an empty poll.
    polled: bool,
    /// Time between waits and inside them, over the spinning stretches.
    seen: Seen,
    run: Option<u64>,
    longest_run: (u64, Range),
}

fn empty_poll(w: &Wait) -> bool {
    w.timeout == Timeout::Zero && w.outcome == Outcome::Timeout
}

impl Rule for BusyPoll {
    fn kind(&self) -> Kind {
        Kind::BusyPoll
    }

    fn needs(&self) -> Needs {
        Needs::Syscalls
    }

    fn reads(&self) -> Reads {
        WAIT
    }

    fn event(&mut self, event: &Event<'_>, _: &Thresholds) {
        let Event::Wait(w) = event else { return };
        let t = self.threads.get(w.thread.id);
        t.waits += 1;
        let poll = empty_poll(w);
        if poll && t.polled {
            t.spins += 1;
            t.seen.at(w.exit_ts);
            let start = *t.run.get_or_insert(w.enter_ts);
            let length = w.exit_ts.saturating_sub(start);
            if length > t.longest_run.0 {
                t.longest_run = (
                    length,
                    Range {
                        start_ns: start,
                        end_ns: w.exit_ts,
                    },
                );
            }
        } else if !poll {
            t.run = None;
        } else {
            t.run = Some(w.enter_ts);
        }
        t.polled = poll;
    }

    fn finish(&mut self, judge: &Judge<'_>, out: &mut Found) {
        let limits = judge.limits;
        for (id, t) in self.threads.iter() {
            let share = ratio(t.spins, t.waits);
            if t.waits < limits.min_events || share < limits.busy_poll_share {
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
                    t.waits,
                    crate::text::duration(longest)
                ),
                evidence: vec![
                    figure("waits", t.waits as f64, "waits"),
                    figure("spinning_polls", t.spins as f64, "waits"),
                    figure("share", share, "ratio"),
                    figure("longest_run", longest as f64, "ns"),
                ],
                advice: "Block in the wait (timeout -1, or until the next timer) when there is \
                         no work; poll with timeout 0 at most once before blocking.",
            });
        }
    }
}
