//! `long-tick`: a tick (wait return → next wait) so long that other fds became ready during it
//! and waited for it to end.
use super::*;
use crate::stream::Wait;

/// Worst ticks kept per thread.
const KEPT: usize = 5;

#[derive(Default)]
pub(super) struct Ticks {
    long: u64,
    worst: Worst<Tick, KEPT>,
    seen: Seen,
    /// The fd that waited longest in any long tick, and how long.
    fd_waited: Option<(EntryRef, u64)>,
}

struct Tick {
    start: u64,
    end: u64,
    /// Fds that became ready during the tick and were delivered after it.
    waiting_fds: u64,
}

impl Ticks {
    #[inline]
    pub(super) fn wait(&mut self, w: &Wait<'_>, limits: &Thresholds) {
        let Some(busy) = w.busy_before_ns else { return };
        if busy < limits.long_tick_ns {
            return;
        }
        let (start, end) = (w.enter_ts.saturating_sub(busy), w.enter_ts);
        // The fds this wait delivered whose readiness came mostly during the tick: they waited
        // for it. Without any, the loop was just busy with its only work.
        let mut waiting_fds = 0;
        let mut longest: Option<(EntryRef, u64)> = None;
        for d in w.delivered {
            let Some(ready) = d.ready_ts else { continue };
            let waited = w.exit_ts.saturating_sub(ready);
            let in_tick = end.saturating_sub(ready.max(start));
            if ready < end && in_tick.saturating_mul(2) >= waited {
                waiting_fds += 1;
                if longest.is_none_or(|(_, l)| waited > l) {
                    longest = Some((d.entry, waited));
                }
            }
        }
        if waiting_fds == 0 {
            return;
        }
        let t = self;
        t.long += 1;
        t.seen.at(start);
        t.seen.at(end);
        if let Some((entry, waited)) = longest
            && t.fd_waited.is_none_or(|(_, l)| waited > l)
        {
            t.fd_waited = Some((entry, waited));
        }
        t.worst.offer(
            busy,
            Tick {
                start,
                end,
                waiting_fds,
            },
        );
    }
}

pub(super) fn finish(threads: &mut Threads, judge: &Judge<'_>, out: &mut Found) {
    for (id, state) in threads.iter_mut() {
        let t = &mut state.ticks;
        let worst = std::mem::take(&mut t.worst).into_sorted();
        let Some((longest, first)) = worst.first().map(|(d, tick)| (*d, tick.waiting_fds)) else {
            continue;
        };
        let mut place = judge.known.place_of_thread(id);
        if let Some((entry, _)) = t.fd_waited {
            place = judge.known.with_entry(place, entry);
        }
        let waited = t.fd_waited.map_or(0, |(_, w)| w);
        let mut ranges: Vec<Range> = worst
            .iter()
            .map(|(_, tick)| Range {
                start_ns: tick.start,
                end_ns: tick.end,
            })
            .collect();
        ranges.sort_by_key(|r| r.start_ns);
        let severity = if longest >= judge.limits.long_tick_error_ns {
            Severity::Error
        } else if t.long >= judge.limits.long_tick_count {
            Severity::Warn
        } else {
            Severity::Info
        };
        out.push(Finding {
            kind: Kind::LongTick,
            severity,
            tier: judge.tier(Needs::Readiness),
            summary: format!(
                "{} of at least {} kept ready fds waiting; the longest lasted {} ({} \
                     waiting), and an fd waited up to {}",
                plural(t.long, "tick"),
                crate::text::duration(judge.limits.long_tick_ns),
                crate::text::duration(longest),
                plural(first, "fd"),
                crate::text::duration(waited)
            ),
            at: place,
            when: t.seen.when(ranges),
            evidence: vec![
                figure("long_ticks", t.long as f64, "ticks"),
                figure("longest_tick", longest as f64, "ns"),
                figure("fds_waiting_in_longest", first as f64, "fds"),
                figure("longest_fd_wait", waited as f64, "ns"),
            ],
            advice: "Split the long callback, move blocking or CPU-heavy work to a worker \
                         thread or pool, or yield to the loop between chunks of work.",
        });
    }
}
