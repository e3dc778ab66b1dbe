//! From a spin record and the kernel's counters to what happened to the spinning thread: the
//! ledger by cause, the timeslice, whether throttles recur at the cgroup's period, and the
//! kernel's own figures for the same thread and interval beside ours.

use serde::Serialize;

use super::cause::{ByCause, Cause, Ratios};
use super::gap_log::{LoggedGap, logged_gaps};
use super::spin::{Gap, Interrupts, Raised, SpinRecord};
use crate::signal::kconfig::Accounting;
use crate::stats::{Distribution, nearest_rank};

/// How many of the largest gaps the report lists, with their start times and causes.
pub const LARGEST_GAPS: usize = 10;
/// Intervals of the gap timeline (the hiccup chart): 200 points draw a 2 s spin in 10 ms
/// steps and a 1 min spin in 300 ms steps, fine enough to see a throttle period.
pub const TIMELINE_INTERVALS: u64 = 200;

/// Fewest throttled gaps for a throttling pattern to be claimed: two spacings, so that a
/// period is seen to repeat.
pub const THROTTLE_MIN_GAPS: usize = 3;
/// A spacing between throttles' ends counts as regular when it is within this fraction of
/// the median… A throttle ends when the period timer refills the quota, so the ends recur
/// exactly; the slack is for the wake-up after it (a tick of 4 ms at 250 Hz is 4% of a
/// 100 ms period). Measured in the cgroup v2 guest: periods of 99.9–100.1 and 199.9–200.0 ms.
pub const THROTTLE_SPACING_TOLERANCE: f64 = 0.1;
/// …and at least this share of the spacings must be regular: a period in which a preemption
/// or a host pause ate the quota's run may end early or not throttle at all.
pub const THROTTLE_MIN_REGULAR_SHARE: f64 = 0.8;
/// The pattern's period must match the cgroup's `cfs_period` within this fraction (as
/// [`THROTTLE_SPACING_TOLERANCE`]).
pub const THROTTLE_PERIOD_TOLERANCE: f64 = 0.1;

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
    /// The span the counters cover: the loop and the reads around it, ns. Their shares are
    /// of this span, the ledger's of the loop's.
    pub span_ns: u64,
    /// Run-queue wait of the spinning thread (schedstat), ns.
    pub runqueue_wait_ns: Option<u64>,
    /// Involuntary context switches of the spinning thread (getrusage).
    pub involuntary_switches: Option<u64>,
    /// Steal on the CPU it spun on (all CPUs' average when not pinned), `/proc/stat`, ns.
    pub steal_ns: Option<u64>,
    /// Time the CPU cgroup was throttled (`cpu.stat`), ns.
    pub throttled_ns: Option<u64>,
    /// The CPU cgroup's quota period.
    pub cgroup_period: CgroupPeriod,
}

/// Where the spin's wall time went: the share on the CPU and the share lost to each cause
/// (serialised as `{cause}_ratio`). The shares add up to 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ledger {
    pub on_cpu_ratio: f64,
    #[serde(flatten)]
    pub lost: Ratios,
}

impl Ledger {
    /// The share lost to `cause`.
    pub fn ratio(&self, cause: Cause) -> f64 {
        self.lost.0[cause]
    }
}

/// The gaps of one cause: how many, how long in all, and how long each (from the kept gaps;
/// `null` when none was kept).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CauseGaps {
    pub count: u64,
    pub total_ns: u64,
    /// The kernel's run-queue wait over the intervals these gaps ended: about `total_ns` for
    /// preempted and throttled gaps, about 0 for the others.
    pub runqueue_wait_ns: u64,
    pub p50_ns: Option<u64>,
    pub p99_ns: Option<u64>,
    pub max_ns: Option<u64>,
}

/// The jitter section of a report: one spinning thread's view. Times in the unit named.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Jitter {
    pub clock: String,
    pub cpu: Option<usize>,
    /// The loop's own span, ns: the ledger's shares are of it.
    pub duration_ns: u64,
    /// The loop's own iteration: the median non-zero delta between two clock reads, ns.
    pub read_delta_ns: u64,
    /// Iterations of the loop.
    pub iterations_count: u64,
    /// Gaps per iteration: over [`MAX_GAPS_PER_ITERATION`](super::spin::MAX_GAPS_PER_ITERATION)
    /// the threshold was within the loop's own cost.
    pub gaps_per_iteration_ratio: f64,
    /// Set when the auto threshold saw gaps in too many iterations (the loop's own cost) and
    /// was raised for a second spin, whose figures these are.
    pub threshold_raised: Option<Raised>,
    /// Gaps above this were recorded.
    pub threshold_ns: u64,
    /// Gaps at least this long were attributed to a cause; shorter ones are `short`.
    pub attribute_threshold_ns: u64,
    /// Gaps above `threshold_ns`, of every cause.
    pub gaps_count: u64,
    /// Time in gaps / duration: 1 − `ledger.on_cpu_ratio`.
    pub off_cpu_ratio: f64,
    pub ledger: Ledger,
    pub causes: ByCause<CauseGaps>,
    /// Gaps after which the thread's involuntary switches had moved: times the scheduler
    /// took the CPU away (preempted gaps, and throttled ones it switched the thread out for).
    pub preemptions_count: u64,
    /// The involuntary switches counted in those gaps, summed. A gap can hold more than one:
    /// the thread can be switched out again before it is back in user space to read the clock
    /// (315 switches in 310 gaps in one quota'd spin beside another task here).
    pub switches_in_gaps_count: u64,
    /// The kernel's count for the same thread (getrusage), to check `preemptions_count` and
    /// `switches_in_gaps_count`.
    pub involuntary_switches_count: Option<u64>,
    /// The kernel's run-queue wait for the thread, a share of the span its counters were read
    /// over (the loop and the reads around it), to check preempted + throttled.
    pub runqueue_wait_ratio: Option<f64>,
    /// Steal of the CPU spun on over the spin (`/proc/stat`, 10 ms ticks), to check `stolen`.
    pub steal_ratio: Option<f64>,
    /// The cgroup's throttled time over the spin (`cpu.stat`), a share of the same span, to
    /// check `throttled`.
    pub cgroup_throttled_ratio: Option<f64>,
    /// Whether the cgroup has a quota and its `cpu.stat` could be read after each attributed
    /// gap, so throttling is told apart from preemption.
    pub sees_throttling: bool,
    /// How the guest kernel's interrupts were told from host pauses.
    pub interrupts: InterruptMethod,
    /// The kernel's timer tick rate (`CONFIG_HZ`), where its configuration says: on a busy
    /// CPU, about this many `interrupt` gaps a second are its tick.
    pub tick_hz: Option<u32>,
    /// Run between consecutive preempted gaps, less stolen gaps within (the time the
    /// scheduler counted as the thread's turn).
    pub timeslice_p50_ms: Option<f64>,
    pub timeslice_p90_ms: Option<f64>,
    pub timeslice_mean_ms: Option<f64>,
    /// Timeslice estimated without spinning: on-CPU time / involuntary switches.
    pub timeslice_from_counters_ms: Option<f64>,
    /// Length of the gaps the thread was switched out for (preempted and throttled).
    pub off_cpu_gap_p50_ms: Option<f64>,
    pub off_cpu_gap_max_ms: Option<f64>,
    /// Gap time that no kernel counter accounts for (unreported + short) / duration.
    pub unexplained_ratio: f64,
    /// Time spent reading counters after gaps / duration: what attribution cost.
    pub attribution_cost_ratio: f64,
    pub throttle: Option<Throttle>,
    /// Every recorded gap's length (HdrHistogram).
    pub gaps_ns: Option<Distribution>,
    /// The longest gaps, longest first, with when they began (ns since the spin started).
    pub largest_gaps: Vec<Gap>,
    /// The spin cut into [`TIMELINE_INTERVALS`] equal intervals, each with its longest
    /// attributed gap (jHiccup's hiccup chart); intervals with none are left out.
    pub timeline: Vec<TimelinePoint>,
    /// Every attributed gap kept, with the counters that decided it (`--gaps FILE`; not in
    /// the report's JSON).
    #[serde(skip)]
    pub gap_log: Vec<LoggedGap>,
    /// The kernel's accounting the gaps were attributed under, as read and as the spin
    /// showed it ([`accounting_seen`]); the report's `machine.accounting`.
    #[serde(skip)]
    pub accounting: Option<Accounting>,
}

/// The kernel's accounting as a spin shows it ([`Accounting::with_spin_seen`]): from the
/// steal `/proc/stat` counted on its CPU while it held it (not while switched out) and the
/// CPU time its stolen gaps lacked. Where it shows interrupt time kept out of the thread's
/// CPU time and `read` did not say so, the stolen gaps that had a guest interrupt and no
/// switch in them were the interrupt's, and move to `interrupt`. A spin not pinned to one
/// CPU (its steal is every CPU's average) shows nothing.
pub fn accounting_seen(
    record: &mut SpinRecord,
    kernel: &KernelView,
    read: Accounting,
) -> Accounting {
    let (Some(_), Some(steal_ns)) = (record.cpu, kernel.steal_ns) else {
        return read;
    };
    let switched_ns =
        record.tally(Cause::Preempted).total_ns + record.tally(Cause::Throttled).total_ns;
    let held = 1.0 - switched_ns as f64 / record.duration_ns.max(1) as f64;
    let steal_held_ns = (steal_ns as f64 * held.max(0.0)) as u64;
    let missing_ns = record.tally(Cause::Stolen).total_ns;
    let seen = read.clone().with_spin_seen(steal_held_ns, missing_ns);
    if seen.irq_shows() && !read.irq_shows() {
        interrupted_steal_to_interrupt(record);
    }
    seen
}

/// Moves the kept stolen gaps that had a guest interrupt and no switch in them to
/// `interrupt`, with their tallies.
fn interrupted_steal_to_interrupt(record: &mut SpinRecord) {
    for gap in &mut record.gaps {
        let interrupted = gap
            .delta
            .is_some_and(|d| d.switches == 0 && d.interrupts.is_some_and(|n| n > 0));
        if gap.cause == Cause::Stolen && interrupted {
            gap.reattribute(Cause::Interrupt, &mut record.tallies);
        }
    }
}

/// One interval of the gap timeline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TimelinePoint {
    /// Where the interval starts, ns since the spin began; it lasts `duration / intervals`.
    pub start_ns: u64,
    /// The longest gap that began in it, and its cause.
    pub worst_ns: u64,
    pub cause: Cause,
}

/// How the guest kernel's interrupts were told from host pauses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InterruptMethod {
    pub method: Method,
    /// The tracepoints counted, or why none were and what was done instead.
    pub how: String,
}

/// The method, as in the JSON (`perf`, `tick-phase`, `none`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Every interrupt counted after each gap (perf).
    Perf,
    /// Not counted, but the gaps that cover the timer tick's phase are the tick's (other
    /// interrupts stay in `unreported`).
    TickPhase,
    /// Interrupt gaps are all in `unreported`.
    None,
}

impl InterruptMethod {
    pub fn of(interrupts: &Interrupts) -> InterruptMethod {
        match interrupts {
            Interrupts::Counted(events) => InterruptMethod {
                method: Method::Perf,
                how: format!(
                    "perf counts the thread's interrupt tracepoints, read after each gap: {}",
                    events.join(", ")
                ),
            },
            Interrupts::NotCounted { why, tick: Ok(t) } => InterruptMethod {
                method: Method::TickPhase,
                how: format!(
                    "not counted per gap ({why}); the timer tick found by its phase instead: {} gaps cover one phase of {} µs, of {:.0} ticks expected; other interrupts are in unreported",
                    t.gaps_count,
                    t.period_ns / 1_000,
                    t.expected
                ),
            },
            Interrupts::NotCounted {
                why,
                tick: Err(no_tick),
            } => InterruptMethod {
                method: Method::None,
                how: format!(
                    "not counted per gap ({why}), and {no_tick}: interrupt gaps are in unreported"
                ),
            },
        }
    }

    /// Whether any interrupt gap could be named.
    pub fn named(&self) -> bool {
        self.method != Method::None
    }
}

/// Off-CPU gaps recurring at a fixed period: a CPU quota.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Throttle {
    /// Median spacing of the throttled gaps' ends (when the period timer refills the quota).
    pub period_ms: f64,
    /// CPU time the cgroup was given / total period, over the regular periods.
    pub quota_ratio: f64,
    /// Whether `period_ms` matched the cgroup's own period (`None`: it was not readable).
    pub matches_cgroup_period: Option<bool>,
}

impl Throttle {
    /// The time the quota held the cgroup off the CPU in each period, ms.
    pub fn stopped_ms(&self) -> f64 {
        self.period_ms * (1.0 - self.quota_ratio)
    }
}

/// Infers the jitter section from `record` and the kernel's counters over it.
pub fn infer(record: &SpinRecord, kernel: &KernelView) -> Jitter {
    let duration = record.duration_ns.max(1) as f64;
    let share = |ns: u64| ns as f64 / duration;
    let kernel_share = |ns: u64| ns as f64 / kernel.span_ns.max(1) as f64;
    let of = |cause: Cause| share(record.tally(cause).total_ns);
    let gaps_total_ns = record.gaps_total_ns().min(record.duration_ns);
    let ledger = Ledger {
        on_cpu_ratio: 1.0 - share(gaps_total_ns),
        lost: Ratios(ByCause::from_fn(of)),
    };
    let gaps = ByCause::from_fn(|cause| CauseGaps::of(record, cause));
    let switched: Vec<u64> = lengths(&record.gaps, Cause::switched_out);
    let runs = timeslices(&record.gaps);
    let on_cpu_ns = record.duration_ns - gaps_total_ns;
    Jitter {
        clock: record.clock.clone(),
        cpu: record.cpu,
        duration_ns: record.duration_ns,
        read_delta_ns: record.read_delta_ns,
        iterations_count: record.iterations,
        gaps_per_iteration_ratio: record.gaps_per_iteration(),
        threshold_raised: record.raised,
        threshold_ns: record.threshold_ns,
        attribute_threshold_ns: record.attribute_threshold_ns,
        gaps_count: record.gaps_count(),
        off_cpu_ratio: share(gaps_total_ns),
        ledger,
        causes: gaps,
        preemptions_count: record.preemptions_count,
        switches_in_gaps_count: record.switches_in_gaps_count,
        involuntary_switches_count: kernel.involuntary_switches,
        runqueue_wait_ratio: kernel.runqueue_wait_ns.map(kernel_share),
        steal_ratio: kernel.steal_ns.map(kernel_share),
        cgroup_throttled_ratio: kernel.throttled_ns.map(kernel_share),
        sees_throttling: record.sees_throttling,
        interrupts: InterruptMethod::of(&record.interrupts),
        tick_hz: record.tick_hz,
        timeslice_p50_ms: quantile_ms(&runs, 0.5),
        timeslice_p90_ms: quantile_ms(&runs, 0.9),
        timeslice_mean_ms: (!runs.is_empty())
            .then(|| runs.iter().sum::<u64>() as f64 / runs.len() as f64 / 1e6),
        timeslice_from_counters_ms: kernel
            .involuntary_switches
            .filter(|&n| n > 0)
            .map(|n| on_cpu_ns as f64 / n as f64 / 1e6),
        off_cpu_gap_p50_ms: quantile_ms(&switched, 0.5),
        off_cpu_gap_max_ms: switched.iter().max().map(|&ns| ns as f64 / 1e6),
        unexplained_ratio: ledger.ratio(Cause::Unreported) + ledger.ratio(Cause::Short),
        attribution_cost_ratio: share(record.attribution_ns),
        throttle: throttle(&record.gaps, kernel.cgroup_period),
        gaps_ns: Distribution::of(record.gaps.iter().map(|g| g.len_ns)),
        largest_gaps: largest(&record.gaps),
        timeline: timeline(&record.gaps, record.duration_ns),
        gap_log: logged_gaps(record),
        accounting: None,
    }
}

impl CauseGaps {
    fn of(record: &SpinRecord, cause: Cause) -> CauseGaps {
        let tally = record.tally(cause);
        let kept = Distribution::of(lengths(&record.gaps, |c| c == cause));
        CauseGaps {
            count: tally.count,
            total_ns: tally.total_ns,
            runqueue_wait_ns: tally.wait_ns,
            p50_ns: kept.map(|d| d.p50),
            p99_ns: kept.map(|d| d.p99),
            max_ns: kept.map(|d| d.max),
        }
    }
}

/// Lengths of the gaps whose cause passes `keep`.
fn lengths(gaps: &[Gap], keep: impl Fn(Cause) -> bool) -> Vec<u64> {
    gaps.iter()
        .filter(|g| keep(g.cause))
        .map(|g| g.len_ns)
        .collect()
}

fn end(g: &Gap) -> u64 {
    g.start_ns + g.len_ns
}

/// Time in the gaps of `causes` that start between `from` and `to`, ns. `gaps` are in order
/// of start, as the spin records them: only the window's own gaps are looked at.
fn time_in(gaps: &[Gap], from: u64, to: u64, causes: &[Cause]) -> u64 {
    let first = gaps.partition_point(|g| g.start_ns < from);
    let window = &gaps[first..first + gaps[first..].partition_point(|g| g.start_ns < to)];
    window
        .iter()
        .filter(|g| causes.contains(&g.cause))
        .map(|g| g.len_ns)
        .sum()
}

/// Runs between consecutive preempted gaps, less the stolen time within them, ns.
fn timeslices(gaps: &[Gap]) -> Vec<u64> {
    let preempted: Vec<&Gap> = gaps
        .iter()
        .filter(|g| g.cause == Cause::Preempted)
        .collect();
    preempted
        .windows(2)
        .map(|w| {
            let (from, to) = (end(w[0]), w[1].start_ns);
            // The scheduler does not count stolen time as the thread's turn; an unreported
            // pause it does, as the thread's own CPU time.
            let stolen = time_in(gaps, from, to, &[Cause::Stolen]);
            to.saturating_sub(from).saturating_sub(stolen)
        })
        .collect()
}

/// The throttling pattern in the throttled gaps: their ends recur regularly at a period that
/// matches the cgroup's quota period. A cgroup known to have no quota is never throttled.
pub fn throttle(gaps: &[Gap], cgroup: CgroupPeriod) -> Option<Throttle> {
    let throttled: Vec<&Gap> = gaps
        .iter()
        .filter(|g| g.cause == Cause::Throttled)
        .collect();
    if throttled.len() < THROTTLE_MIN_GAPS || cgroup == CgroupPeriod::NoQuota {
        return None;
    }
    // A throttle ends when the period timer refills the quota, once a period; it starts
    // whenever the quota runs out, noticed only at a tick. So periods are measured between
    // the gaps' ends, and the share from the runs between a throttle's end and the next one's
    // start, less other preemptions and steal (neither is charged to the quota).
    let spacings: Vec<u64> = throttled
        .windows(2)
        .map(|w| end(w[1]) - end(w[0]))
        .collect();
    let runs: Vec<u64> = throttled
        .windows(2)
        .map(|w| {
            let (from, to) = (end(w[0]), w[1].start_ns);
            let lost = time_in(gaps, from, to, &[Cause::Preempted, Cause::Stolen]);
            to.saturating_sub(from).saturating_sub(lost)
        })
        .collect();
    // Periods within the tolerance of the median count; a period in which the quota was not
    // used up has no throttle and spans two or more. The quota's overrun is repaid in the next
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
    let matches = match cgroup {
        CgroupPeriod::Quota(ns) => {
            Some((typical as f64 / ns as f64 - 1.0).abs() <= THROTTLE_PERIOD_TOLERANCE)
        }
        _ => None,
    };
    if matches == Some(false) {
        return None;
    }
    Some(Throttle {
        period_ms: typical as f64 / 1e6,
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

/// The longest attributed gap starting in each of [`TIMELINE_INTERVALS`] intervals.
fn timeline(gaps: &[Gap], duration_ns: u64) -> Vec<TimelinePoint> {
    let step_ns = duration_ns.div_ceil(TIMELINE_INTERVALS).max(1);
    let mut points: Vec<TimelinePoint> = Vec::new();
    for gap in gaps.iter().filter(|g| g.cause != Cause::Short) {
        let start_ns = gap.start_ns / step_ns * step_ns;
        match points.last_mut() {
            Some(p) if p.start_ns == start_ns => {
                if gap.len_ns > p.worst_ns {
                    (p.worst_ns, p.cause) = (gap.len_ns, gap.cause);
                }
            }
            _ => points.push(TimelinePoint {
                start_ns,
                worst_ns: gap.len_ns,
                cause: gap.cause,
            }),
        }
    }
    points
}

fn median(values: &[u64]) -> Option<u64> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    nearest_rank(&sorted, 0.5).copied()
}

/// Nearest-rank quantile of `values` (ns), in ms.
fn quantile_ms(values: &[u64], q: f64) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    nearest_rank(&sorted, q).map(|&ns| ns as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jitter::attribute::Delta;

    fn gap(start_ns: u64, len_ns: u64, cause: Cause) -> Gap {
        let switched = cause.switched_out();
        Gap {
            start_ns,
            len_ns,
            cause,
            wait_ns: if switched { len_ns } else { 0 },
            start_tick: 0,
            end_tick: 0,
            delta: None,
        }
    }

    fn record(gaps: Vec<Gap>, duration_ns: u64) -> SpinRecord {
        SpinRecord {
            attribution_ns: 600_000,
            ..SpinRecord::of(gaps, duration_ns)
        }
    }

    /// `count` periods of `run_ms` on the CPU then a gap of `gap_ms` of `cause`, with a 1 µs
    /// short gap 1 ms into each run.
    fn pattern(run_ms: u64, gap_ms: u64, count: u64, cause: Cause) -> Vec<Gap> {
        let mut gaps = Vec::new();
        for i in 0..count {
            let start = i * (run_ms + gap_ms) * 1_000_000;
            gaps.push(gap(start + 1_000_000, 1_000, Cause::Short));
            gaps.push(gap(start + run_ms * 1_000_000, gap_ms * 1_000_000, cause));
        }
        gaps
    }

    #[test]
    fn the_timeline_keeps_each_intervals_longest_attributed_gap() {
        // 2 s in 200 intervals of 10 ms.
        let gaps = [
            gap(1_000_000, 50_000, Cause::Unreported),
            gap(2_000_000, 70_000_000, Cause::Throttled),
            gap(3_000_000, 90_000, Cause::Short),
            gap(15_000_000, 4_000, Cause::Stolen),
            gap(1_999_000_000, 5_000, Cause::Preempted),
        ];
        let points = timeline(&gaps, 2_000_000_000);
        let seen: Vec<(u64, u64, Cause)> = points
            .iter()
            .map(|p| (p.start_ns, p.worst_ns, p.cause))
            .collect();
        assert_eq!(
            seen,
            [
                (0, 70_000_000, Cause::Throttled),
                (10_000_000, 4_000, Cause::Stolen),
                (1_990_000_000, 5_000, Cause::Preempted),
            ],
            "short gaps are not attributed, so not drawn"
        );
        assert!(timeline(&[], 1).is_empty());
    }

    #[test]
    fn a_throttle_in_the_reads_around_the_loop_is_the_kernels_share_not_the_ledgers() {
        // The loop: 20 periods of 30 ms on and 70 ms throttled, 2 s. The kernel's span also
        // holds a throttle in the reads before the loop's first clock read.
        let ms = 1_000_000;
        let r = record(pattern(30, 70, 20, Cause::Throttled), 2_000 * ms);
        let kernel = KernelView {
            span_ns: 2_070 * ms,
            throttled_ns: Some(1_470 * ms),
            cgroup_period: CgroupPeriod::Quota(100 * ms),
            ..KernelView::default()
        };
        let j = infer(&r, &kernel);
        assert!((j.ledger.on_cpu_ratio - 0.3).abs() < 1e-4, "{:?}", j.ledger);
        assert!((j.ledger.ratio(Cause::Throttled) - 0.7).abs() < 1e-12);
        assert_eq!(j.cgroup_throttled_ratio, Some(1_470.0 / 2_070.0));
    }

    #[test]
    fn a_hog_gives_equal_turns_and_a_ledger_that_adds_up() {
        let r = record(pattern(3, 3, 100, Cause::Preempted), 600_000_000);
        let kernel = KernelView {
            span_ns: 600_000_000,
            runqueue_wait_ns: Some(300_000_000),
            involuntary_switches: Some(100),
            steal_ns: Some(0),
            throttled_ns: None,
            cgroup_period: CgroupPeriod::NoQuota,
        };
        let j = infer(&r, &kernel);
        assert_eq!(j.preemptions_count, 100);
        assert_eq!(
            (
                j.causes[Cause::Short].count,
                j.causes[Cause::Short].total_ns
            ),
            (100, 100_000)
        );
        // Lengths go through the histogram: three significant digits.
        let p50 = j.causes[Cause::Preempted].p50_ns.unwrap();
        assert!(p50.abs_diff(3_000_000) <= 3_000, "{p50}");
        assert_eq!(j.causes[Cause::Stolen].p50_ns, None, "no stolen gap kept");
        assert_eq!(j.timeslice_p50_ms, Some(3.0));
        assert_eq!(j.timeslice_mean_ms, Some(3.0));
        assert_eq!(j.off_cpu_gap_p50_ms, Some(3.0));
        assert_eq!(j.ledger.ratio(Cause::Preempted), 0.5);
        assert!((j.ledger.ratio(Cause::Short) - 100_000.0 / 6e8).abs() < 1e-12);
        let l = j.ledger;
        let sum = l.on_cpu_ratio + l.lost.0.iter().map(|(_, r)| r).sum::<f64>();
        assert!((sum - 1.0).abs() < 1e-12, "{l:?}");
        assert_eq!(j.runqueue_wait_ratio, Some(0.5));
        assert_eq!(j.unexplained_ratio, l.ratio(Cause::Short));
        assert_eq!(j.attribution_cost_ratio, 0.001);
        assert_eq!(j.throttle, None, "no throttled gap, no pattern");
        assert_eq!(j.largest_gaps.len(), LARGEST_GAPS);
        assert_eq!(
            j.largest_gaps[0],
            gap(3_000_000, 3_000_000, Cause::Preempted)
        );
        assert_eq!(
            j.timeslice_from_counters_ms,
            Some(299_900_000.0 / 100.0 / 1e6)
        );
    }

    #[test]
    fn stolen_time_is_not_part_of_a_turn_and_host_pauses_are_not_preemptions() {
        let mut gaps = pattern(3, 3, 10, Cause::Preempted);
        // A 500 µs steal and a 300 µs unreported pause inside the second turn (6..9 ms).
        gaps.push(gap(7_000_000, 500_000, Cause::Stolen));
        gaps.push(gap(8_000_000, 300_000, Cause::Unreported));
        let j = infer(&record(gaps, 60_000_000), &KernelView::default());
        assert_eq!(j.preemptions_count, 10);
        assert_eq!(j.causes[Cause::Stolen].total_ns, 500_000);
        assert!(
            j.causes[Cause::Unreported]
                .max_ns
                .unwrap()
                .abs_diff(300_000)
                <= 300
        );
        // Nine turns of 3 ms; one of them had 0.5 ms taken by the hypervisor.
        assert_eq!(j.timeslice_p50_ms, Some(3.0));
        assert!((j.timeslice_mean_ms.unwrap() - (27.0 - 0.5) / 9.0).abs() < 1e-9);
        assert_eq!(j.unexplained_ratio, (300_000.0 + 10_000.0) / 6e7);
    }

    fn unknown() -> Accounting {
        Accounting::read_from(&[std::path::Path::new("/no/such/config")])
    }

    #[test]
    fn a_pinned_spin_shows_the_steal_its_cpu_had_while_it_held_it() {
        // 1 s: 100 ms preempted (the CPU was another task's), 90 ms in stolen gaps, and
        // /proc/stat counted 110 ms of steal on the CPU: 99 ms of it while the spin held it.
        let ms = 1_000_000;
        let gaps = vec![
            gap(0, 100 * ms, Cause::Preempted),
            gap(200 * ms, 90 * ms, Cause::Stolen),
        ];
        let kernel = KernelView {
            steal_ns: Some(110 * ms),
            ..KernelView::default()
        };
        let mut pinned = SpinRecord {
            cpu: Some(1),
            ..record(gaps.clone(), 1_000 * ms)
        };
        let seen = accounting_seen(&mut pinned, &kernel, unknown());
        assert_eq!((seen.steal_excluded, seen.irq_excluded), (Some(true), None));
        assert!(
            seen.source.contains("had 99 ms of steal"),
            "{}",
            seen.source
        );
        assert_eq!(pinned.tally(Cause::Stolen).total_ns, 90 * ms, "unchanged");
        // Unpinned, its steal is every CPU's average: nothing is inferred.
        let mut unpinned = SpinRecord {
            cpu: None,
            ..record(gaps, 1_000 * ms)
        };
        assert_eq!(
            accounting_seen(&mut unpinned, &kernel, unknown()),
            unknown()
        );
    }

    #[test]
    fn gaps_short_of_far_more_cpu_time_than_the_steal_were_interrupts() {
        // No steal, yet 30 gaps of 10 ms lacked their CPU time: interrupt time is kept out
        // of the thread's CPU time. The 25 with an interrupt (and no switch) in them were the
        // interrupt's; the other 5 stay stolen.
        let ms = 1_000_000;
        let delta = |interrupts| Delta {
            wall_ns: 10 * ms,
            cpu_ns: 0,
            switches: 0,
            wait_ns: 0,
            throttled: false,
            throttled_ns: 0,
            interrupts: Some(interrupts),
            cpu_gaps: 1,
        };
        let gaps = || {
            (0..30)
                .map(|i| Gap {
                    delta: Some(delta(u64::from(i >= 5))),
                    ..gap(i * 20 * ms, 10 * ms, Cause::Stolen)
                })
                .collect()
        };
        let mut spin = record(gaps(), 1_000 * ms);
        let kernel = KernelView {
            steal_ns: Some(0),
            ..KernelView::default()
        };
        let seen = accounting_seen(&mut spin, &kernel, unknown());
        assert_eq!((seen.steal_excluded, seen.irq_excluded), (None, Some(true)));
        assert_eq!(spin.tally(Cause::Stolen).count, 5);
        assert_eq!(spin.tally(Cause::Stolen).total_ns, 50 * ms);
        assert_eq!(spin.tally(Cause::Interrupt).total_ns, 250 * ms);
        assert_eq!(
            spin.gaps
                .iter()
                .filter(|g| g.cause == Cause::Interrupt)
                .count(),
            25
        );
        // Where the configuration says interrupt time is counted in, the gaps are kept.
        let mut again = record(gaps(), 1_000 * ms);
        let debian = Accounting::parse("CONFIG_HZ=250\n", "test".into());
        let seen = accounting_seen(&mut again, &kernel, debian);
        assert_eq!(seen.irq_excluded, Some(false));
        assert!(seen.source.contains("; but"), "{}", seen.source);
        assert_eq!(again.tally(Cause::Stolen).count, 30);
    }

    #[test]
    fn a_quota_gives_a_period_and_a_share() {
        let gaps = pattern(30, 70, 20, Cause::Throttled);
        let quota = CgroupPeriod::Quota(100_000_000);
        let t = throttle(&gaps, quota).unwrap();
        assert_eq!(t.period_ms, 100.0);
        assert!((t.quota_ratio - 0.3).abs() < 1e-9);
        assert_eq!(t.matches_cgroup_period, Some(true));
        let wrong = CgroupPeriod::Quota(250_000_000);
        assert_eq!(throttle(&gaps, wrong), None, "wrong period");
        let unknown = throttle(&gaps, CgroupPeriod::Unknown);
        assert_eq!(unknown.map(|t| t.matches_cgroup_period), Some(None));
        assert_eq!(throttle(&gaps, CgroupPeriod::NoQuota), None);
        assert_eq!(throttle(&gaps[..4], quota), None, "too few throttles");
        let preempted = pattern(30, 70, 20, Cause::Preempted);
        assert_eq!(throttle(&preempted, quota), None, "turns are not throttles");
    }

    #[test]
    fn host_pauses_count_against_the_quota_and_preemptions_do_not() {
        // 20 periods of 100 ms: the thread gets 50 ms of CPU, then is throttled 50 ms. In each
        // run a 4 ms preemption (another task's turn, not charged: the run is 54 ms of wall)
        // and a 2 ms unreported host pause (charged as the thread's CPU time, as under TCG).
        let mut gaps = Vec::new();
        for i in 0..20u64 {
            let period = i * 100_000_000;
            gaps.push(gap(period + 10_000_000, 4_000_000, Cause::Preempted));
            gaps.push(gap(period + 20_000_000, 2_000_000, Cause::Unreported));
            gaps.push(gap(period + 54_000_000, 46_000_000, Cause::Throttled));
        }
        let t = throttle(&gaps, CgroupPeriod::Quota(100_000_000)).unwrap();
        assert!((t.period_ms - 100.0).abs() < 1e-9, "{t:?}");
        assert!((t.quota_ratio - 0.50).abs() < 1e-9, "{t:?}");
    }

    #[test]
    fn repaid_overruns_and_a_missed_throttle_do_not_hide_the_pattern() {
        // Runs alternate 28 and 32 ms (overrun repaid); in one period the quota was not used
        // up, so there is no throttle and the spacing is 200 ms.
        let gaps: Vec<Gap> = (0..20u64)
            .filter(|&i| i != 7)
            .map(|i| {
                let run = if i % 2 == 0 { 28 } else { 32 };
                let end = (i + 1) * 100_000_000;
                gap(
                    end - (100 - run) * 1_000_000,
                    (100 - run) * 1_000_000,
                    Cause::Throttled,
                )
            })
            .collect();
        let t = throttle(&gaps, CgroupPeriod::Quota(100_000_000)).unwrap();
        assert!((t.period_ms - 100.0).abs() < 0.01, "{t:?}");
        assert!((t.quota_ratio - 0.30).abs() < 0.01, "{t:?}");
    }

    #[test]
    fn irregular_throttles_are_not_a_pattern() {
        let gaps: Vec<Gap> = [0u64, 100, 130, 300, 310, 500, 700]
            .iter()
            .map(|ms| gap(ms * 1_000_000, 5_000_000, Cause::Throttled))
            .collect();
        assert_eq!(throttle(&gaps, CgroupPeriod::Unknown), None);
    }

    #[test]
    fn a_quiet_spin_has_no_timeslice() {
        let j = infer(&record(vec![], 1_000_000_000), &KernelView::default());
        assert_eq!((j.off_cpu_ratio, j.preemptions_count), (0.0, 0));
        assert_eq!(j.ledger.on_cpu_ratio, 1.0);
        assert_eq!((j.timeslice_p50_ms, j.throttle), (None, None));
        assert_eq!(j.causes[Cause::Preempted].max_ns, None);
    }
}
