//! Timers ordered by deadline, then by start order (libuv's `start_id`), so timers due at the
//! same instant fire in the order they were started.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::slab::{Key, Slab};

/// Where a timer sits in the deadline order.
type Slot = (Instant, u64);

/// A timer, generic over its callback so that the queue knows nothing of the loop that calls
/// it.
struct Timer<C> {
    callback: Option<C>,
    repeat: Option<Duration>,
    /// `None` while the timer is firing and nobody has re-armed it yet.
    slot: Option<Slot>,
}

pub(crate) struct TimerQueue<C> {
    timers: Slab<Timer<C>>,
    order: BTreeMap<Slot, Key>,
    next_start_id: u64,
}

impl<C> TimerQueue<C> {
    pub(crate) fn new() -> Self {
        TimerQueue {
            timers: Slab::new(),
            order: BTreeMap::new(),
            next_start_id: 0,
        }
    }

    /// Timers that exist (scheduled or firing right now); each keeps the loop alive.
    pub(crate) fn len(&self) -> usize {
        self.timers.len()
    }

    pub(crate) fn start(
        &mut self,
        deadline: Instant,
        repeat: Option<Duration>,
        callback: C,
    ) -> Key {
        let key = self.timers.insert(Timer {
            callback: Some(callback),
            repeat,
            slot: None,
        });
        self.schedule(key, deadline);
        key
    }

    /// Moves a timer's deadline; false if the timer is gone.
    pub(crate) fn restart(&mut self, key: Key, deadline: Instant) -> bool {
        if self.timers.get(key).is_none() {
            return false;
        }
        self.schedule(key, deadline);
        true
    }

    fn schedule(&mut self, key: Key, deadline: Instant) {
        let slot = (deadline, self.next_start_id);
        self.next_start_id += 1;
        let timer = self.timers.get_mut(key).expect("caller checked the key");
        if let Some(old) = timer.slot.replace(slot) {
            self.order.remove(&old);
        }
        self.order.insert(slot, key);
    }

    /// Removes a timer, returning its callback (if it is not the one running) for the caller
    /// to drop; `None` if the timer was already gone.
    pub(crate) fn stop(&mut self, key: Key) -> Option<Option<C>> {
        let timer = self.timers.remove(key)?;
        if let Some(slot) = timer.slot {
            self.order.remove(&slot);
        }
        Some(timer.callback)
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.order
            .first_key_value()
            .map(|((deadline, _), _)| *deadline)
    }

    /// Unschedules every timer due at `now` and returns them in firing order. Timers started
    /// by their callbacks are not included, even with a zero timeout: they fire next tick.
    pub(crate) fn take_due(&mut self, now: Instant) -> Vec<Key> {
        let mut due = Vec::new();
        while let Some(entry) = self.order.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let key = entry.remove();
            self.timers.get_mut(key).expect("ordered timers exist").slot = None;
            due.push(key);
        }
        due
    }

    /// Takes a due timer's callback for the duration of the call; `None` if an earlier
    /// callback in the same phase stopped it.
    pub(crate) fn take_callback(&mut self, key: Key) -> Option<C> {
        self.timers.get_mut(key)?.callback.take()
    }

    /// Puts a callback back after it ran: a re-armed timer keeps its new deadline, a repeating
    /// one is rescheduled `repeat` after `now`, a one-shot one is removed. A timer the callback
    /// stopped is gone already and its callback is dropped here.
    pub(crate) fn finish(&mut self, key: Key, callback: C, now: Instant) {
        let Some(timer) = self.timers.get_mut(key) else {
            return;
        };
        timer.callback = Some(callback);
        if timer.slot.is_some() {
            return;
        }
        match timer.repeat {
            Some(repeat) => self.schedule(key, now + repeat),
            None => {
                self.timers.remove(key);
            }
        }
    }
}
