//! Timers: ordering, cancellation, zero timeouts, re-arming; per backend.

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tickloop::{BackendKind, EventLoop, RunMode};

type Log = Rc<RefCell<Vec<&'static str>>>;

fn logger(
    log: &Log,
    name: &'static str,
) -> impl FnMut(&mut EventLoop, tickloop::TimerHandle) + use<> {
    let log = Rc::clone(log);
    move |_, _| log.borrow_mut().push(name)
}

/// Timers fire by deadline; equal deadlines fire in start order.
fn timers_fire_by_deadline_then_start_order(kind: BackendKind) {
    let mut lp = EventLoop::new(kind).unwrap();
    let log: Log = Rc::default();
    lp.start_timer(Duration::from_millis(30), logger(&log, "30ms"));
    lp.start_timer(Duration::from_millis(10), logger(&log, "10ms first"));
    lp.start_timer(Duration::from_millis(20), logger(&log, "20ms"));
    lp.start_timer(Duration::from_millis(10), logger(&log, "10ms second"));
    let started = Instant::now();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*log.borrow(), ["10ms first", "10ms second", "20ms", "30ms"]);
    assert!(started.elapsed() >= Duration::from_millis(30));
}

/// A stopped timer never fires, also when stopped by a callback of the same timer phase.
fn stopped_timers_never_fire(kind: BackendKind) {
    let mut lp = EventLoop::new(kind).unwrap();
    let log: Log = Rc::default();
    let doomed = lp.start_timer(Duration::from_millis(5), logger(&log, "doomed"));
    let victim_slot = Rc::new(Cell::new(None));
    let victim_of_first = Rc::clone(&victim_slot);
    let first_log = Rc::clone(&log);
    // Both are due in the same phase; the first stops the second before it runs.
    lp.start_timer(Duration::from_millis(10), move |lp, _| {
        first_log.borrow_mut().push("first");
        assert!(lp.stop_timer(victim_of_first.get().unwrap()));
    });
    let victim = lp.start_timer(Duration::from_millis(10), logger(&log, "victim"));
    victim_slot.set(Some(victim));
    assert!(lp.stop_timer(doomed));
    assert!(
        !lp.stop_timer(doomed),
        "a second stop reports the timer gone"
    );
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*log.borrow(), ["first"]);
}

/// A zero-timeout timer started inside a timer callback fires in the next tick, not in the
/// same timer phase; the poll in between does not block.
fn zero_timeout_timer_fires_next_tick(kind: BackendKind) {
    let mut lp = EventLoop::new(kind).unwrap();
    let ticks_seen = Rc::new(RefCell::new(Vec::new()));
    let outer_ticks = Rc::clone(&ticks_seen);
    lp.start_timer(Duration::ZERO, move |lp, _| {
        outer_ticks.borrow_mut().push(lp.stats().ticks);
        let inner_ticks = Rc::clone(&outer_ticks);
        lp.start_timer(Duration::ZERO, move |lp, _| {
            inner_ticks.borrow_mut().push(lp.stats().ticks);
        });
    });
    let started = Instant::now();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*ticks_seen.borrow(), [1, 2]);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(lp.stats().timer_callbacks, 2);
}

/// A repeating timer fires until it stops itself; restarting a one-shot timer inside its
/// callback keeps it alive for another round.
fn repeating_and_restarted_timers(kind: BackendKind) {
    let mut lp = EventLoop::new(kind).unwrap();
    let repeats = Rc::new(Cell::new(0));
    let count = Rc::clone(&repeats);
    lp.start_repeating_timer(
        Duration::from_millis(1),
        Duration::from_millis(2),
        move |lp, t| {
            count.set(count.get() + 1);
            if count.get() == 4 {
                assert!(lp.stop_timer(t));
            }
        },
    );
    let restarts = Rc::new(Cell::new(0));
    let rounds = Rc::clone(&restarts);
    lp.start_timer(Duration::from_millis(1), move |lp, t| {
        rounds.set(rounds.get() + 1);
        if rounds.get() < 3 {
            lp.restart_timer(t, Duration::from_millis(1)).unwrap();
        }
    });
    lp.run(RunMode::Default).unwrap();
    assert_eq!(repeats.get(), 4);
    assert_eq!(restarts.get(), 3);
}

/// The poll timeout follows the nearest timer: one 50 ms timer takes one blocking poll, not
/// a busy loop.
fn poll_sleeps_until_the_nearest_timer(kind: BackendKind) {
    let mut lp = EventLoop::new(kind).unwrap();
    lp.start_timer(Duration::from_millis(50), |_, _| {});
    lp.run(RunMode::Default).unwrap();
    let stats = lp.stats();
    // The blocking poll, then the tick that fires the timer, whose poll does not block
    // because nothing is left to wait for.
    assert_eq!(stats.polls, 2, "{stats:?}");
    assert_eq!(stats.timer_callbacks, 1);
}

/// `RunMode::Once` makes progress: a tick that only waits for a timer also fires it.
fn run_once_fires_the_timer_it_waited_for(kind: BackendKind) {
    let mut lp = EventLoop::new(kind).unwrap();
    let fired = Rc::new(Cell::new(false));
    let flag = Rc::clone(&fired);
    lp.start_timer(Duration::from_millis(20), move |_, _| flag.set(true));
    assert!(
        !lp.run(RunMode::Once).unwrap(),
        "nothing is left after the timer"
    );
    assert!(fired.get());
    assert_eq!(lp.stats().ticks, 1);
}

/// Short timers, with varied sub-microsecond remainders, fire at or after their deadline and
/// cost one poll each: a wait rounded *down* would end before the deadline and poll again (a
/// spin).
fn short_timers_never_fire_early_nor_spin(kind: BackendKind) {
    // Without the kernel's default 50 us timer slack, a wait that is too short really ends
    // too early.
    // SAFETY: plain prctl on this thread.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1) };
    let mut lp = EventLoop::new(kind).unwrap();
    for step in 0..200u64 {
        let timeout = Duration::from_nanos(100_000 + step * 997 % 5000);
        let deadline = lp.now() + timeout;
        let fired_at = Rc::new(Cell::new(None));
        let slot = Rc::clone(&fired_at);
        lp.start_timer(timeout, move |lp, _| {
            slot.set(Some((lp.now(), Instant::now())))
        });
        // One tick: one poll, then the timers that are due (none if the poll ended early).
        lp.run(RunMode::Once).unwrap();
        let (tick_time, clock) = fired_at
            .get()
            .unwrap_or_else(|| panic!("a {timeout:?} timer needed more than one poll"));
        assert!(
            tick_time >= deadline && clock >= deadline,
            "{timeout:?} fired early"
        );
    }
    assert_eq!(lp.stats().polls, 200);
}

crate::per_backend!(
    #[cfg_attr(
        miri,
        ignore = "measures real waits with a 1 ns timer slack (prctl), which Miri does not emulate"
    )]
    short_timers_never_fire_early_nor_spin,
    timers_fire_by_deadline_then_start_order,
    stopped_timers_never_fire,
    zero_timeout_timer_fires_next_tick,
    repeating_and_restarted_timers,
    poll_sleeps_until_the_nearest_timer,
    run_once_fires_the_timer_it_waited_for,
);
