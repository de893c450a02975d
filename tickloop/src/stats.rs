//! Counters the loop keeps about its own work.

/// What the loop has done since it was created. Read it with
/// [`EventLoop::stats`](crate::EventLoop::stats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LoopStats {
    /// Loop iterations.
    pub ticks: u64,
    /// Calls to the backend's wait (`epoll_wait`, `poll`, `select`).
    pub polls: u64,
    /// Waits that returned at least one ready descriptor.
    pub wakeups: u64,
    /// Ready descriptors reported by the backend.
    pub events: u64,
    /// I/O callbacks run.
    pub io_callbacks: u64,
    /// Timer callbacks run.
    pub timer_callbacks: u64,
    /// Thread-pool completions run on the loop.
    pub completions: u64,
    /// Close callbacks run.
    pub close_callbacks: u64,
    /// Interest changes applied to the backend (`epoll_ctl` calls for epoll).
    pub interest_updates: u64,
}
