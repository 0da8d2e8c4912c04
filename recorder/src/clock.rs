//! Boot-time and wall-clock readings. Events carry CLOCK_BOOTTIME nanoseconds (what
//! `bpf_ktime_get_boot_ns` returns); captures carry periodic pairs to map them to UTC,
//! because a single offset goes wrong when NTP steps the wall clock.

use capture_format::ClockPair;

fn read(clock: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer; these clocks always exist on Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

pub fn boot_ns() -> u64 {
    read(libc::CLOCK_BOOTTIME) as u64
}

/// A (boottime, realtime) pair: realtime is read between two boottime readings and
/// paired with their midpoint, so the pair's error is half the bracket.
pub fn pair() -> ClockPair {
    let before = read(libc::CLOCK_BOOTTIME);
    let realtime_ns = read(libc::CLOCK_REALTIME);
    let after = read(libc::CLOCK_BOOTTIME);
    ClockPair {
        boot_ns: (before + (after - before) / 2) as u64,
        realtime_ns,
    }
}
