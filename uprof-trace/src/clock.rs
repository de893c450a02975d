//! The clocks records are stamped with.

/// `CLOCK_MONOTONIC` in ns: the clock of `bpf_ktime_get_ns`, so user-space records sort with
/// kernel ones.
pub fn monotonic_ns() -> u64 {
    read(libc::CLOCK_MONOTONIC)
}

/// `CLOCK_REALTIME - CLOCK_MONOTONIC` now: add it to a record's timestamp to get wall-clock time.
pub fn boot_offset_ns() -> i64 {
    let (real, mono) = (read(libc::CLOCK_REALTIME), read(libc::CLOCK_MONOTONIC));
    i64::try_from(real)
        .unwrap_or(i64::MAX)
        .saturating_sub(i64::try_from(mono).unwrap_or(i64::MAX))
}

fn read(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid clock id and pointer.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    nanoseconds(&ts)
}

/// `ts` in nanoseconds, saturated: the realtime clock can be set past 2554, where they
/// overflow a `u64` (and before 1970, where they are negative).
fn nanoseconds(ts: &libc::timespec) -> u64 {
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_readings_saturate() {
        let ts = |tv_sec, tv_nsec| libc::timespec { tv_sec, tv_nsec };
        assert_eq!(nanoseconds(&ts(2, 5)), 2_000_000_005);
        assert_eq!(nanoseconds(&ts(i64::MAX, 999_999_999)), u64::MAX);
        assert_eq!(nanoseconds(&ts(-1, 5)), 5);
    }
}
