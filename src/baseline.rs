//! Reading criterion's saved baselines (any project's, not only ours) into plain structs,
//! and the statistics `dynoprobe compare` needs: per-sample means, their CV, a Mann–Whitney
//! U test between two baselines, and runs per dollar.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::report::kind::Kind;
use crate::sidecar::MeasuredTime;

/// criterion's `Throughput`, as it serialises it (`{"Bytes": 4096}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Throughput {
    Bytes(u64),
    BytesDecimal(u64),
    Elements(u64),
    Bits(u64),
    ElementsAndBytes { elements: u64, bytes: u64 },
}

impl Throughput {
    /// The throughput at `ns_per_iteration`, as a number and its unit.
    pub fn rate(&self, ns_per_iteration: f64) -> (f64, &'static str) {
        let per_s = 1e9 / ns_per_iteration;
        match *self {
            Throughput::Bytes(b) => (b as f64 * per_s / (1 << 20) as f64, "MiB/s"),
            Throughput::BytesDecimal(b) => (b as f64 * per_s / 1e6, "MB/s"),
            Throughput::Elements(e) => elements(e as f64 * per_s),
            Throughput::Bits(b) => (b as f64 * per_s / 1e6, "Mbit/s"),
            Throughput::ElementsAndBytes { elements: e, .. } => elements(e as f64 * per_s),
        }
    }
}

/// Elements a second in the decimal unit that leaves one to a thousand of them (76,674,153
/// printed raw as "76674152.8 elem/s").
fn elements(per_s: f64) -> (f64, &'static str) {
    match per_s {
        x if x >= 1e9 => (x / 1e9, "Gelem/s"),
        x if x >= 1e6 => (x / 1e6, "Melem/s"),
        x if x >= 1e3 => (x / 1e3, "Kelem/s"),
        x => (x, "elem/s"),
    }
}

/// One benchmark in one baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Benchmark {
    /// criterion's full id, e.g. `chase-l2/dynoprobe`.
    pub id: String,
    pub throughput: Option<Throughput>,
    /// criterion's median estimate, ns per iteration.
    pub median_ns: f64,
    /// criterion's median absolute deviation estimate, ns per iteration.
    pub mad_ns: f64,
    /// criterion's mean estimate, ns per iteration.
    pub mean_ns: f64,
    /// Each sample's total time / its iterations, ns.
    pub sample_means_ns: Vec<f64>,
    /// Samples outside tukey.json's severe fences.
    pub severe_outliers_count: u64,
    /// From our sidecar, when the bench wrote one.
    pub p99_run_ns: Option<u64>,
    pub off_cpu_ratio: Option<f64>,
    /// The time the figures are in: from the sidecar; wall time (criterion's default) where
    /// there is none, or in files written before this field.
    #[serde(default)]
    pub measured_time: MeasuredTime,
    /// The median of each independent replicate (a `run` report, as the geometric mean of its
    /// processes' medians; a `drive` batch; a saved `cargo bench`), ns per iteration: what
    /// `compare` tests. Empty in baselines exported before replicates were kept: then the
    /// median is the one replicate.
    #[serde(default)]
    pub replicate_medians_ns: Vec<f64>,
}

/// `x` as written, or in exponent form where that would be long (1e308 is 309 digits,
/// 1e-320 has 320 zeros).
fn short(x: f64) -> String {
    if x == 0.0 || (1e-6..1e12).contains(&x.abs()) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// The longest time per iteration believed: a day. Longer is a corrupt or edited file (a
/// median of 1e308 ns printed a 300-digit cell).
pub const MAX_PLAUSIBLE_NS: f64 = 86_400e9;
/// The shortest median or mean time per iteration believed: a picosecond, far below one
/// instruction. Shorter is a corrupt file (a median of 1e-320 ns printed "0.0 ns" beside
/// "inf MiB/s" and "inf" runs per dollar).
pub const MIN_PLAUSIBLE_NS: f64 = 1e-3;

impl Benchmark {
    /// Why its figures cannot be measurements, if they cannot: a time per iteration that is
    /// not finite, negative (-0 too), under [`MIN_PLAUSIBLE_NS`] or over
    /// [`MAX_PLAUSIBLE_NS`] (a sample's may be 0, a MAD 0), or an off-CPU share outside 0–1. Files from outside (criterion's, exported
    /// baselines) are checked with it; a negative median printed "-5.0 ns ± -1.0 ns".
    pub fn implausible(&self) -> Option<String> {
        let time = |name: &str, ns: f64, zero_too: bool| {
            // -0 is refused too: it passes `>= 0.0` and prints "-0.0 ns".
            let low = if zero_too {
                ns >= 0.0
            } else {
                ns >= MIN_PLAUSIBLE_NS
            } && !ns.is_sign_negative();
            (!(ns.is_finite() && low && ns <= MAX_PLAUSIBLE_NS))
                .then(|| format!("{name} {} ns is no time per iteration", short(ns)))
        };
        time("median", self.median_ns, false)
            .or_else(|| time("mean", self.mean_ns, false))
            .or_else(|| time("MAD", self.mad_ns, true))
            .or_else(|| {
                (self.sample_means_ns.iter()).find_map(|&ns| time("a sample's mean", ns, true))
            })
            .or_else(|| {
                (self.replicate_medians_ns.iter())
                    .find_map(|&ns| time("a replicate's median", ns, false))
            })
            .or_else(|| {
                self.off_cpu_ratio
                    .filter(|r| !(0.0..=1.0).contains(r) || r.is_sign_negative())
                    .map(|r| format!("off_cpu_ratio {} is no share of the time", short(r)))
            })
    }

    /// Each replicate's median, ns per iteration ([`Benchmark::replicate_medians_ns`], or the
    /// median alone where none were kept).
    pub fn replicates_ns(&self) -> Vec<f64> {
        if self.replicate_medians_ns.is_empty() {
            vec![self.median_ns]
        } else {
            self.replicate_medians_ns.clone()
        }
    }

    /// Coefficient of variation of the per-sample means.
    pub fn sample_cv(&self) -> Option<f64> {
        let n = self.sample_means_ns.len() as f64;
        if n < 2.0 {
            return None;
        }
        let mean = self.sample_means_ns.iter().sum::<f64>() / n;
        let var = self
            .sample_means_ns
            .iter()
            .map(|x| (x - mean).powi(2))
            .sum::<f64>()
            / (n - 1.0);
        (mean > 0.0).then(|| var.sqrt() / mean)
    }
}

impl Benchmark {
    /// A benchmark from single measurements instead of criterion's samples: each run's wall
    /// time from a `run --json` report, each call's latency from a `drive --json` result.
    /// Each measurement stands as a sample; median, MAD and p99 are nearest-rank, severe
    /// outliers are outside Tukey's fences at 3 × the interquartile range, as criterion's.
    /// `None` without measurements, or with one that is not a finite time.
    pub fn from_samples(
        id: String,
        throughput: Option<Throughput>,
        samples_ns: Vec<f64>,
        off_cpu_ratio: Option<f64>,
    ) -> Option<Benchmark> {
        if samples_ns
            .iter()
            .any(|ns| !ns.is_finite() || ns.is_sign_negative())
        {
            return None;
        }
        let q = crate::stats::Quartiles::of(&samples_ns)?;
        let mut deviations: Vec<f64> = samples_ns.iter().map(|x| (x - q.median_ns).abs()).collect();
        deviations.sort_by(f64::total_cmp);
        let mut sorted = samples_ns.clone();
        sorted.sort_by(f64::total_cmp);
        let fence = 3.0 * (q.q3_ns - q.q1_ns);
        Some(Benchmark {
            id,
            throughput,
            median_ns: q.median_ns,
            mad_ns: *crate::stats::nearest_rank(&deviations, 0.5)?,
            mean_ns: samples_ns.iter().sum::<f64>() / samples_ns.len() as f64,
            severe_outliers_count: samples_ns
                .iter()
                .filter(|&&x| x < q.q1_ns - fence || x > q.q3_ns + fence)
                .count() as u64,
            p99_run_ns: crate::stats::nearest_rank(&sorted, 0.99).map(|ns| ns.round() as u64),
            off_cpu_ratio,
            measured_time: MeasuredTime::Wall,
            sample_means_ns: samples_ns,
            replicate_medians_ns: vec![q.median_ns],
        })
    }
}

/// A named baseline and its benchmarks, sorted by id. The form `--export` writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub name: String,
    pub benchmarks: Vec<Benchmark>,
}

/// A baseline as `--export` writes it: tagged with its kind, for `compare` to read back.
#[derive(Debug, Serialize)]
pub struct Exported<'a> {
    /// Always [`Kind::Baseline`].
    pub kind: Kind,
    #[serde(flatten)]
    pub baseline: &'a Baseline,
}

impl Exported<'_> {
    pub fn of(baseline: &Baseline) -> Exported<'_> {
        Exported {
            kind: Kind::Baseline,
            baseline,
        }
    }
}

/// Everything read from a criterion directory, and what could not be.
#[derive(Debug, Default)]
pub struct Found {
    pub baselines: BTreeMap<String, Vec<Benchmark>>,
    /// What was skipped: each benchmark that could not be read, and each directory.
    pub warnings: Vec<Skipped>,
}

/// A benchmark, or a directory of them, that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Skipped {
    /// The baseline it belongs to; `None` for a directory, which could hold any.
    pub baseline: Option<String>,
    /// The file and what was wrong.
    pub why: String,
}

/// Why nothing could be read.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("{0} does not exist; run `cargo bench` first, or name the directory with --target-dir")]
    NoDirectory(PathBuf),
    #[error("no criterion benchmarks under {0} (no */benchmark.json)")]
    Empty(PathBuf),
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Found {
    /// The benchmark in `path` under baseline `name`, or a warning that says why it could
    /// not be read; criterion's own `change` directory is not a baseline.
    fn add(&mut self, name: String, path: &Path) {
        if name == "change" {
            return;
        }
        match read_benchmark(path) {
            Ok(benchmark) => self.baselines.entry(name).or_default().push(benchmark),
            Err(why) => self.warnings.push(Skipped {
                baseline: Some(name),
                why,
            }),
        }
    }
}

/// Reads every baseline under `dir` (a criterion home such as `target/criterion`).
pub fn read_dir(dir: &Path) -> Result<Found, BaselineError> {
    if !dir.exists() {
        return Err(BaselineError::NoDirectory(dir.into()));
    }
    // The top directory must be readable: "no benchmarks" would hide a permission denied.
    std::fs::read_dir(dir).map_err(|source| BaselineError::Read {
        path: dir.into(),
        source,
    })?;
    let mut found = Found::default();
    let mut stack = vec![dir.to_path_buf()];
    // Each real directory once, however many symlinks lead to it: `ln -s . loop` counted
    // every benchmark 41 times (until the path was too long), and two such loops never ended.
    let mut seen = std::collections::HashSet::new();
    while let Some(current) = stack.pop() {
        let Ok(real) = current.canonicalize() else {
            continue;
        };
        if !seen.insert(real) {
            continue;
        }
        let entries = match std::fs::read_dir(&current) {
            Ok(entries) => entries,
            Err(e) => {
                let shown = current.display();
                found.warnings.push(Skipped {
                    baseline: None,
                    why: format!("{shown}: its benchmarks, unreadable ({e})"),
                });
                continue;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_dir() || entry.file_name() == "report" {
                continue;
            }
            if path.join("benchmark.json").is_file() {
                found.add(entry.file_name().to_string_lossy().into_owned(), &path);
            } else {
                stack.push(path);
            }
        }
    }
    if found.baselines.is_empty() && found.warnings.is_empty() {
        return Err(BaselineError::Empty(dir.into()));
    }
    for benchmarks in found.baselines.values_mut() {
        benchmarks.sort_by(|a, b| a.id.cmp(&b.id));
    }
    found.warnings.sort();
    Ok(found)
}

#[derive(Deserialize)]
struct BenchmarkFile {
    full_id: String,
    throughput: Option<Throughput>,
}

#[derive(Deserialize)]
struct EstimatesFile {
    mean: Estimate,
    median: Estimate,
    median_abs_dev: Estimate,
}

#[derive(Deserialize)]
struct Estimate {
    point_estimate: f64,
}

#[derive(Deserialize)]
struct SampleFile {
    iters: Vec<f64>,
    times: Vec<f64>,
}

#[derive(Deserialize)]
struct SidecarFile {
    wall_ns: SidecarWall,
    off_cpu_ratio: f64,
    #[serde(default)]
    measured_time: MeasuredTime,
}

#[derive(Deserialize)]
struct SidecarWall {
    p99: u64,
}

/// One benchmark directory (`…/<id>/<baseline>/`), or a warning naming file and field.
///
/// Its files: `benchmark.json` (id, throughput), `estimates.json` (mean, median, MAD: ns per
/// iteration), `sample.json` (iterations and total ns of each sample), `tukey.json` (outlier
/// fences), and our `dynoprobe.json` sidecar when the bench wrote one. A file that is
/// missing or corrupt costs only that benchmark, with a warning naming the file and field.
fn read_benchmark(dir: &Path) -> Result<Benchmark, String> {
    let benchmark: BenchmarkFile = read_json(&dir.join("benchmark.json"))?;
    let estimates: EstimatesFile = read_json(&dir.join("estimates.json"))?;
    let sample: SampleFile = read_json(&dir.join("sample.json"))?;
    if sample.iters.len() != sample.times.len() || sample.iters.iter().any(|&i| i <= 0.0) {
        return Err(format!(
            "{}: field `iters`: {} positive counts expected, to match `times`",
            dir.join("sample.json").display(),
            sample.times.len()
        ));
    }
    let sample_means_ns: Vec<f64> = sample
        .times
        .iter()
        .zip(&sample.iters)
        .map(|(t, i)| t / i)
        .collect();
    // tukey.json: [low severe, low mild, high mild, high severe]. Optional: older runs lack it.
    let severe_outliers_count = read_json::<[f64; 4]>(&dir.join("tukey.json"))
        .map(|fences| {
            sample_means_ns
                .iter()
                .filter(|&&m| m < fences[0] || m > fences[3])
                .count() as u64
        })
        .unwrap_or(0);
    let sidecar = dir.join(crate::sidecar::SIDECAR_FILE);
    let sidecar: Option<SidecarFile> = if sidecar.is_file() {
        Some(read_json(&sidecar)?)
    } else {
        None
    };
    let read = Benchmark {
        id: benchmark.full_id,
        throughput: benchmark.throughput,
        median_ns: estimates.median.point_estimate,
        mad_ns: estimates.median_abs_dev.point_estimate,
        mean_ns: estimates.mean.point_estimate,
        sample_means_ns,
        severe_outliers_count,
        p99_run_ns: sidecar.as_ref().map(|s| s.wall_ns.p99),
        off_cpu_ratio: sidecar.as_ref().map(|s| s.off_cpu_ratio),
        measured_time: sidecar.map(|s| s.measured_time).unwrap_or_default(),
        // One `cargo bench` is one replicate, whatever its sample count.
        replicate_medians_ns: vec![estimates.median.point_estimate],
    };
    match read.implausible() {
        Some(why) => Err(format!("{}: {why}", dir.display())),
        None => Ok(read),
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Seconds in a month as cloud price lists count it: 730 hours.
pub const SECONDS_PER_MONTH: f64 = 730.0 * 3600.0;

/// Iterations one instance does for one dollar when it runs them back to back at
/// `ns_per_iteration` for a month costing `usd_per_month`.
pub fn runs_per_dollar(ns_per_iteration: f64, usd_per_month: f64) -> f64 {
    1e9 / ns_per_iteration * SECONDS_PER_MONTH / usd_per_month
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_benchmark_from_single_runs_has_nearest_rank_figures() {
        // 1..=9 and one far run: median 5, |x − 5| sorted 0,1,1,2,2,3,3,4,4,95 → MAD 2;
        // quartiles 3 and 8, fences 3 × 5 = 15 beyond them: 100 is a severe outlier.
        let mut runs: Vec<f64> = (1..=9).map(f64::from).collect();
        runs.push(100.0);
        let b = Benchmark::from_samples("w".into(), None, runs, Some(0.25)).unwrap();
        assert_eq!((b.median_ns, b.mad_ns, b.mean_ns), (5.0, 2.0, 14.5));
        assert_eq!((b.severe_outliers_count, b.p99_run_ns), (1, Some(100)));
        assert_eq!(b.sample_means_ns.len(), 10);
        assert_eq!(b.off_cpu_ratio, Some(0.25));
        assert!(Benchmark::from_samples("w".into(), None, Vec::new(), None).is_none());
        assert!(Benchmark::from_samples("w".into(), None, vec![1.0, f64::NAN], None).is_none());
        assert!(Benchmark::from_samples("w".into(), None, vec![-1.0], None).is_none());
    }

    /// The values a probe of edited files found printed as nonsense are each refused.
    #[test]
    fn figures_that_cannot_be_measurements_are_named() {
        let good =
            Benchmark::from_samples("w".into(), None, vec![4.0, 5.0, 6.0], Some(0.5)).unwrap();
        assert_eq!(good.implausible(), None);
        type Edit = fn(&mut Benchmark);
        let cases: [(&str, Edit); 11] = [
            ("median -5 ns", |b| b.median_ns = -5.0),
            ("median 1e308 ns", |b| b.median_ns = 1e308),
            ("mean NaN ns", |b| b.mean_ns = f64::NAN),
            ("MAD -1 ns", |b| b.mad_ns = -1.0),
            ("a sample's mean -3 ns", |b| b.sample_means_ns[1] = -3.0),
            ("a sample's mean inf ns", |b| {
                b.sample_means_ns[0] = 1.0 / 1e-320
            }),
            ("a replicate's median 0 ns", |b| {
                b.replicate_medians_ns = vec![0.0]
            }),
            ("off_cpu_ratio 1e308", |b| b.off_cpu_ratio = Some(1e308)),
            // Found by tests/fuzz_files.rs: -0 passed and printed "± -0.0 ns", "-0.0%".
            ("MAD -0 ns", |b| b.mad_ns = -0.0),
            ("off_cpu_ratio -0", |b| b.off_cpu_ratio = Some(-0.0)),
            ("median 1e-320 ns", |b| b.median_ns = 1e-320),
        ];
        for (said, edit) in cases {
            let mut bad = good.clone();
            edit(&mut bad);
            let why = bad.implausible().unwrap_or_default();
            assert!(why.starts_with(said), "{said}: {why:?}");
        }
        let mut zero_spread = good.clone();
        (zero_spread.mad_ns, zero_spread.sample_means_ns[0]) = (0.0, 0.0);
        assert_eq!(
            zero_spread.implausible(),
            None,
            "a MAD or a sample of 0 can be"
        );
    }

    #[test]
    fn runs_per_dollar_over_a_month() {
        // 1 ms per run: 1000 runs/s × 2,628,000 s / $25 = 105,120,000 runs per dollar.
        assert!((runs_per_dollar(1e6, 25.0) - 105_120_000.0).abs() < 1e-3);
    }

    #[test]
    fn throughput_units() {
        assert_eq!(Throughput::Bytes(1 << 20).rate(1e9), (1.0, "MiB/s"));
        assert_eq!(Throughput::BytesDecimal(1_000_000).rate(1e9), (1.0, "MB/s"));
        assert_eq!(Throughput::Elements(10).rate(1e9), (10.0, "elem/s"));
        assert_eq!(
            Throughput::Elements(76_674_153).rate(1e9),
            (76.674153, "Melem/s")
        );
        assert_eq!(Throughput::Elements(2_500).rate(1e9), (2.5, "Kelem/s"));
        assert_eq!(Throughput::Elements(3).rate(1.0), (3.0, "Gelem/s"));
        let both: Throughput =
            serde_json::from_str(r#"{"ElementsAndBytes":{"elements":3,"bytes":9}}"#).unwrap();
        assert_eq!(both.rate(1e9), (3.0, "elem/s"));
    }

    #[test]
    fn sample_cv_uses_the_sample_standard_deviation() {
        let b = Benchmark {
            id: "x".into(),
            throughput: None,
            median_ns: 0.0,
            mad_ns: 0.0,
            mean_ns: 0.0,
            sample_means_ns: vec![2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0],
            severe_outliers_count: 0,
            p99_run_ns: None,
            off_cpu_ratio: None,
            measured_time: MeasuredTime::Wall,
            replicate_medians_ns: Vec::new(),
        };
        // mean 5, sum of squares 32, s = sqrt(32/7)
        assert!((b.sample_cv().unwrap() - (32.0f64 / 7.0).sqrt() / 5.0).abs() < 1e-12);
    }
}
