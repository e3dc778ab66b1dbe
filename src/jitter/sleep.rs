//! Sleep overshoot, cyclictest's method: sleep to absolute deadlines every interval with
//! `clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)` and record how late each wake-up was.
//! Lateness is timer slack plus the time to get a CPU back: what a periodic task would see.

use std::time::Duration;

use crate::signal::clock::monotonic_ns;
use crate::stats::{Distribution, Recorder};

/// Sleeps to deadlines `interval` apart for `duration`; returns the overshoot per wake-up, ns.
pub fn overshoot(duration: Duration, interval: Duration) -> Option<Distribution> {
    let interval_ns = interval.as_nanos().max(1) as u64;
    let start = monotonic_ns();
    let end = start + duration.as_nanos() as u64;
    let mut deadline = start;
    let mut late = Recorder::new();
    while deadline + interval_ns <= end {
        deadline += interval_ns;
        sleep_until(deadline);
        late.record(monotonic_ns().saturating_sub(deadline));
    }
    late.summary()
}

/// Sleeps until `deadline_ns` on `CLOCK_MONOTONIC` (an absolute deadline, so no drift).
pub(crate) fn sleep_until(deadline_ns: u64) {
    let ts = libc::timespec {
        tv_sec: (deadline_ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (deadline_ns % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: `ts` is a valid timespec; a null remainder is allowed with TIMER_ABSTIME.
    // EINTR only wakes us early, which the caller sees as zero overshoot for that deadline.
    unsafe {
        libc::clock_nanosleep(
            libc::CLOCK_MONOTONIC,
            libc::TIMER_ABSTIME,
            &ts,
            std::ptr::null_mut(),
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakes_once_per_interval_and_never_early() {
        let d = overshoot(Duration::from_millis(50), Duration::from_millis(1)).unwrap();
        assert_eq!(d.count, 50);
        assert!(d.p50 < 5_000_000, "median overshoot {} ns", d.p50);
    }
}
