//! The clocks records are stamped with.

/// `CLOCK_MONOTONIC` in ns: the clock of `bpf_ktime_get_ns`, so user-space records sort with
/// kernel ones.
pub fn monotonic_ns() -> u64 {
    read(libc::CLOCK_MONOTONIC)
}

/// `CLOCK_REALTIME - CLOCK_MONOTONIC` now: add it to a record's timestamp to get wall-clock time.
pub fn boot_offset_ns() -> i64 {
    read(libc::CLOCK_REALTIME) as i64 - read(libc::CLOCK_MONOTONIC) as i64
}

fn read(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid clock id and pointer.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
