//! Runs a prepared workload a number of times after a warm-up and times every run.
//!
//! Timing and bookkeeping stay outside the timed call; the observer that drives a progress
//! bar is called between runs, never inside one.

use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::span::{Span, SpanStats};
use serde::Serialize;

use crate::stats::{Distribution, Recorder, Spread};
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

/// The measured runs of one workload; each run was timed inside a [`Span`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measured {
    pub name: &'static str,
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
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ByRun {
    /// 1 when every run is here; k when runs 0, k, 2k… are.
    pub every: u32,
    /// Wall time of each kept run, ns.
    pub wall_ns: Vec<u64>,
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
            ns_per_op: Vec::with_capacity(kept),
        }
    }

    fn keep(&mut self, run: u32, wall_ns: u64, ns_per_op: Option<f64>) {
        if run.is_multiple_of(self.every) {
            self.wall_ns.push(wall_ns);
            self.ns_per_op.extend(ns_per_op);
        }
    }
}

/// `ns_per_op` is recorded in ps per op, so that a few ns keep three significant digits.
const PS_PER_NS: f64 = 1000.0;

/// Span results accumulated over runs.
#[derive(Debug, Default)]
struct Tally {
    wall: Recorder,
    on_cpu: Recorder,
    off_cpu: Recorder,
    wall_total_ns: u64,
    off_cpu_total_ns: u64,
    wait_total_ns: Option<u64>,
    preempted_runs: Option<u64>,
    ps_per_op: Recorder,
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
        by_run.keep(done, run.wall_ns, ns_per_op);
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

/// One workload's runs as reports carry them: what was measured, and two figures derived
/// from it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkloadReport {
    #[serde(flatten)]
    pub measured: Measured,
    /// `bytes_per_run` / median wall time of a run.
    pub throughput_bytes_per_s: Option<f64>,
    /// `off_cpu_ratio − runqueue_wait_ratio`: off the CPU but not waiting for it. For pure
    /// computation that is steal (the steal clock keeps it out of thread CPU time) and page
    /// faults served from disk. Host pauses the hypervisor does not report count as on-CPU
    /// time here: only the spin sees them.
    pub other_off_cpu_ratio: Option<f64>,
}

impl WorkloadReport {
    pub fn from_measured(measured: Measured) -> WorkloadReport {
        let median_s = measured.wall_ns.p50 as f64 / 1e9;
        WorkloadReport {
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
pub(crate) mod tests {
    use super::*;

    /// Three runs of 1, 2 and 3 ms wall time, 1 ms each on the CPU, 4 MB each.
    pub(crate) fn measured() -> Measured {
        Measured {
            name: "json-serde-value",
            bytes_per_run: 4_000_000,
            runs_count: 3,
            wall_ns: Distribution::of([1_000_000, 2_000_000, 3_000_000]).unwrap(),
            on_cpu_ns: Distribution::of([1_000_000, 1_000_000, 1_000_000]).unwrap(),
            off_cpu_ns: Distribution::of([0, 1_000_000, 2_000_000]).unwrap(),
            off_cpu_ratio: 0.5,
            preempted_runs_count: Some(2),
            runqueue_wait_ratio: None,
            ns_per_op: None,
            checksum: 42,
            by_run: ByRun {
                every: 1,
                wall_ns: vec![1_000_000, 2_000_000, 3_000_000],
                ns_per_op: Vec::new(),
            },
        }
    }

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
            by_run.keep(run, u64::from(run), Some(1.5));
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

    #[test]
    fn throughput_is_bytes_over_the_median() {
        let w = WorkloadReport::from_measured(measured());
        // The median is 2 ms to within the histogram's 0.1%: 4 MB / 2 ms = 2 GB/s.
        let throughput = w.throughput_bytes_per_s.unwrap();
        assert!((throughput / 2e9 - 1.0).abs() < 1e-3, "{throughput}");
        assert_eq!(w.other_off_cpu_ratio, None);
    }
}
