//! Sleep overshoot, cyclictest's method: sleep to absolute deadlines every interval with
//! `clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)` and record how late each wake-up was.
//! Lateness is timer slack plus the time to get a CPU back: what a periodic task would see.

use std::time::Duration;

use crate::signal::clock::monotonic_ns;
use crate::stats::{Distribution, Histogram};

/// How long past its `duration` the phase may go on waking up for deadlines it has fallen
/// behind on: with an interval shorter than a wake-up (`--sleep-interval 1ns`), deadlines
/// fall behind from the start, and counting them all took hours.
const BEHIND_ALLOWANCE: Duration = Duration::from_millis(100);

/// Sleeps to deadlines `interval` apart for `duration`; returns the overshoot per wake-up, ns.
/// Every deadline is slept to, as cyclictest does, unless the phase has run past `duration`
/// by `BEHIND_ALLOWANCE` (100 ms).
pub fn overshoot(duration: Duration, interval: Duration) -> Option<Distribution> {
    let interval_ns = interval.as_nanos().max(1) as u64;
    let start = monotonic_ns();
    let end = start + duration.as_nanos() as u64;
    let give_up = end + BEHIND_ALLOWANCE.as_nanos() as u64;
    let mut deadline = start;
    let mut late = Histogram::new();
    while deadline + interval_ns <= end && monotonic_ns() < give_up {
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

    #[test]
    fn an_interval_shorter_than_a_wake_up_ends_on_time() {
        let started = std::time::Instant::now();
        let d = overshoot(Duration::from_millis(50), Duration::from_nanos(1)).unwrap();
        let took = started.elapsed();
        // Before the allowance, 50 million deadlines at tens of µs a wake-up: 40 minutes.
        assert!(took < Duration::from_secs(2), "{took:?} for a 50 ms phase");
        assert!(d.count > 1, "{}", d.count);
    }
}
