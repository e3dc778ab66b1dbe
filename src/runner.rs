//! Runs a prepared workload a number of times after a warm-up and times every run; the
//! progress observer is called between runs, never inside one.

use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::span::{Span, SpanStats};
use serde::{Deserialize, Serialize};

use crate::stats::{Distribution, Histogram, Spread};
use crate::workload::{Workload, WorkloadError};

/// The most runs one workload may be asked for.
pub const MAX_RUNS: u32 = 1_000_000;
/// The most runs a report keeps one by one ([`ByRun`]); beyond, every k-th run is kept, so
/// a report stays under a few hundred kilobytes. The distributions hold every run.
pub const MAX_RUNS_KEPT: u32 = 10_000;

/// How many runs to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runs {
    /// As many as fit in [`Plan::target`], but at least [`Plan::min_runs`].
    Auto,
    /// Exactly this many (1..=[`MAX_RUNS`]).
    Exactly(u32),
}

/// How a workload is run.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub runs: Runs,
    /// Warm-up: runs until this much time has passed (and at least two runs), untimed.
    pub warmup: Duration,
    /// With [`Runs::Auto`]: the time the measured runs should take together.
    pub target: Duration,
    /// With [`Runs::Auto`]: the fewest measured runs, however long each takes.
    pub min_runs: u32,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            runs: Runs::Auto,
            warmup: Duration::from_millis(150),
            target: Duration::from_secs(1),
            min_runs: 20,
        }
    }
}

/// What the runner tells its observer between runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    WarmingUp,
    /// `done` of `total` measured runs are finished.
    Measuring {
        done: u32,
        total: u32,
    },
}

/// The measured runs of one workload; each run was timed inside a [`Span`]. Read back (from a
/// worker process of `run`) with its name interned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    #[serde(deserialize_with = "interned")]
    pub name: StaticName,
    pub bytes_per_run: u64,
    pub runs_count: u32,
    /// Wall-clock time of each run (`CLOCK_MONOTONIC`), ns.
    pub wall_ns: Distribution,
    /// Thread CPU time of each run (`CLOCK_THREAD_CPUTIME_ID`), ns.
    pub on_cpu_ns: Distribution,
    /// Wall minus thread CPU time of each run, ns.
    pub off_cpu_ns: Distribution,
    /// Total off-CPU time / total wall time over all runs.
    pub off_cpu_ratio: f64,
    /// Runs during which the scheduler preempted the thread at least once (`None` without
    /// `getrusage(RUSAGE_THREAD)`).
    pub preempted_runs_count: Option<u64>,
    /// Total run-queue wait (schedstat) / total wall time (`None` without schedstat).
    pub runqueue_wait_ratio: Option<f64>,
    /// Fixed-work workloads only: each run's median block time per op, ns (see
    /// [`Workload::ns_per_op`]).
    pub ns_per_op: Option<Spread>,
    /// The last run's checksum.
    pub checksum: u64,
    /// Run by run, in the order run: what `compare` tests and the `ns_per_op` chart draws.
    pub by_run: ByRun,
}

/// Each run's figures in the order run; every `every`-th run when there were more than
/// [`MAX_RUNS_KEPT`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ByRun {
    /// 1 when every run is here; k when runs 0, k, 2k… are.
    pub every: u32,
    /// Wall time of each kept run, ns.
    pub wall_ns: Vec<u64>,
    /// Thread CPU time of each kept run, ns (absent before version 5).
    #[serde(default)]
    pub on_cpu_ns: Vec<u64>,
    /// Fixed-work workloads only: each kept run's median block time per op, ns.
    pub ns_per_op: Vec<f64>,
}

impl ByRun {
    /// Room for the kept runs of `total`, allocated before the timed loop.
    fn with_room_for(total: u32) -> ByRun {
        let every = total.div_ceil(MAX_RUNS_KEPT).max(1);
        let kept = total.div_ceil(every) as usize;
        ByRun {
            every,
            wall_ns: Vec::with_capacity(kept),
            on_cpu_ns: Vec::with_capacity(kept),
            ns_per_op: Vec::with_capacity(kept),
        }
    }

    fn keep(&mut self, run: u32, span: &SpanStats, ns_per_op: Option<f64>) {
        if run.is_multiple_of(self.every) {
            self.wall_ns.push(span.wall_ns);
            self.on_cpu_ns.push(span.on_cpu_ns);
            self.ns_per_op.extend(ns_per_op);
        }
    }
}

/// A workload's name. An alias, not `&'static str` written out, because serde borrows a
/// field written as `&str` from its input (so a `Measured` could be read only from a
/// `'static` string); this one is read by `interned` instead.
pub type StaticName = &'static str;

/// `name` as a `&'static str`: the same allocation for every name read more than once (the
/// workloads of each worker process of a `run`), so reading results back leaks only one copy
/// of each distinct name.
fn interned<'de, D: serde::Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    static NAMES: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let name = String::deserialize(d)?;
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(known) = names.iter().find(|n| **n == name) {
        return Ok(known);
    }
    let leaked: &'static str = Box::leak(name.into_boxed_str());
    names.push(leaked);
    Ok(leaked)
}

/// Why the replicates of one workload cannot be pooled.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PoolError {
    #[error("no replicates to pool")]
    Empty,
    #[error(
        "replicates of {workload} disagree on {what} ({first} and {other}): they did not do the same work"
    )]
    Disagree {
        workload: &'static str,
        what: &'static str,
        first: String,
        other: String,
    },
}

impl Measured {
    /// One workload's runs from several independent replicates (worker processes) as one:
    /// the distributions over every kept run of all of them, the shares weighted by wall
    /// time, the counts summed. One replicate is returned as it is. Replicates must agree
    /// on the workload, its bytes per run and its checksum (the same work).
    pub fn pool(mut replicates: Vec<Measured>) -> Result<Measured, PoolError> {
        if replicates.len() <= 1 {
            return replicates.pop().ok_or(PoolError::Empty);
        }
        same_work(&replicates)?;
        let wall_total = |m: &Measured| m.wall_ns.mean * m.wall_ns.count as f64;
        let weight: f64 = replicates.iter().map(wall_total).sum::<f64>().max(1.0);
        let weighted = |share: &dyn Fn(&Measured) -> Option<f64>| -> Option<f64> {
            replicates
                .iter()
                .map(|m| share(m).map(|r| r * wall_total(m)))
                .sum::<Option<f64>>()
                .map(|sum| sum / weight)
        };
        let by_run = ByRun::joined(&replicates);
        let off_cpu = by_run
            .wall_ns
            .iter()
            .zip(&by_run.on_cpu_ns)
            .map(|(wall, on)| wall.saturating_sub(*on));
        let ps_per_op = by_run
            .ns_per_op
            .iter()
            .map(|ns| (ns * PS_PER_NS).round() as u64);
        let first = &replicates[0];
        Ok(Measured {
            name: first.name,
            bytes_per_run: first.bytes_per_run,
            runs_count: replicates.iter().map(|m| m.runs_count).sum(),
            wall_ns: Distribution::of(by_run.wall_ns.iter().copied()).unwrap_or(first.wall_ns),
            on_cpu_ns: Distribution::of(by_run.on_cpu_ns.iter().copied())
                .unwrap_or(first.on_cpu_ns),
            off_cpu_ns: Distribution::of(off_cpu).unwrap_or(first.off_cpu_ns),
            off_cpu_ratio: weighted(&|m| Some(m.off_cpu_ratio)).unwrap_or(first.off_cpu_ratio),
            preempted_runs_count: replicates.iter().map(|m| m.preempted_runs_count).sum(),
            runqueue_wait_ratio: weighted(&|m| m.runqueue_wait_ratio),
            ns_per_op: Distribution::of(ps_per_op).map(|d| d.scaled(PS_PER_NS)),
            checksum: first.checksum,
            by_run,
        })
    }
}

/// Refuses replicates that did not do the same work: another workload, other bytes per
/// run, another checksum.
fn same_work(replicates: &[Measured]) -> Result<(), PoolError> {
    let first = &replicates[0];
    for other in &replicates[1..] {
        let pairs = [
            (
                "the workload",
                first.name.to_string(),
                other.name.to_string(),
            ),
            (
                "bytes per run",
                first.bytes_per_run.to_string(),
                other.bytes_per_run.to_string(),
            ),
            (
                "the checksum",
                first.checksum.to_string(),
                other.checksum.to_string(),
            ),
        ];
        if let Some((what, first_value, other_value)) = pairs.into_iter().find(|(_, a, b)| a != b) {
            return Err(PoolError::Disagree {
                workload: first.name,
                what,
                first: first_value,
                other: other_value,
            });
        }
    }
    Ok(())
}

impl ByRun {
    /// The replicates' runs one after another, thinned as the most thinned of them.
    fn joined(replicates: &[Measured]) -> ByRun {
        let mut by_run = ByRun {
            every: replicates.iter().map(|m| m.by_run.every).max().unwrap_or(1),
            wall_ns: Vec::new(),
            on_cpu_ns: Vec::new(),
            ns_per_op: Vec::new(),
        };
        for m in replicates {
            by_run.wall_ns.extend(&m.by_run.wall_ns);
            by_run.on_cpu_ns.extend(&m.by_run.on_cpu_ns);
            by_run.ns_per_op.extend(&m.by_run.ns_per_op);
        }
        by_run
    }
}

/// One independent replicate of a workload (a worker process's runs), summarised: what
/// `compare` tests across (`wall_ns_p50`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Replicate {
    pub runs_count: u32,
    pub wall_ns_p50: u64,
    pub wall_ns_p90: u64,
    pub wall_ns_p99: u64,
    /// Fixed-work workloads only: the 10th, 50th and 90th percentiles of the runs' median
    /// block time per op, ns (the spread within one process: what `slowed` reads).
    pub ns_per_op_p10: Option<f64>,
    pub ns_per_op_p50: Option<f64>,
    pub ns_per_op_p90: Option<f64>,
}

impl Replicate {
    pub fn of(m: &Measured) -> Replicate {
        Replicate {
            runs_count: m.runs_count,
            wall_ns_p50: m.wall_ns.p50,
            wall_ns_p90: m.wall_ns.p90,
            wall_ns_p99: m.wall_ns.p99,
            ns_per_op_p10: m.ns_per_op.map(|s| s.p10),
            ns_per_op_p50: m.ns_per_op.map(|s| s.p50),
            ns_per_op_p90: m.ns_per_op.map(|s| s.p90),
        }
    }
}

/// `ns_per_op` is recorded in ps per op, so that a few ns keep three significant digits.
const PS_PER_NS: f64 = 1000.0;

/// Span results accumulated over runs.
#[derive(Debug, Default)]
struct Tally {
    wall: Histogram,
    on_cpu: Histogram,
    off_cpu: Histogram,
    wall_total_ns: u64,
    off_cpu_total_ns: u64,
    wait_total_ns: Option<u64>,
    preempted_runs: Option<u64>,
    ps_per_op: Histogram,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            wait_total_ns: Some(0),
            preempted_runs: Some(0),
            ..Tally::default()
        }
    }

    fn add(&mut self, run: &SpanStats) {
        self.wall.record(run.wall_ns);
        self.on_cpu.record(run.on_cpu_ns);
        self.off_cpu.record(run.off_cpu_ns);
        self.wall_total_ns += run.wall_ns;
        self.off_cpu_total_ns += run.off_cpu_ns;
        self.wait_total_ns = self
            .wait_total_ns
            .zip(run.runqueue_wait_ns)
            .map(|(a, b)| a + b);
        self.preempted_runs = self
            .preempted_runs
            .zip(run.preemptions)
            .map(|(runs, p)| runs + u64::from(p > 0));
    }

    fn share(&self, part_ns: u64) -> f64 {
        part_ns as f64 / self.wall_total_ns.max(1) as f64
    }
}

/// Warms `workload` up, decides how many runs to do, and times each.
pub fn measure(
    workload: &mut dyn Workload,
    plan: &Plan,
    observe: &mut dyn FnMut(Progress),
) -> Result<Measured, WorkloadError> {
    measure_until(workload, plan, observe, &mut || false)
}

/// [`measure`], ending early after any run at which `stop` says so (a time budget, a client
/// gone, a shutdown): the result then holds the runs done, at least one.
pub fn measure_until(
    workload: &mut dyn Workload,
    plan: &Plan,
    observe: &mut dyn FnMut(Progress),
    stop: &mut dyn FnMut() -> bool,
) -> Result<Measured, WorkloadError> {
    observe(Progress::WarmingUp);
    let total = match plan.runs {
        Runs::Exactly(n) => {
            warm_up(workload, plan.warmup, 0)?;
            n
        }
        Runs::Auto => auto_runs(plan, warm_up(workload, plan.warmup, 2)?),
    };
    let mut tally = Tally::new();
    let mut by_run = ByRun::with_room_for(total);
    let mut checksum = 0;
    let mut runs_done = 0;
    for done in 0..total {
        let span = Span::start();
        checksum = black_box(workload.run()?);
        let run = span.finish();
        tally.add(&run);
        let ns_per_op = workload.ns_per_op();
        if let Some(ns) = ns_per_op {
            tally.ps_per_op.record((ns * PS_PER_NS).round() as u64);
        }
        by_run.keep(done, &run, ns_per_op);
        runs_done = done + 1;
        observe(Progress::Measuring {
            done: runs_done,
            total,
        });
        if stop() {
            break;
        }
    }
    // `total` is at least 1 (flags are checked, and auto gives min_runs ≥ 1).
    let none = || WorkloadError::new(workload.name(), "no measured runs (asked for 0 runs)");
    Ok(Measured {
        name: workload.name(),
        bytes_per_run: workload.bytes_per_run(),
        runs_count: runs_done,
        wall_ns: tally.wall.summary().ok_or_else(none)?,
        on_cpu_ns: tally.on_cpu.summary().ok_or_else(none)?,
        off_cpu_ns: tally.off_cpu.summary().ok_or_else(none)?,
        off_cpu_ratio: tally.share(tally.off_cpu_total_ns),
        preempted_runs_count: tally.preempted_runs,
        runqueue_wait_ratio: tally.wait_total_ns.map(|ns| tally.share(ns)),
        ns_per_op: tally.ps_per_op.summary().map(|d| d.scaled(PS_PER_NS)),
        checksum,
        by_run,
    })
}

/// Runs until `warmup` has passed and at least `min_runs` times; returns the mean time of
/// a run. A zero `warmup` with no `min_runs` (a server whose workloads stay warm) runs none.
fn warm_up(
    workload: &mut dyn Workload,
    warmup: Duration,
    min_runs: u32,
) -> Result<Duration, WorkloadError> {
    let start = Instant::now();
    let mut runs = 0u32;
    while runs < min_runs || start.elapsed() < warmup {
        black_box(workload.run()?);
        runs += 1;
    }
    Ok(start.elapsed() / runs.max(1))
}

/// Runs that fit in `plan.target` at `per_run` each, clamped to `min_runs..=MAX_RUNS`.
pub fn auto_runs(plan: &Plan, per_run: Duration) -> u32 {
    let fit = plan.target.as_nanos() / per_run.as_nanos().max(1);
    let max = MAX_RUNS.max(plan.min_runs);
    fit.clamp(u128::from(plan.min_runs.max(1)), u128::from(max)) as u32
}

/// One workload's runs as reports carry them: what was measured (pooled over its
/// replicates), each replicate's summary, and two figures derived from it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkloadReport {
    #[serde(flatten)]
    pub measured: Measured,
    /// Each independent replicate (worker process), in the order run; one when the workload
    /// was measured in one process.
    pub replicates: Vec<Replicate>,
    /// The slowest replicate's median run over the fastest's: how far apart processes doing
    /// the same work land (`None` with one replicate). `compare` tests across replicates
    /// because of it.
    pub replicate_p50_max_over_min: Option<f64>,
    /// `bytes_per_run` / median wall time of a run.
    pub throughput_bytes_per_s: Option<f64>,
    /// `off_cpu_ratio − runqueue_wait_ratio`: off the CPU but not waiting for it. For pure
    /// computation that is steal (the steal clock keeps it out of thread CPU time) and page
    /// faults served from disk. Host pauses the hypervisor does not report count as on-CPU
    /// time here: only the spin sees them.
    pub other_off_cpu_ratio: Option<f64>,
}

impl WorkloadReport {
    /// The report of one replicate.
    pub fn from_measured(measured: Measured) -> WorkloadReport {
        let replicates = vec![Replicate::of(&measured)];
        WorkloadReport::of(measured, replicates)
    }

    /// The report of several replicates of one workload, pooled ([`Measured::pool`]).
    pub fn from_replicates(measured: Vec<Measured>) -> Result<WorkloadReport, PoolError> {
        let replicates = measured.iter().map(Replicate::of).collect();
        Ok(WorkloadReport::of(Measured::pool(measured)?, replicates))
    }

    fn of(measured: Measured, replicates: Vec<Replicate>) -> WorkloadReport {
        let median_s = measured.wall_ns.p50 as f64 / 1e9;
        let p50s = replicates.iter().map(|r| r.wall_ns_p50);
        let (least, most) = (p50s.clone().min(), p50s.max());
        WorkloadReport {
            replicate_p50_max_over_min: least
                .zip(most)
                .filter(|&(least, _)| replicates.len() > 1 && least > 0)
                .map(|(least, most)| most as f64 / least as f64),
            replicates,
            throughput_bytes_per_s: (median_s > 0.0)
                .then(|| measured.bytes_per_run as f64 / median_s),
            other_off_cpu_ratio: measured
                .runqueue_wait_ratio
                .map(|wait| (measured.off_cpu_ratio - wait).max(0.0)),
            measured,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::measured;

    struct Counter(u64);
    impl Workload for Counter {
        fn name(&self) -> &'static str {
            "counter"
        }
        fn bytes_per_run(&self) -> u64 {
            8
        }
        fn run(&mut self) -> Result<u64, WorkloadError> {
            self.0 += 1;
            Ok(self.0)
        }
    }

    #[test]
    fn auto_runs_warm_up_at_least_twice_to_estimate_a_run() {
        let plan = Plan {
            warmup: Duration::ZERO,
            target: Duration::ZERO,
            min_runs: 3,
            ..Plan::default()
        };
        let mut workload = Counter(0);
        let measured = measure(&mut workload, &plan, &mut |_| {}).unwrap();
        assert_eq!(measured.runs_count, 3);
        assert_eq!(
            measured.checksum, 5,
            "two warm-up runs, then three measured"
        );
    }

    #[test]
    fn auto_runs_fill_the_target_within_bounds() {
        let plan = Plan::default();
        assert_eq!(auto_runs(&plan, Duration::from_millis(10)), 100);
        assert_eq!(auto_runs(&plan, Duration::from_millis(400)), 20);
        assert_eq!(auto_runs(&plan, Duration::from_nanos(1)), MAX_RUNS);
        assert_eq!(auto_runs(&plan, Duration::ZERO), MAX_RUNS);
    }

    #[test]
    fn past_the_cap_every_kth_run_is_kept_in_the_room_made_before() {
        let mut by_run = ByRun::with_room_for(25_000);
        let room = by_run.wall_ns.capacity();
        for run in 0..25_000 {
            let span = SpanStats {
                wall_ns: u64::from(run),
                ..SpanStats::default()
            };
            by_run.keep(run, &span, Some(1.5));
        }
        assert_eq!(by_run.every, 3);
        assert_eq!(by_run.wall_ns.len(), 8_334);
        assert_eq!(by_run.wall_ns[1], 3);
        assert_eq!(by_run.ns_per_op.len(), 8_334);
        assert_eq!(by_run.wall_ns.capacity(), room, "no allocation in the loop");
        let all = ByRun::with_room_for(MAX_RUNS_KEPT);
        assert_eq!(all.every, 1);
    }

    #[test]
    fn a_stop_ends_the_runs_after_the_one_in_progress() {
        let plan = Plan {
            runs: Runs::Exactly(100),
            warmup: Duration::ZERO,
            ..Plan::default()
        };
        let mut asked = 0;
        let mut stop = || {
            asked += 1;
            asked == 3
        };
        let measured = measure_until(&mut Counter(0), &plan, &mut |_| {}, &mut stop).unwrap();
        assert_eq!(measured.runs_count, 3);
        assert_eq!(measured.wall_ns.count, 3);
        assert_eq!(measured.by_run.wall_ns.len(), 3);
        assert_eq!(measured.checksum, 3);
    }

    #[test]
    fn exact_runs_are_measured_after_the_warm_up() {
        let plan = Plan {
            runs: Runs::Exactly(5),
            warmup: Duration::ZERO,
            ..Plan::default()
        };
        let mut seen = Vec::new();
        let mut workload = Counter(0);
        let measured = measure(&mut workload, &plan, &mut |p| seen.push(p)).unwrap();
        assert_eq!(measured.runs_count, 5);
        assert_eq!(measured.wall_ns.count, 5);
        assert_eq!(measured.on_cpu_ns.count, 5);
        assert!((0.0..=1.0).contains(&measured.off_cpu_ratio));
        assert!(measured.preempted_runs_count.is_some_and(|n| n <= 5));
        assert_eq!(
            measured.ns_per_op, None,
            "the counter does no fixed work in blocks"
        );
        // No warm-up asked for, none done: exactly five runs, the last checksum is 5.
        assert_eq!(measured.checksum, 5);
        assert_eq!(measured.by_run.every, 1);
        assert_eq!(measured.by_run.wall_ns.len(), 5, "every run kept");
        assert!(measured.by_run.ns_per_op.is_empty());
        assert_eq!(seen.first(), Some(&Progress::WarmingUp));
        assert_eq!(
            seen.last(),
            Some(&Progress::Measuring { done: 5, total: 5 })
        );
        assert_eq!(seen.len(), 6);
    }

    #[test]
    fn a_failing_run_is_an_error() {
        struct Failing;
        impl Workload for Failing {
            fn name(&self) -> &'static str {
                "failing"
            }
            fn bytes_per_run(&self) -> u64 {
                0
            }
            fn run(&mut self) -> Result<u64, WorkloadError> {
                Err(WorkloadError::new("failing", "always"))
            }
        }
        let error = measure(&mut Failing, &Plan::default(), &mut |_| {}).unwrap_err();
        assert_eq!(error.to_string(), "workload failing: always");
    }

    /// Two replicates pool into one: every run of both in the distributions, the counts
    /// summed, the off-CPU share weighted by wall time; each keeps its own summary.
    #[test]
    fn replicates_pool_their_runs_and_keep_their_summaries() {
        let mut slow = measured();
        slow.by_run.wall_ns = vec![4_000_000, 5_000_000, 6_000_000];
        slow.by_run.on_cpu_ns = vec![4_000_000; 3];
        slow.wall_ns = Distribution::of(slow.by_run.wall_ns.clone()).unwrap();
        slow.off_cpu_ratio = 0.0;
        let mut fast = measured();
        fast.by_run.on_cpu_ns = vec![1_000_000; 3];
        let w = WorkloadReport::from_replicates(vec![fast, slow]).unwrap();
        let m = &w.measured;
        assert_eq!(m.runs_count, 6);
        assert_eq!(m.wall_ns.count, 6);
        // Within the histogram's 3 significant digits.
        assert!(
            m.wall_ns.min.abs_diff(1_000_000) < 1_000 && m.wall_ns.max.abs_diff(6_000_000) < 6_000
        );
        assert_eq!(m.preempted_runs_count, Some(4));
        // Off-CPU 0.5 of 6 ms and 0 of 15 ms: 3 of 21 ms (the histogram's means, to 0.1%).
        assert!(
            (m.off_cpu_ratio - 3.0 / 21.0).abs() < 1e-3,
            "{}",
            m.off_cpu_ratio
        );
        assert!(
            m.off_cpu_ns.max.abs_diff(2_000_000) < 2_000,
            "{:?}",
            m.off_cpu_ns
        );
        assert_eq!(w.replicates.len(), 2);
        let p50s: Vec<u64> = w
            .replicates
            .iter()
            .map(|r| r.wall_ns_p50 / 10_000)
            .collect();
        assert_eq!(p50s, [200, 500], "ms, to the histogram's 3 digits");
        let spread = w.replicate_p50_max_over_min.unwrap();
        assert!((spread - 2.5).abs() < 0.01, "{spread}");
        assert_eq!(
            WorkloadReport::from_measured(measured()).replicate_p50_max_over_min,
            None
        );
    }

    #[test]
    fn replicates_of_other_work_are_not_pooled() {
        let mut other = measured();
        other.checksum = 7;
        let error = Measured::pool(vec![measured(), other]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "replicates of json-serde-value disagree on the checksum (42 and 7): they did not do the same work"
        );
        assert_eq!(Measured::pool(Vec::new()), Err(PoolError::Empty));
    }

    /// A worker's `Measured` is read back as it was written, its name the same `&'static str`
    /// every time.
    #[test]
    fn measured_round_trips_through_json_with_one_copy_of_each_name() {
        let json = serde_json::to_string(&measured()).unwrap();
        let back: Measured = serde_json::from_str(&json).unwrap();
        assert_eq!(back, measured());
        let again: Measured = serde_json::from_str(&json).unwrap();
        assert!(std::ptr::eq(back.name, again.name));
    }

    #[test]
    fn throughput_is_bytes_over_the_median() {
        let w = WorkloadReport::from_measured(measured());
        // The median is 2 ms to within the histogram's 0.1%: 4 MB / 2 ms = 2 GB/s.
        let throughput = w.throughput_bytes_per_s.unwrap();
        assert!((throughput / 2e9 - 1.0).abs() < 1e-3, "{throughput}");
        assert_eq!(w.other_off_cpu_ratio, None);
    }
}
