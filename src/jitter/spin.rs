//! Spin-loop hiccup detector: a thread reads a fast clock as often as it can; a gap between
//! two reads above a threshold means it was off the CPU (an interrupt, a VM exit, a
//! preemption). The method of sysjitter and rigtorp/hiccups; the loop is the dozen lines of
//! `spin_loop`, and nothing in it allocates or formats.

use std::time::Duration;

use super::clock::{Choice, Kind, Monotonic, Ticks, Tsc};
use crate::span::{Span, SpanStats};

/// Gaps kept in order for inference (16 B each, allocated before the loop starts). Gaps
/// beyond this are counted and summed but not kept.
pub const GAP_CAPACITY: usize = 1 << 18;
/// Auto threshold: this many times the smallest clock-read delta seen in calibration.
pub const AUTO_THRESHOLD_FACTOR: u64 = 8;
/// Clock reads in the calibration that finds the smallest delta.
const CALIBRATION_READS: u32 = 200_000;

/// One time the loop saw the clock jump: it was not running from `start_ns` for `len_ns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Gap {
    /// Since the spin began, ns.
    pub start_ns: u64,
    pub len_ns: u64,
}

/// What one spinning thread saw.
#[derive(Debug, Clone)]
pub struct SpinRecord {
    /// The clock read, and why it was chosen.
    pub clock: String,
    /// The CPU the thread was pinned to, if any.
    pub cpu: Option<usize>,
    pub duration_ns: u64,
    pub iterations: u64,
    /// The smallest delta between two clock reads: the loop's resolution.
    pub min_delta_ns: u64,
    /// Gaps longer than this were recorded.
    pub threshold_ns: u64,
    /// Recorded gaps in order (at most [`GAP_CAPACITY`]).
    pub gaps: Vec<Gap>,
    /// All gaps above the threshold, kept or not.
    pub gaps_count: u64,
    pub gaps_total_ns: u64,
    /// The spinning thread's kernel counters over the spin (run-queue wait, preemptions).
    pub kernel: SpanStats,
}

/// Gaps as the loop finds them, in clock ticks.
struct GapLog {
    kept: Vec<(u64, u64)>,
    count: u64,
    total_ticks: u64,
}

impl GapLog {
    #[inline(always)]
    fn push(&mut self, start: u64, len: u64) {
        if self.kept.len() < self.kept.capacity() {
            self.kept.push((start, len));
        }
        self.count += 1;
        self.total_ticks += len;
    }
}

/// The loop: read the clock, compare with the last read, record a gap above `threshold`.
#[inline(never)]
fn spin_loop<T: Ticks>(clock: &T, duration: u64, threshold: u64, log: &mut GapLog) -> u64 {
    let start = clock.ticks();
    let (mut last, mut iterations) = (start, 0u64);
    while last - start < duration {
        let now = clock.ticks();
        if now - last > threshold {
            log.push(last - start, now - last);
        }
        last = now;
        iterations += 1;
    }
    iterations
}

/// The smallest delta between two consecutive reads of `clock`, in its ticks (at least 1).
fn min_delta<T: Ticks>(clock: &T) -> u64 {
    let mut last = clock.ticks();
    let mut min = u64::MAX;
    for _ in 0..CALIBRATION_READS {
        let now = clock.ticks();
        min = min.min(now - last);
        last = now;
    }
    min.max(1)
}

/// Why a spin could not be done as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpinError {
    #[error(
        "threshold {asked_ns} ns is below the clock's resolution here ({min_ns} ns between reads)"
    )]
    ThresholdBelowResolution { asked_ns: u64, min_ns: u64 },
    #[error("cannot pin the spinning thread to CPU {0}")]
    Pin(usize),
}

/// Spins on the calling thread for `duration`, recording gaps above `threshold_ns` (or the
/// auto threshold, [`AUTO_THRESHOLD_FACTOR`] × the smallest delta).
pub fn spin(
    clock: &Choice,
    duration: Duration,
    threshold_ns: Option<u64>,
) -> Result<SpinRecord, SpinError> {
    match clock.kind {
        Kind::Tsc => spin_with(&Tsc, clock, duration, threshold_ns),
        Kind::Monotonic => spin_with(&Monotonic, clock, duration, threshold_ns),
    }
}

fn spin_with<T: Ticks>(
    ticks: &T,
    clock: &Choice,
    duration: Duration,
    threshold_ns: Option<u64>,
) -> Result<SpinRecord, SpinError> {
    let min_ticks = min_delta(ticks);
    let min_delta_ns = clock.to_ns(min_ticks).max(1);
    let threshold = match threshold_ns {
        Some(asked_ns) if asked_ns < min_delta_ns => {
            return Err(SpinError::ThresholdBelowResolution {
                asked_ns,
                min_ns: min_delta_ns,
            });
        }
        Some(ns) => clock.to_ticks(ns),
        None => min_ticks * AUTO_THRESHOLD_FACTOR,
    };
    let mut log = GapLog {
        kept: Vec::with_capacity(GAP_CAPACITY),
        count: 0,
        total_ticks: 0,
    };
    let span = Span::start();
    let iterations = spin_loop(
        ticks,
        clock.to_ticks(duration.as_nanos() as u64),
        threshold,
        &mut log,
    );
    let kernel = span.finish();
    Ok(SpinRecord {
        clock: clock.reason.clone(),
        cpu: None,
        duration_ns: kernel.wall_ns,
        iterations,
        min_delta_ns,
        threshold_ns: clock.to_ns(threshold),
        gaps: log
            .kept
            .iter()
            .map(|&(start, len)| Gap {
                start_ns: clock.to_ns(start),
                len_ns: clock.to_ns(len),
            })
            .collect(),
        gaps_count: log.count,
        gaps_total_ns: clock.to_ns(log.total_ticks),
        kernel,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock that advances 10 ticks a read, plus a scripted jump at given read numbers.
    struct Scripted {
        reads: std::cell::Cell<u64>,
        now: std::cell::Cell<u64>,
        jumps: Vec<(u64, u64)>,
    }
    impl Ticks for Scripted {
        fn ticks(&self) -> u64 {
            let read = self.reads.get() + 1;
            self.reads.set(read);
            let jump = self
                .jumps
                .iter()
                .find(|(at, _)| *at == read)
                .map_or(0, |j| j.1);
            self.now.set(self.now.get() + 10 + jump);
            self.now.get()
        }
    }

    #[test]
    fn the_loop_records_gaps_above_the_threshold_only() {
        let clock = Scripted {
            reads: Default::default(),
            now: Default::default(),
            jumps: vec![(10, 5), (20, 500), (100, 50)],
        };
        let mut log = GapLog {
            kept: Vec::with_capacity(8),
            count: 0,
            total_ticks: 0,
        };
        let iterations = spin_loop(&clock, 2_000, 40, &mut log);
        // Reads 10 ticks apart; the +5 jump stays under 40, the +500 and +50 do not.
        assert_eq!(log.count, 2);
        // Read 19 is at 195 (10 a read, +5 at read 10), 185 after the start read.
        assert_eq!(log.kept[0], (185, 510));
        assert_eq!(log.kept[1].1, 60);
        assert_eq!(log.total_ticks, 570);
        assert!(iterations > 100);
    }

    #[test]
    fn a_full_log_keeps_counting() {
        let mut log = GapLog {
            kept: Vec::with_capacity(1),
            count: 0,
            total_ticks: 0,
        };
        log.push(0, 5);
        log.push(10, 7);
        assert_eq!((log.kept.len(), log.count, log.total_ticks), (1, 2, 12));
    }

    #[test]
    fn a_short_spin_is_mostly_on_cpu_and_sees_a_sleep_free_loop() {
        let clock = Choice::detect();
        let record = spin(&clock, Duration::from_millis(50), None).unwrap();
        assert!(record.duration_ns >= 50_000_000);
        assert!(
            record.min_delta_ns < 1_000,
            "{} ns between clock reads",
            record.min_delta_ns
        );
        assert!(record.threshold_ns >= record.min_delta_ns);
        assert!(record.iterations > 10_000);
        assert_eq!(record.gaps.len() as u64, record.gaps_count);
    }

    #[test]
    fn absurd_thresholds_are_refused() {
        let clock = Choice::detect();
        let error = spin(&clock, Duration::from_millis(1), Some(0)).unwrap_err();
        assert!(matches!(error, SpinError::ThresholdBelowResolution { .. }));
    }
}
