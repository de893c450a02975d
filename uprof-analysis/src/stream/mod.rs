//! The reconstructed event stream, the centre of the analysis: records in, loop events out.
//!
//! A [`Reconstructor`] puts records back in time order, follows each process's fd table and
//! epoll interest lists, pairs every wait with the events it returned (mapped to fd
//! generations), attributes wake-ups to the readiness that caused them and finds herds. It
//! passes each result to a [`Consumer`] as a typed [`Event`] the moment it is known, and keeps
//! only what reconstruction needs (open interest lists, pending readiness, each thread's
//! current state), never the events, so memory does not grow with the recording's length.
//!
//! Every output of uprof is a consumer of this one stream: the summary report
//! ([`crate::Summary`]), and each exporter.
//!
//! ```
//! use uprof_analysis::stream::{Consumer, Event, Reconstructor};
//! use uprof_analysis::synth::Task;
//!
//! /// Counts waits that returned events.
//! #[derive(Default)]
//! struct Wakeups(u64);
//! impl Consumer for Wakeups {
//!     fn event(&mut self, event: &Event<'_>) {
//!         if let Event::Wait(w) = event && !w.delivered.is_empty() {
//!             self.0 += 1;
//!         }
//!     }
//! }
//!
//! let t = Task::new(100, 100);
//! let mut records = vec![t.epoll_wait(1_000, 2_000, 3, 1)];
//! records.extend(t.events(2_000, &[(uprof_common::EPOLLIN, 7)]));
//! let mut stream = Reconstructor::new();
//! let mut wakeups = Wakeups::default();
//! for r in &records {
//!     stream.push(r, &mut wakeups);
//! }
//! stream.finish(&mut wakeups);
//! assert_eq!(wakeups.0, 1);
//! ```
mod event;
mod fds;
mod interest;
mod reconstruct;
mod reorder;
mod threads;
mod wakeup;

pub use event::*;
pub use reorder::REORDER_WINDOW_NS;
pub use wakeup::{HERD_LATENESS_NS, HERD_WINDOW_NS};

use uprof_common::Record;

use reconstruct::State;
use reorder::ReorderBuffer;

/// Receives the events of a stream, in order.
pub trait Consumer {
    fn event(&mut self, event: &Event<'_>);

    /// The stream has reached `ts` without an event (a live recording went quiet): no event
    /// older than `ts` follows, but for the exceptions [`Event`] lists. Only
    /// [`Reconstructor::advance`] calls it.
    fn advance(&mut self, ts: u64) {
        let _ = ts;
    }
}

impl<C: Consumer + ?Sized> Consumer for &mut C {
    fn event(&mut self, event: &Event<'_>) {
        (**self).event(event);
    }

    fn advance(&mut self, ts: u64) {
        (**self).advance(ts);
    }
}

/// Both consumers get every event, the first one first.
impl<A: Consumer, B: Consumer> Consumer for (A, B) {
    fn event(&mut self, event: &Event<'_>) {
        self.0.event(event);
        self.1.event(event);
    }

    fn advance(&mut self, ts: u64) {
        self.0.advance(ts);
        self.1.advance(ts);
    }
}

/// Turns records into [`Event`]s.
pub struct Reconstructor {
    reorder: ReorderBuffer,
    state: State,
}

impl Reconstructor {
    pub fn new() -> Self {
        Self {
            reorder: ReorderBuffer::new(REORDER_WINDOW_NS),
            state: State::default(),
        }
    }

    /// Adds one record; events it completes go to `out`. Records of different threads may
    /// arrive out of timestamp order by up to [`REORDER_WINDOW_NS`]; one thread's records
    /// must arrive in order.
    pub fn push(&mut self, rec: &Record, out: &mut (impl Consumer + ?Sized)) {
        let state = &mut self.state;
        self.reorder.push(rec, &mut |r| state.apply(r, out));
    }

    /// Time has reached `now` (`CLOCK_MONOTONIC` ns) and no record older than it is still to
    /// come but within [`REORDER_WINDOW_NS`]: passes on what that settles, then tells `out`
    /// how far the stream has got. For a live recording that goes quiet, whose held records
    /// would otherwise wait for the next one.
    pub fn advance(&mut self, now: u64, out: &mut (impl Consumer + ?Sized)) {
        let state = &mut self.state;
        let horizon = self.reorder.advance(now, &mut |r| state.apply(r, out));
        self.state.advance(horizon, out);
        out.advance(horizon);
    }

    /// Processes the records still held back; the last event is [`Event::End`].
    pub fn finish(mut self, out: &mut (impl Consumer + ?Sized)) {
        let state = &mut self.state;
        self.reorder.flush(&mut |r| state.apply(r, out));
        self.state.finish(self.reorder.late(), out);
    }
}

impl Default for Reconstructor {
    fn default() -> Self {
        Self::new()
    }
}
