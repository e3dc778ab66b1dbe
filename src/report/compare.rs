//! `compare`'s result: a row per benchmark (or group), a cell per baseline with its ratio to
//! the first, that ratio's interval from independent replicates ([`crate::effect`]), whether
//! the difference is significant, and what a run costs.

use std::collections::BTreeMap;

use serde::Serialize;

use super::kind::Kind;
use crate::baseline::{Baseline, Benchmark, Throughput, runs_per_dollar};
use crate::effect::{Effect, effect, geometric_mean};
use crate::sidecar::MeasuredTime;
use crate::stats::{Quartiles, nearest_rank};

/// Version of the comparison's JSON layout; bumped when a field changes meaning or goes away.
/// Version 1: an object `{schema_version, alpha, rows}` (before, a bare array of rows);
/// cells carry `samples`, the quartiles of criterion's per-sample means. Since added:
/// `left_out` and `over_time`. Version 2: the test is over independent replicates, not
/// samples: `ratio` is the ratio of the geometric means of the replicates' medians, with its
/// interval (`ci_low`, `ci_high`) and `replicates_count`; `p_value` is Welch's on their logs,
/// `significant` says the interval excludes 1 (or the `min_effect` band); a cell of one
/// replicate (or against a first column of one) has no interval and no significance. Since
/// added: `kind`. Version 3: cells say their `measured_time` (wall, thread CPU or off-CPU
/// time); off-CPU cells have no ratio (they compare `off_cpu_points`), and only wall time has
/// a cost; a `left_out` conflict's `first` and `other` name what differs
/// (`{"throughput": …}` or `{"measured_time": …}`). Version 4: a run report is one
/// replicate (the geometric mean of its processes' medians), so a column of one run has no
/// interval; `one_run_columns` is gone.
pub const COMPARE_SCHEMA_VERSION: u32 = 4;

/// What to compare and how.
pub struct ComparePlan<'a> {
    /// The columns, in order; the first is what every other is compared to.
    pub baselines: &'a [Baseline],
    /// A benchmark id's row key, or `None` to leave the benchmark out (a filter, a grouping).
    pub key: &'a dyn Fn(&str) -> Option<String>,
    /// Whether several benchmarks of one baseline may share a row (cells are then labelled
    /// `baseline:benchmark`).
    pub grouped: bool,
    /// 1 − the confidence of each interval.
    pub alpha: f64,
    /// Differences smaller than this share (0.05: 5%) do not matter: a cell is significant
    /// only when its interval lies wholly outside `[1 / (1 + e), 1 + e]`.
    pub min_effect: f64,
    /// USD per month, by baseline name.
    pub prices_usd_per_month: &'a BTreeMap<String, f64>,
    /// Keep only rows where some cell differs from the first by at least this many percent.
    pub threshold_percent: Option<f64>,
    /// Results over time: each baseline's batches, by baseline name.
    pub over_time: &'a [(String, Vec<TimePoint>)],
}

/// One batch of a result over time (a `drive --every` line): when it began and how its
/// benchmark's samples were spread.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimePoint {
    pub benchmark: String,
    /// When the batch began, ms since the Unix epoch (the measuring machine's clock).
    pub started_unix_ms: u64,
    pub samples_count: u64,
    pub median_ns: f64,
    pub p99_ns: f64,
}

/// The whole comparison, as `compare --json` writes it.
#[derive(Debug, Serialize)]
pub struct Comparison {
    /// Always [`Kind::Comparison`].
    pub kind: Kind,
    pub schema_version: u32,
    pub alpha: f64,
    pub min_effect: f64,
    pub rows: Vec<Row>,
    /// Rows not compared because a benchmark's definition differs between baselines.
    pub left_out: Vec<Conflict>,
    /// Each baseline's batches per row, when it was measured over time.
    pub over_time: Vec<Series>,
}

/// One benchmark defined differently in two baselines, so its row would compare different
/// work or different quantities and is left out.
#[derive(Debug, Serialize)]
pub struct Conflict {
    pub key: String,
    pub benchmark: String,
    pub first: (String, Definition),
    pub other: (String, Definition),
}

/// What a benchmark's figures stand for, where two baselines may disagree.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Definition {
    /// The work per iteration: bytes or elements.
    Throughput(Throughput),
    /// The time measured: wall, thread CPU or off-CPU.
    MeasuredTime(MeasuredTime),
}

/// One baseline's batches of one row, in time order.
#[derive(Debug, Serialize)]
pub struct Series {
    pub baseline: String,
    pub key: String,
    pub points: Vec<TimePoint>,
}

/// One hour of the day (UTC) over a series' batches, whatever the day.
#[derive(Debug, PartialEq, Serialize)]
pub struct Hour {
    /// 0 to 23, UTC.
    pub hour_utc: u8,
    pub batches_count: u64,
    pub samples_count: u64,
    /// The nearest-rank median of the batches' medians.
    pub median_of_medians_ns: f64,
    /// The highest batch p99.
    pub worst_p99_ns: f64,
}

impl Series {
    /// The batches by hour of the day (UTC), hours with none left out: how the result varies
    /// by time of day when the batches span days.
    pub fn by_hour_utc(&self) -> Vec<Hour> {
        (0..24u8)
            .filter_map(|hour| {
                let of_hour: Vec<&TimePoint> = self
                    .points
                    .iter()
                    .filter(|p| p.started_unix_ms / 3_600_000 % 24 == u64::from(hour))
                    .collect();
                let mut medians: Vec<f64> = of_hour.iter().map(|p| p.median_ns).collect();
                medians.sort_by(f64::total_cmp);
                Some(Hour {
                    hour_utc: hour,
                    batches_count: of_hour.len() as u64,
                    samples_count: of_hour.iter().map(|p| p.samples_count).sum(),
                    median_of_medians_ns: *nearest_rank(&medians, 0.5)?,
                    worst_p99_ns: of_hour.iter().map(|p| p.p99_ns).fold(0.0, f64::max),
                })
            })
            .collect()
    }
}

/// One benchmark (or group) across the baselines.
#[derive(Debug, Serialize)]
pub struct Row {
    pub key: String,
    pub cells: Vec<Cell>,
}

/// One benchmark in one baseline, with what it is compared to.
#[derive(Debug, Serialize)]
pub struct Cell {
    pub baseline: String,
    pub benchmark: String,
    /// criterion's median estimate, ns per iteration.
    pub median_ns: f64,
    /// criterion's median absolute deviation, ns per iteration.
    pub mad_ns: f64,
    /// Coefficient of variation of criterion's per-sample means.
    pub sample_cv: Option<f64>,
    /// The spread of criterion's per-sample means (ns per iteration), for a box plot.
    pub samples: Option<Quartiles>,
    /// The time `median_ns`, `mad_ns` and the replicates are in (the row's, for every cell).
    pub measured_time: MeasuredTime,
    /// From dynoprobe's sidecar, when the bench wrote one.
    pub p99_run_ns: Option<u64>,
    pub off_cpu_ratio: Option<f64>,
    /// `off_cpu_ratio` − the first column's, percentage points: how off-CPU time compares
    /// (a ratio of two off-CPU times near 0 read 15445×).
    pub off_cpu_points: Option<f64>,
    /// At the median, in the unit named beside it; per second of CPU time for thread CPU
    /// time, none for off-CPU time.
    pub throughput: Option<(f64, &'static str)>,
    /// Independent replicates (run reports, batches, saved benches) behind this cell.
    pub replicates_count: usize,
    /// Each replicate's median, ns per iteration.
    pub replicate_medians_ns: Vec<f64>,
    /// The geometric mean of the replicates' medians / the first column's (with one
    /// replicate each: median / median); none for off-CPU time.
    pub ratio: Option<f64>,
    /// The ratio's confidence interval at 1 − alpha (Welch's t on the logs of the replicate
    /// medians); `None` with fewer than two replicates here or in the first column.
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// Welch's two-sided p on the logs of the replicate medians against the first column.
    pub p_value: Option<f64>,
    /// The interval excludes 1 (and the `min_effect` band); `None` where there is none.
    pub significant: Option<bool>,
    /// Runs in a month of 730 h at the baseline's price: wall time only (a price buys wall
    /// time; a CPU shared with a hog read "cost 0.50" from its halved CPU time).
    pub runs_per_dollar: Option<f64>,
    /// Cost per run / the first column's (above 1 = dearer).
    pub cost_ratio: Option<f64>,
}

/// Compares `plan.baselines`; rows keep the order in which their keys first appear.
pub fn compare(plan: &ComparePlan) -> Comparison {
    let mut left_out = Vec::new();
    let mut rows: Vec<Row> = gather(plan)
        .into_iter()
        .filter(|(key, cells)| match conflict(key, cells) {
            Some(c) => {
                left_out.push(c);
                false
            }
            None => true,
        })
        .map(|(key, cells)| Row {
            key,
            cells: cells_against_first(&cells, plan),
        })
        .collect();
    if let Some(threshold) = plan.threshold_percent {
        rows.retain(|row| {
            row.cells.iter().any(|c| {
                c.ratio
                    .is_some_and(|r| (r - 1.0).abs() * 100.0 >= threshold)
            })
        });
    }
    let over_time = series(plan, &rows);
    Comparison {
        kind: Kind::Comparison,
        schema_version: COMPARE_SCHEMA_VERSION,
        alpha: plan.alpha,
        min_effect: plan.min_effect,
        rows,
        left_out,
        over_time,
    }
}

/// The first benchmark of a row whose throughput (of one benchmark in two baselines) or
/// measured time (of any two cells) differs from another's.
fn conflict(key: &str, cells: &[Labelled]) -> Option<Conflict> {
    cells.iter().enumerate().find_map(|(i, (_, name, bench))| {
        cells[..i].iter().find_map(|(_, first_name, first)| {
            let (theirs, mine) = match (first.throughput, bench.throughput) {
                _ if first.measured_time != bench.measured_time => (
                    Definition::MeasuredTime(first.measured_time),
                    Definition::MeasuredTime(bench.measured_time),
                ),
                (Some(theirs), Some(mine)) if first.id == bench.id && theirs != mine => {
                    (Definition::Throughput(theirs), Definition::Throughput(mine))
                }
                _ => return None,
            };
            Some(Conflict {
                key: key.to_string(),
                benchmark: bench.id.clone(),
                first: (first_name.to_string(), theirs),
                other: (name.to_string(), mine),
            })
        })
    })
}

/// Each baseline's batches of each compared row, in time order; series of one batch left
/// out.
fn series(plan: &ComparePlan, rows: &[Row]) -> Vec<Series> {
    let mut all: Vec<Series> = Vec::new();
    for (baseline, points) in plan.over_time {
        for point in points {
            let Some(key) = (plan.key)(&point.benchmark) else {
                continue;
            };
            if !rows.iter().any(|r| r.key == key) {
                continue;
            }
            match all
                .iter_mut()
                .find(|s| &s.baseline == baseline && s.key == key)
            {
                Some(s) => s.points.push(point.clone()),
                None => all.push(Series {
                    baseline: baseline.clone(),
                    key,
                    points: vec![point.clone()],
                }),
            }
        }
    }
    all.retain(|s| s.points.len() > 1);
    for s in &mut all {
        s.points.sort_by_key(|p| p.started_unix_ms);
    }
    all
}

impl Comparison {
    /// Rows where some baseline differs significantly from the first.
    pub fn significant_rows_count(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| r.cells.iter().any(|c| c.significant == Some(true)))
            .count()
    }

    /// The cells whose interval lies wholly at or above `1 + percent / 100`: slower than
    /// their row's first baseline by at least `percent`, with the interval's confidence. What
    /// `--fail-if-slower` fails on: a slowdown the replicates cannot tell from noise, or one
    /// without replicates, does not fail a build.
    pub fn slower_than(&self, percent: f64) -> Vec<(&Row, &Cell)> {
        self.rows
            .iter()
            .flat_map(|row| row.cells.iter().skip(1).map(move |cell| (row, cell)))
            .filter(|(_, c)| c.ci_low.is_some_and(|low| low >= 1.0 + percent / 100.0))
            .collect()
    }

    /// Rows with a cell (the first's included) that has a single replicate: no significance
    /// can be claimed there.
    pub fn single_replicate_rows_count(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| r.cells.iter().any(|c| c.replicates_count < 2))
            .count()
    }
}

/// A labelled benchmark: (label, baseline name, benchmark).
type Labelled<'a> = (String, &'a str, &'a Benchmark);

/// The benchmarks by row key, each labelled with its baseline (and id, when grouped).
fn gather<'a>(plan: &ComparePlan<'a>) -> Vec<(String, Vec<Labelled<'a>>)> {
    let mut rows: Vec<(String, Vec<Labelled>)> = Vec::new();
    for b in plan.baselines {
        for bench in &b.benchmarks {
            let Some(key) = (plan.key)(&bench.id) else {
                continue;
            };
            let label = if plan.grouped {
                format!("{}:{}", b.name, bench.id)
            } else {
                b.name.clone()
            };
            let cell = (label, b.name.as_str(), bench);
            match rows.iter_mut().find(|(k, _)| *k == key) {
                Some((_, cells)) => cells.push(cell),
                None => rows.push((key, vec![cell])),
            }
        }
    }
    rows
}

fn cells_against_first(cells: &[Labelled], plan: &ComparePlan) -> Vec<Cell> {
    let (_, first_name, first) = cells[0];
    let cost = |name: &str, b: &Benchmark| {
        let usd = plan.prices_usd_per_month.get(name)?;
        (b.measured_time == MeasuredTime::Wall).then(|| runs_per_dollar(b.median_ns, *usd))
    };
    // Off-CPU time near 0 makes ratios of noise: it is compared as a share of wall time.
    let timed = first.measured_time != MeasuredTime::OffCpu;
    let first_cost = cost(first_name, first);
    let first_replicates = first.replicates_ns();
    cells
        .iter()
        .enumerate()
        .map(|(i, (label, name, bench))| {
            let replicates = bench.replicates_ns();
            let effect: Option<Effect> = (i > 0 && timed)
                .then(|| effect(&first_replicates, &replicates, plan.alpha))
                .flatten();
            let ratio = (geometric_mean(&replicates).zip(geometric_mean(&first_replicates)))
                .filter(|_| timed)
                .map(|(mine, theirs)| mine / theirs);
            let off_cpu_points = (bench.off_cpu_ratio.zip(first.off_cpu_ratio))
                .filter(|_| i > 0)
                .map(|(mine, theirs)| (mine - theirs) * 100.0);
            let replicates_count = replicates.len();
            let runs_per_dollar = cost(name, bench);
            Cell {
                baseline: label.clone(),
                benchmark: bench.id.clone(),
                median_ns: bench.median_ns,
                mad_ns: bench.mad_ns,
                sample_cv: bench.sample_cv(),
                samples: Quartiles::of(&bench.sample_means_ns),
                measured_time: bench.measured_time,
                p99_run_ns: bench.p99_run_ns,
                off_cpu_ratio: bench.off_cpu_ratio,
                off_cpu_points,
                throughput: (bench.throughput)
                    .filter(|_| timed)
                    .map(|t| t.rate(bench.median_ns)),
                replicates_count,
                replicate_medians_ns: replicates,
                ratio,
                ci_low: effect.map(|e| e.ci_low),
                ci_high: effect.map(|e| e.ci_high),
                p_value: effect.map(|e| e.p_value),
                significant: effect.map(|e| e.excludes(plan.min_effect)),
                runs_per_dollar,
                cost_ratio: runs_per_dollar.zip(first_cost).map(|(a, b)| b / a),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A benchmark whose replicates had these medians (each also a sample).
    fn bench(id: &str, replicates: &[f64]) -> Benchmark {
        let median_ns = crate::effect::geometric_mean(replicates).unwrap();
        Benchmark {
            id: id.into(),
            throughput: None,
            median_ns,
            mad_ns: 1.0,
            mean_ns: median_ns,
            sample_means_ns: replicates.to_vec(),
            severe_outliers_count: 0,
            p99_run_ns: None,
            off_cpu_ratio: None,
            measured_time: MeasuredTime::Wall,
            replicate_medians_ns: replicates.to_vec(),
        }
    }

    /// a/x: twice as slow in perf, clearly; b/x: the same within the replicates' noise.
    fn baselines() -> Vec<Baseline> {
        vec![
            Baseline {
                name: "std".into(),
                benchmarks: vec![
                    bench("a/x", &[100.0, 102.0, 98.0]),
                    bench("b/x", &[50.0, 52.0, 48.0]),
                ],
            },
            Baseline {
                name: "perf".into(),
                benchmarks: vec![
                    bench("a/x", &[200.0, 204.0, 196.0]),
                    bench("b/x", &[51.0, 49.0, 52.0]),
                ],
            },
        ]
    }

    fn plan<'a>(
        baselines: &'a [Baseline],
        key: &'a dyn Fn(&str) -> Option<String>,
        prices: &'a BTreeMap<String, f64>,
    ) -> ComparePlan<'a> {
        ComparePlan {
            baselines,
            key,
            grouped: false,
            alpha: 0.05,
            min_effect: 0.0,
            prices_usd_per_month: prices,
            threshold_percent: None,
            over_time: &[],
        }
    }

    #[test]
    fn cells_are_ratios_to_the_first_with_an_interval_and_cost() {
        let baselines = baselines();
        let prices = BTreeMap::from([("std".to_string(), 25.0), ("perf".to_string(), 250.0)]);
        let key = |id: &str| Some(id.to_string());
        let c = compare(&plan(&baselines, &key, &prices));
        assert_eq!(c.schema_version, COMPARE_SCHEMA_VERSION);
        let a = &c.rows[0];
        assert_eq!(a.key, "a/x");
        assert_eq!(a.cells[0].ratio, Some(1.0));
        assert_eq!(
            (a.cells[0].p_value, a.cells[0].ci_low),
            (None, None),
            "the first column is the reference"
        );
        let slow = &a.cells[1];
        assert!((slow.ratio.unwrap() - 2.0).abs() < 1e-12);
        assert!(
            slow.ci_low.unwrap() > 1.8 && slow.ci_high.unwrap() < 2.2,
            "{slow:?}"
        );
        assert_eq!((slow.significant, slow.replicates_count), (Some(true), 3));
        // Twice as slow at ten times the price: 20 times the cost per run.
        assert!((slow.cost_ratio.unwrap() - 20.0).abs() < 1e-9);
        let same = &c.rows[1].cells[1];
        assert_eq!(same.significant, Some(false), "{same:?}");
        assert!(same.ci_low.unwrap() < 1.0 && same.ci_high.unwrap() > 1.0);
    }

    #[test]
    fn one_replicate_claims_nothing_and_a_small_effect_can_be_waived() {
        let mut baselines = baselines();
        baselines[0].benchmarks[0] = bench("a/x", &[100.0]);
        let prices = BTreeMap::new();
        let key = |id: &str| Some(id.to_string());
        let c = compare(&plan(&baselines, &key, &prices));
        let alone = &c.rows[0].cells[1];
        assert_eq!(
            (alone.significant, alone.ci_low, alone.p_value),
            (None, None, None)
        );
        assert!((alone.ratio.unwrap() - 2.0).abs() < 1e-3, "still a ratio");
        assert_eq!(c.single_replicate_rows_count(), 1);
        assert!(c.slower_than(0.0).is_empty(), "no interval, no failure");

        // 4% slower, clearly, but --min-effect 5 says that does not matter.
        let mut baselines = self::baselines();
        baselines[1].benchmarks[1] = bench("b/x", &[52.0, 52.1, 51.9]);
        baselines[0].benchmarks[1] = bench("b/x", &[50.0, 50.1, 49.9]);
        let mut waived = plan(&baselines, &key, &prices);
        assert_eq!(compare(&waived).rows[1].cells[1].significant, Some(true));
        waived.min_effect = 0.05;
        assert_eq!(compare(&waived).rows[1].cells[1].significant, Some(false));
    }

    #[test]
    fn slower_than_needs_the_whole_interval_above_the_threshold() {
        let baselines = baselines();
        let prices = BTreeMap::new();
        let key = |id: &str| Some(id.to_string());
        let c = compare(&plan(&baselines, &key, &prices));
        let slower: Vec<&str> = c
            .slower_than(50.0)
            .iter()
            .map(|(r, _)| r.key.as_str())
            .collect();
        assert_eq!(slower, ["a/x"], "2×, interval above 1.5");
        assert!(
            c.slower_than(95.0).is_empty(),
            "the interval reaches below 1.95"
        );
        // b/x is 2% slower but within its replicates' noise: never offending.
        assert_eq!(c.slower_than(0.0).len(), 1);
    }

    #[test]
    fn the_key_filters_and_groups_and_the_threshold_drops_small_changes() {
        let baselines = baselines();
        let prices = BTreeMap::new();
        let only_a = |id: &str| id.starts_with('a').then(|| id.to_string());
        let c = compare(&plan(&baselines, &only_a, &prices));
        assert_eq!(c.rows.len(), 1);
        assert_eq!(c.rows[0].cells[1].runs_per_dollar, None, "no price");

        let by_suffix = |id: &str| id.split_once('/').map(|(_, s)| s.to_string());
        let mut grouped = plan(&baselines, &by_suffix, &prices);
        grouped.grouped = true;
        let c = compare(&grouped);
        let labels: Vec<&str> = c.rows[0]
            .cells
            .iter()
            .map(|c| c.baseline.as_str())
            .collect();
        assert_eq!(labels, ["std:a/x", "std:b/x", "perf:a/x", "perf:b/x"]);

        let key = |id: &str| Some(id.to_string());
        let mut threshold = plan(&baselines, &key, &prices);
        threshold.threshold_percent = Some(10.0);
        let c = compare(&threshold);
        assert_eq!(c.rows.len(), 1, "b/x moved 2%");
        assert_eq!(c.rows[0].key, "a/x");
    }

    #[test]
    fn a_benchmark_of_other_work_in_one_baseline_leaves_its_row_out() {
        let mut baselines = baselines();
        baselines[0].benchmarks[0].throughput = Some(Throughput::Bytes(4096));
        baselines[1].benchmarks[0].throughput = Some(Throughput::Bytes(8192));
        let prices = BTreeMap::new();
        let key = |id: &str| Some(id.to_string());
        let c = compare(&plan(&baselines, &key, &prices));
        let keys: Vec<&str> = c.rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["b/x"]);
        let left = &c.left_out[0];
        assert_eq!(left.key, "a/x");
        let work = |bytes| Definition::Throughput(Throughput::Bytes(bytes));
        assert_eq!(left.first, ("std".into(), work(4096)));
        assert_eq!(left.other, ("perf".into(), work(8192)));
        baselines[1].benchmarks[0].throughput = None;
        let c = compare(&plan(&baselines, &key, &prices));
        assert!(c.left_out.is_empty(), "unknown work is not other work");
    }

    #[test]
    fn cpu_time_has_no_cost_and_off_cpu_time_compares_as_a_share() {
        let mut baselines = baselines();
        let prices = BTreeMap::from([("std".to_string(), 25.0), ("perf".to_string(), 25.0)]);
        for b in &mut baselines {
            b.benchmarks[0].measured_time = MeasuredTime::ThreadCpu;
            b.benchmarks[1].measured_time = MeasuredTime::OffCpu;
        }
        // Off-CPU time of 50 ns against 51: a ratio of such times is noise; the shares of
        // wall time they are (0.1% and 2.6%) are what compares.
        baselines[0].benchmarks[1].off_cpu_ratio = Some(0.001);
        baselines[1].benchmarks[1].off_cpu_ratio = Some(0.026);
        let key = |id: &str| Some(id.to_string());
        let c = compare(&plan(&baselines, &key, &prices));
        let cpu = &c.rows[0].cells[1];
        assert_eq!(cpu.measured_time, MeasuredTime::ThreadCpu);
        assert!(
            (cpu.ratio.unwrap() - 2.0).abs() < 0.01,
            "CPU time is a time"
        );
        assert_eq!(
            (cpu.runs_per_dollar, cpu.cost_ratio),
            (None, None),
            "no price for CPU time"
        );
        let off = &c.rows[1].cells[1];
        assert_eq!(
            (off.ratio, off.p_value, off.significant),
            (None, None, None)
        );
        assert!((off.off_cpu_points.unwrap() - 2.5).abs() < 1e-9);
        assert_eq!(off.runs_per_dollar, None);

        // One baseline's CPU time against another's wall time compares different quantities.
        baselines[1].benchmarks[0].measured_time = MeasuredTime::Wall;
        let c = compare(&plan(&baselines, &key, &prices));
        assert_eq!(c.rows.len(), 1);
        let left = &c.left_out[0];
        assert_eq!(
            left.first.1,
            Definition::MeasuredTime(MeasuredTime::ThreadCpu)
        );
        assert_eq!(left.other.1, Definition::MeasuredTime(MeasuredTime::Wall));
    }

    #[test]
    fn batches_over_time_become_series_and_hours_of_the_day() {
        let baselines = baselines();
        let prices = BTreeMap::new();
        let key = |id: &str| Some(id.to_string());
        let hour_ms = 3_600_000;
        let point = |benchmark: &str, hour: u64, median_ns: f64| TimePoint {
            benchmark: benchmark.into(),
            started_unix_ms: hour * hour_ms + 60_000,
            samples_count: 100,
            median_ns,
            p99_ns: median_ns * 3.0,
        };
        // Two days of perf's a/x: 10:00 and 11:00 on day 0, 10:00 on day 1; one batch of b/x.
        let over_time = [(
            "perf".to_string(),
            vec![
                point("a/x", 24 + 10, 300.0),
                point("a/x", 10, 100.0),
                point("a/x", 11, 200.0),
                point("b/x", 10, 50.0),
                point("gone/x", 10, 1.0),
            ],
        )];
        let mut with_time = plan(&baselines, &key, &prices);
        with_time.over_time = &over_time;
        let c = compare(&with_time);
        assert_eq!(c.over_time.len(), 1, "b/x has one batch; gone/x is no row");
        let s = &c.over_time[0];
        assert_eq!((s.baseline.as_str(), s.key.as_str()), ("perf", "a/x"));
        let medians: Vec<f64> = s.points.iter().map(|p| p.median_ns).collect();
        assert_eq!(medians, [100.0, 200.0, 300.0], "in time order");
        let hours = s.by_hour_utc();
        assert_eq!(hours.len(), 2);
        assert_eq!(
            hours[0],
            Hour {
                hour_utc: 10,
                batches_count: 2,
                samples_count: 200,
                median_of_medians_ns: 100.0,
                worst_p99_ns: 900.0
            }
        );
        assert_eq!((hours[1].hour_utc, hours[1].batches_count), (11, 1));
    }
}
