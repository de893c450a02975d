//! I/O watchers and the watcher queue.
//!
//! As in libuv, starting, re-arming or pausing a watcher only records the wanted interest and
//! queues the watcher; [`Registry::flush`] applies every queued change to the backend in one
//! batch at the start of the poll phase. Removing a watcher is the exception: its descriptor is
//! taken out of the backend at once, because the caller may close the descriptor right after.

use std::os::fd::RawFd;

use crate::backend::Backend;
use crate::error::{LoopError, Result};
use crate::interest::{Interest, Readiness};
use crate::slab::{Key, Slab};

/// A watcher, generic over its callback so that the registry knows nothing of the loop that
/// calls it.
struct Watcher<C> {
    fd: RawFd,
    /// What the owner wants.
    interest: Interest,
    /// What the backend was last told; `None` when the fd is not in the backend.
    registered: Option<Interest>,
    /// True while the watcher sits in the watcher queue.
    queued: bool,
    /// Taken out while the callback runs.
    callback: Option<C>,
}

pub(crate) struct Registry<C> {
    watchers: Slab<Watcher<C>>,
    queue: Vec<Key>,
    /// Watchers with a non-empty interest, kept up to date so liveness checks are O(1).
    active: usize,
}

impl<C> Registry<C> {
    pub(crate) fn new() -> Self {
        Registry {
            watchers: Slab::new(),
            queue: Vec::new(),
            active: 0,
        }
    }

    /// Watchers whose interest is not empty; each keeps the loop alive.
    pub(crate) fn active_count(&self) -> usize {
        self.active
    }

    pub(crate) fn insert(&mut self, fd: RawFd, interest: Interest, callback: C) -> Key {
        let key = self.watchers.insert(Watcher {
            fd,
            interest: Interest::NONE,
            registered: None,
            queued: false,
            callback: Some(callback),
        });
        self.set_interest(key, interest)
            .expect("the watcher was just inserted");
        key
    }

    pub(crate) fn set_interest(&mut self, key: Key, interest: Interest) -> Result<()> {
        let watcher = self.watchers.get_mut(key).ok_or(LoopError::StaleHandle)?;
        match (watcher.interest.is_none(), interest.is_none()) {
            (true, false) => self.active += 1,
            (false, true) => self.active -= 1,
            _ => {}
        }
        watcher.interest = interest;
        if !watcher.queued && watcher.registered.unwrap_or(Interest::NONE) != interest {
            watcher.queued = true;
            self.queue.push(key);
        }
        Ok(())
    }

    pub(crate) fn interest(&self, key: Key) -> Result<Interest> {
        Ok(self
            .watchers
            .get(key)
            .ok_or(LoopError::StaleHandle)?
            .interest)
    }

    /// Removes a watcher and deregisters its fd now; returns whether that took a backend call.
    /// The callback is dropped here, or by the dispatcher when it is the one running.
    pub(crate) fn remove(&mut self, key: Key, backend: &mut dyn Backend) -> Result<bool> {
        let watcher = self.watchers.remove(key).ok_or(LoopError::StaleHandle)?;
        if !watcher.interest.is_none() {
            self.active -= 1;
        }
        if watcher.queued {
            self.queue.retain(|&queued| queued != key);
        }
        if watcher.registered.is_some() {
            backend.delete(watcher.fd)?;
        }
        Ok(watcher.registered.is_some())
    }

    /// Applies the watcher queue to the backend; returns how many backend calls it made.
    /// If a call fails, the failing watcher leaves the queue (so the error is not repeated
    /// every tick) and the watchers after it stay queued for the next flush.
    pub(crate) fn flush(&mut self, backend: &mut dyn Backend) -> Result<u64> {
        let queue = std::mem::take(&mut self.queue);
        let mut calls = 0;
        for (position, &key) in queue.iter().enumerate() {
            let Some(watcher) = self.watchers.get_mut(key) else {
                continue;
            };
            watcher.queued = false;
            let token = key.to_token();
            let wanted = watcher.interest;
            let applied = match (watcher.registered, wanted.is_none()) {
                (None, true) => continue,
                (Some(current), false) if current == wanted => continue,
                (None, false) => backend.add(watcher.fd, token, wanted),
                (Some(_), false) => backend.modify(watcher.fd, token, wanted),
                (Some(_), true) => backend.delete(watcher.fd),
            };
            if let Err(err) = applied {
                self.queue.extend_from_slice(&queue[position + 1..]);
                return Err(err);
            }
            watcher.registered = (!wanted.is_none()).then_some(wanted);
            calls += 1;
        }
        Ok(calls)
    }

    /// Takes the callback of a watcher that the backend reported, with the readiness cut down
    /// to what it currently wants; `None` if it was closed or no longer wants this.
    pub(crate) fn take_ready(&mut self, key: Key, readiness: Readiness) -> Option<(C, Readiness)> {
        let watcher = self.watchers.get_mut(key)?;
        let wanted = readiness.filtered_by(watcher.interest);
        if wanted.is_empty() {
            return None;
        }
        Some((watcher.callback.take()?, wanted))
    }

    /// Puts a callback back after it ran; drops it if the callback closed its own watcher.
    pub(crate) fn restore(&mut self, key: Key, callback: C) {
        if let Some(watcher) = self.watchers.get_mut(key) {
            watcher.callback = Some(callback);
        }
    }
}
