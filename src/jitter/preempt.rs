//! From a spin record and the kernel's counters to what happened to the spinning thread:
//! how much time it lost, in how many preemptions, how long it ran between them (the
//! timeslice), whether the losses recur at a cgroup's period (throttling), and how much of
//! the lost time no kernel counter explains.

use serde::Serialize;

use super::spin::{Gap, SpinRecord};
use crate::stats::Distribution;

/// How many of the largest gaps the report lists, with their start times.
pub const LARGEST_GAPS: usize = 10;

/// Gaps at least this long are preemptions (the thread lost the CPU to another task or to
/// throttling); shorter ones are noise: interrupts, VM exits, cache misses of the loop.
pub const DEFAULT_PREEMPT_THRESHOLD_NS: u64 = 100_000;
/// Fewest preemption gaps for a throttling pattern to be claimed.
pub const THROTTLE_MIN_GAPS: usize = 5;
/// A period counts as regular when its length is within this fraction of the median…
pub const THROTTLE_SPACING_TOLERANCE: f64 = 0.1;
/// …and at least this share of the periods must be regular.
pub const THROTTLE_MIN_REGULAR_SHARE: f64 = 0.8;
/// The pattern's period must match the cgroup's `cfs_period` within this fraction.
pub const THROTTLE_PERIOD_TOLERANCE: f64 = 0.1;
/// Without a readable cgroup, only periods this long count as throttling: the turns two
/// threads take on one CPU recur every few ms, quota periods are usually 100 ms.
pub const THROTTLE_MIN_UNKNOWN_PERIOD_NS: u64 = 20_000_000;
/// Only gaps at least this long can be throttling gaps (period − quota): a host's
/// housekeeping makes sub-millisecond gaps on an idle VM, regular enough to look like a
/// pattern, and frequent enough to break the spacing of the real one.
pub const THROTTLE_MIN_GAP_NS: u64 = 1_000_000;

/// What is known of the CPU cgroup's quota period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CgroupPeriod {
    /// The cgroup has a quota with this period, ns.
    Quota(u64),
    /// The cgroup was read and has no quota: it cannot be throttled.
    NoQuota,
    /// The cgroup could not be read.
    #[default]
    Unknown,
}

/// What the kernel counted for the same thread and interval.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct KernelView {
    /// Run-queue wait of the spinning thread (schedstat), ns.
    pub runqueue_wait_ns: Option<u64>,
    /// Involuntary context switches of the spinning thread.
    pub involuntary_switches: Option<u64>,
    /// Steal on the CPU it spun on (or all CPUs when not pinned), ns.
    pub steal_ns: Option<u64>,
    /// The CPU cgroup's quota period.
    pub cgroup_period: CgroupPeriod,
}

/// The jitter section of a report: one spinning thread's view. Times in the unit named.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Jitter {
    pub clock: String,
    pub cpu: Option<usize>,
    pub duration_ns: u64,
    pub min_delta_ns: u64,
    pub threshold_ns: u64,
    pub preempt_threshold_ns: u64,
    /// Gaps above `threshold_ns`.
    pub gaps_count: u64,
    /// Time in gaps / duration.
    pub off_cpu_ratio: f64,
    /// Gaps below `preempt_threshold_ns`.
    pub noise_gaps_count: u64,
    /// Gaps at or above `preempt_threshold_ns`.
    pub preemptions_count: u64,
    /// The kernel's count for the same thread (getrusage), to check `preemptions_count`.
    pub involuntary_switches_count: Option<u64>,
    /// The kernel's run-queue wait for the thread / duration.
    pub runqueue_wait_ratio: Option<f64>,
    /// On-CPU run length between consecutive preemptions.
    pub timeslice_p50_ms: Option<f64>,
    pub timeslice_p90_ms: Option<f64>,
    /// Length of the preemption gaps.
    pub off_cpu_gap_p50_ms: Option<f64>,
    pub off_cpu_gap_max_ms: Option<f64>,
    /// Gap time not covered by run-queue wait plus steal, / duration: interrupts and
    /// hypervisor exits that steal does not report. `None` without schedstat.
    pub unexplained_ratio: Option<f64>,
    /// Timeslice estimated without spinning: on-CPU time / involuntary switches.
    pub timeslice_from_counters_ms: Option<f64>,
    pub throttle: Option<Throttle>,
    /// Every recorded gap's length (HdrHistogram).
    pub gaps_ns: Option<Distribution>,
    /// The longest gaps, longest first, with when they began (ns since the spin started).
    pub largest_gaps: Vec<Gap>,
}

/// Off-CPU gaps recurring at a fixed period: a CPU quota.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Throttle {
    /// Median spacing of the gaps' ends (when the period timer refills the quota).
    pub period_ms: f64,
    /// Total run between gaps / total period, over the regular periods: the share of each
    /// period the thread ran.
    pub quota_ratio: f64,
    /// Whether `period_ms` matched the cgroup's own period (`None`: it was not readable).
    pub matches_cgroup_period: Option<bool>,
}

/// Infers the jitter section from `record` and the kernel's counters over it.
pub fn infer(record: &SpinRecord, kernel: &KernelView, preempt_threshold_ns: u64) -> Jitter {
    let duration = record.duration_ns.max(1) as f64;
    let preemptions: Vec<Gap> = record
        .gaps
        .iter()
        .copied()
        .filter(|g| g.len_ns >= preempt_threshold_ns)
        .collect();
    let runs: Vec<u64> = preemptions
        .windows(2)
        .map(|w| w[1].start_ns.saturating_sub(w[0].start_ns + w[0].len_ns))
        .collect();
    let lengths: Vec<u64> = preemptions.iter().map(|g| g.len_ns).collect();
    let explained = kernel
        .runqueue_wait_ns
        .map(|wait| wait + kernel.steal_ns.unwrap_or(0));
    let on_cpu_ns = record.duration_ns.saturating_sub(record.gaps_total_ns);
    Jitter {
        clock: record.clock.clone(),
        cpu: record.cpu,
        duration_ns: record.duration_ns,
        min_delta_ns: record.min_delta_ns,
        threshold_ns: record.threshold_ns,
        preempt_threshold_ns,
        gaps_count: record.gaps_count,
        off_cpu_ratio: record.gaps_total_ns as f64 / duration,
        noise_gaps_count: record.gaps_count - preemptions.len() as u64,
        preemptions_count: preemptions.len() as u64,
        involuntary_switches_count: kernel.involuntary_switches,
        runqueue_wait_ratio: kernel.runqueue_wait_ns.map(|w| w as f64 / duration),
        timeslice_p50_ms: quantile_ms(&runs, 0.5),
        timeslice_p90_ms: quantile_ms(&runs, 0.9),
        off_cpu_gap_p50_ms: quantile_ms(&lengths, 0.5),
        off_cpu_gap_max_ms: lengths.iter().max().map(|&ns| ns as f64 / 1e6),
        unexplained_ratio: explained
            .map(|ns| record.gaps_total_ns.saturating_sub(ns) as f64 / duration),
        timeslice_from_counters_ms: kernel
            .involuntary_switches
            .filter(|&n| n > 0)
            .map(|n| on_cpu_ns as f64 / n as f64 / 1e6),
        throttle: throttle(&preemptions, kernel.cgroup_period),
        gaps_ns: Distribution::of(record.gaps.iter().map(|g| g.len_ns)),
        largest_gaps: largest(&record.gaps),
    }
}

/// The throttling pattern in `preemptions`: gaps of at least [`THROTTLE_MIN_GAP_NS`] whose
/// starts recur regularly at a period that matches the cgroup's quota period (or, when the
/// cgroup could not be read, is at least [`THROTTLE_MIN_UNKNOWN_PERIOD_NS`]). A cgroup known
/// to have no quota is never throttled.
pub fn throttle(preemptions: &[Gap], cgroup: CgroupPeriod) -> Option<Throttle> {
    // Shorter gaps (a host's housekeeping, a kernel thread) cannot be quota gaps, and would
    // break the spacing of the ones that are.
    // Throttle gaps are the long ones, and all about as long (period − quota); another
    // task taking a tick (4 ms here) is shorter. Keep gaps at least half the typical longest.
    let mut lengths: Vec<u64> = preemptions.iter().map(|g| g.len_ns).collect();
    lengths.sort_unstable_by(|a, b| b.cmp(a));
    let longest = median(&lengths[..lengths.len().min(THROTTLE_MIN_GAPS)])?;
    let long: Vec<Gap> = preemptions
        .iter()
        .copied()
        .filter(|g| g.len_ns >= THROTTLE_MIN_GAP_NS && g.len_ns >= longest / 2)
        .collect();
    if long.len() < THROTTLE_MIN_GAPS || cgroup == CgroupPeriod::NoQuota {
        return None;
    }
    // A throttle ends when the period timer refills the quota, once a period; it starts
    // whenever the quota runs out, noticed only at a tick. So periods are measured between
    // the gaps' ends, and the share from the runs between a gap's end and the next start.
    let end = |g: &Gap| g.start_ns + g.len_ns;
    let spacings: Vec<u64> = long.windows(2).map(|w| end(&w[1]) - end(&w[0])).collect();
    // On-CPU time in each period: from a throttle's end to the next one's, less every other
    // preemption in between (a thread preempted by another task still gets its quota).
    let runs: Vec<u64> = long
        .windows(2)
        .map(|w| {
            let (from, to) = (end(&w[0]), w[1].start_ns);
            let preempted: u64 = preemptions
                .iter()
                .filter(|g| g.start_ns >= from && g.start_ns < to)
                .map(|g| g.len_ns)
                .sum();
            to.saturating_sub(from).saturating_sub(preempted)
        })
        .collect();
    // Periods within the tolerance of the median count; a stray gap of a millisecond or more
    // splits one period in two, which then do not. The quota's overrun is repaid in the next
    // period, so runs alternate (about 28 and 32 ms for 30 ms here): only sums are fair.
    let typical = median(&spacings)?;
    let tolerance = THROTTLE_SPACING_TOLERANCE * typical as f64;
    let regular: Vec<usize> = (0..spacings.len())
        .filter(|&i| spacings[i].abs_diff(typical) as f64 <= tolerance)
        .collect();
    if typical == 0 || (regular.len() as f64) < THROTTLE_MIN_REGULAR_SHARE * spacings.len() as f64 {
        return None;
    }
    let total_spacing: u64 = regular.iter().map(|&i| spacings[i]).sum();
    let total_run: u64 = regular.iter().map(|&i| runs[i].min(spacings[i])).sum();
    let period = typical;
    let matches = match cgroup {
        CgroupPeriod::Quota(ns) => {
            Some((period as f64 / ns as f64 - 1.0).abs() <= THROTTLE_PERIOD_TOLERANCE)
        }
        _ => None,
    };
    match matches {
        Some(false) => return None,
        None if period < THROTTLE_MIN_UNKNOWN_PERIOD_NS => return None,
        _ => {}
    }
    Some(Throttle {
        period_ms: period as f64 / 1e6,
        quota_ratio: total_run as f64 / total_spacing as f64,
        matches_cgroup_period: matches,
    })
}

/// The [`LARGEST_GAPS`] longest gaps, longest first.
fn largest(gaps: &[Gap]) -> Vec<Gap> {
    let mut sorted = gaps.to_vec();
    sorted.sort_unstable_by(|a, b| b.len_ns.cmp(&a.len_ns).then(a.start_ns.cmp(&b.start_ns)));
    sorted.truncate(LARGEST_GAPS);
    sorted
}

fn median(values: &[u64]) -> Option<u64> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len().checked_sub(1)? / 2).copied()
}

/// Nearest-rank quantile of `values` (ns), in ms.
fn quantile_ms(values: &[u64], q: f64) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
    sorted.get(rank - 1).map(|&ns| ns as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(gaps: Vec<Gap>, duration_ns: u64) -> SpinRecord {
        SpinRecord {
            clock: "test".into(),
            cpu: Some(1),
            duration_ns,
            iterations: 1,
            min_delta_ns: 10,
            threshold_ns: 80,
            gaps_count: gaps.len() as u64,
            gaps_total_ns: gaps.iter().map(|g| g.len_ns).sum(),
            gaps,
            kernel: Default::default(),
        }
    }

    /// Runs of `run_ms` then gaps of `gap_ms`, `count` times, plus a 1 µs interrupt in each run.
    fn pattern(run_ms: u64, gap_ms: u64, count: u64) -> Vec<Gap> {
        let mut gaps = Vec::new();
        for i in 0..count {
            let start = i * (run_ms + gap_ms) * 1_000_000;
            gaps.push(Gap {
                start_ns: start + 1_000_000,
                len_ns: 1_000,
            });
            gaps.push(Gap {
                start_ns: start + run_ms * 1_000_000,
                len_ns: gap_ms * 1_000_000,
            });
        }
        gaps
    }

    #[test]
    fn a_hog_gives_equal_turns_and_no_throttling() {
        let r = record(pattern(3, 3, 100), 600_000_000);
        let kernel = KernelView {
            runqueue_wait_ns: Some(300_000_000),
            involuntary_switches: Some(100),
            steal_ns: Some(0),
            cgroup_period: CgroupPeriod::Unknown,
        };
        let j = infer(&r, &kernel, DEFAULT_PREEMPT_THRESHOLD_NS);
        assert_eq!((j.preemptions_count, j.noise_gaps_count), (100, 100));
        assert_eq!(j.timeslice_p50_ms, Some(3.0));
        assert_eq!(j.off_cpu_gap_p50_ms, Some(3.0));
        assert!((j.off_cpu_ratio - 0.50017).abs() < 1e-4);
        // 100 µs of interrupts is not covered by run-queue wait: 0.017% unexplained.
        assert!((j.unexplained_ratio.unwrap() - 100_000.0 / 6e8).abs() < 1e-9);
        assert_eq!(j.throttle, None, "a 6 ms period is turns, not a quota");
        let gaps = j.gaps_ns.unwrap();
        assert_eq!((gaps.count, gaps.min), (200, 1_000));
        assert_eq!(j.largest_gaps.len(), LARGEST_GAPS);
        assert_eq!(
            j.largest_gaps[0],
            Gap {
                start_ns: 3_000_000,
                len_ns: 3_000_000
            }
        );
        assert_eq!(
            j.timeslice_from_counters_ms,
            Some(299_900_000.0 / 100.0 / 1e6)
        );
    }

    #[test]
    fn a_quota_gives_a_period_and_a_share() {
        let gaps = pattern(30, 70, 20);
        let preemptions: Vec<_> = gaps
            .iter()
            .copied()
            .filter(|g| g.len_ns >= 100_000)
            .collect();
        let quota = CgroupPeriod::Quota(100_000_000);
        let t = throttle(&preemptions, quota).unwrap();
        assert_eq!(t.period_ms, 100.0);
        assert!((t.quota_ratio - 0.3).abs() < 1e-9);
        assert_eq!(t.matches_cgroup_period, Some(true));
        let wrong = CgroupPeriod::Quota(250_000_000);
        assert_eq!(throttle(&preemptions, wrong), None, "wrong period");
        let unknown = throttle(&preemptions, CgroupPeriod::Unknown);
        assert_eq!(unknown.map(|t| t.matches_cgroup_period), Some(None));
        let no_quota = throttle(&preemptions, CgroupPeriod::NoQuota);
        assert_eq!(no_quota, None, "no quota, no throttling");
        assert_eq!(throttle(&preemptions[..4], quota), None, "too few gaps");
    }

    #[test]
    fn stray_gaps_and_repaid_overruns_do_not_hide_the_pattern() {
        // Runs alternate 28 and 32 ms (overrun repaid), each period ending at a multiple of
        // 100 ms; a 400 µs and a 1.5 ms stray gap land in two of the runs.
        let mut gaps = Vec::new();
        for i in 0..20u64 {
            let run = if i % 2 == 0 { 28 } else { 32 };
            let end = (i + 1) * 100_000_000;
            gaps.push(Gap {
                start_ns: end - (100 - run) * 1_000_000,
                len_ns: (100 - run) * 1_000_000,
            });
        }
        gaps.push(Gap {
            start_ns: 305_000_000,
            len_ns: 400_000,
        });
        gaps.push(Gap {
            start_ns: 805_000_000,
            len_ns: 1_500_000,
        });
        gaps.sort_by_key(|g| g.start_ns);
        let t = throttle(&gaps, CgroupPeriod::Quota(100_000_000)).unwrap();
        assert!((t.period_ms - 100.0).abs() < 0.01, "{t:?}");
        assert!((t.quota_ratio - 0.30).abs() < 0.01, "{t:?}");
    }

    #[test]
    fn another_tasks_ticks_inside_the_periods_do_not_hide_the_pattern() {
        // 20 periods of 30 ms on the CPU, 70 ms throttled; in 12 of them another task also
        // takes a 4 ms tick (as seen in CI), which the thread makes up before the throttle.
        let mut gaps = Vec::new();
        for i in 0..20u64 {
            let period = i * 100_000_000;
            let ticked = i % 5 < 3;
            let run = if ticked { 34_000_000 } else { 30_000_000 };
            if ticked {
                gaps.push(Gap {
                    start_ns: period + 10_000_000,
                    len_ns: 4_000_000,
                });
            }
            gaps.push(Gap {
                start_ns: period + run,
                len_ns: 100_000_000 - run,
            });
        }
        let t = throttle(&gaps, CgroupPeriod::Quota(100_000_000)).unwrap();
        assert!((t.period_ms - 100.0).abs() < 0.01, "{t:?}");
        assert!((t.quota_ratio - 0.30).abs() < 1e-9, "{t:?}");
    }

    #[test]
    fn regular_short_gaps_are_not_throttling() {
        let gaps: Vec<Gap> = (0..20)
            .map(|i| Gap {
                start_ns: i * 50_000_000,
                len_ns: 300_000,
            })
            .collect();
        assert_eq!(throttle(&gaps, CgroupPeriod::Unknown), None);
    }

    #[test]
    fn irregular_gaps_are_not_a_pattern() {
        let gaps: Vec<Gap> = [0u64, 100, 130, 300, 310, 500, 700]
            .iter()
            .map(|ms| Gap {
                start_ns: ms * 1_000_000,
                len_ns: 5_000_000,
            })
            .collect();
        assert_eq!(throttle(&gaps, CgroupPeriod::Unknown), None);
    }

    #[test]
    fn a_quiet_spin_has_no_timeslice() {
        let j = infer(
            &record(vec![], 1_000_000_000),
            &KernelView::default(),
            DEFAULT_PREEMPT_THRESHOLD_NS,
        );
        assert_eq!((j.off_cpu_ratio, j.preemptions_count), (0.0, 0));
        assert_eq!(
            (j.timeslice_p50_ms, j.unexplained_ratio, j.throttle),
            (None, None, None)
        );
    }
}
