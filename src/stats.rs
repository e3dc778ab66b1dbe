//! Distributions of durations (or any non-negative integer quantity) over an HdrHistogram
//! with 3 significant digits (exact below 2048, within 0.1% above): nearest-rank
//! percentiles, spread and tail shape for reports.

use hdrhistogram::Histogram as Hdr;
use serde::{Deserialize, Serialize};

/// The largest value a [`Histogram`] keeps apart: one hour in nanoseconds. Larger values are
/// recorded as this.
pub const MAX_TRACKED: u64 = 3_600_000_000_000;

/// The nearest-rank `q` quantile (`0 < q ≤ 1`) of `sorted` (ascending): the smallest value
/// with at least a `q` share of the values at or below it; `None` when there are none. The
/// one definition behind every percentile dynoprobe prints, histogram or exact.
pub fn nearest_rank<T>(sorted: &[T], q: f64) -> Option<&T> {
    let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
    sorted.get(rank - 1)
}

/// Five numbers of a sample of times in ns (criterion's per-sample means, a server's run
/// times): its least, lower quartile, median, upper quartile and greatest value, by
/// [`nearest_rank`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Quartiles {
    pub min_ns: f64,
    pub q1_ns: f64,
    pub median_ns: f64,
    pub q3_ns: f64,
    pub max_ns: f64,
}

impl Quartiles {
    /// `None` for an empty sample or one with a NaN.
    pub fn of(values: &[f64]) -> Option<Quartiles> {
        let mut sorted = values.to_vec();
        if sorted.iter().any(|v| v.is_nan()) {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let at = |q| nearest_rank(&sorted, q).copied();
        Some(Quartiles {
            min_ns: *sorted.first()?,
            q1_ns: at(0.25)?,
            median_ns: at(0.5)?,
            q3_ns: at(0.75)?,
            max_ns: *sorted.last()?,
        })
    }
}

/// Collects values; cheap to record into (no allocation after [`Histogram::new`]). The
/// histogram keeps three significant digits; the smallest, largest and mean value are kept
/// exactly beside it, so that one value of 1,234,567,890 does not read as min 1,234,173,951
/// < mean < max 1,234,698,239, and every percentile lies between them.
#[derive(Debug, Clone)]
pub struct Histogram {
    histogram: Hdr<u64>,
    min: u64,
    max: u64,
    sum: u128,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    pub fn new() -> Histogram {
        // Bounds and precision are constants within hdrhistogram's limits: this cannot fail.
        let histogram = Hdr::new_with_bounds(1, MAX_TRACKED, 3)
            .unwrap_or_else(|e| unreachable!("constant histogram bounds rejected: {e}"));
        Histogram {
            histogram,
            min: u64::MAX,
            max: 0,
            sum: 0,
        }
    }

    /// Records one value; values above [`MAX_TRACKED`] are recorded as it.
    pub fn record(&mut self, value: u64) {
        let value = value.min(MAX_TRACKED);
        self.histogram.saturating_record(value);
        (self.min, self.max) = (self.min.min(value), self.max.max(value));
        self.sum += u128::from(value);
    }

    /// Forgets every value, keeping the memory.
    pub fn clear(&mut self) {
        self.histogram.reset();
        (self.min, self.max, self.sum) = (u64::MAX, 0, 0);
    }

    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The summary of what was recorded, or `None` when nothing was.
    pub fn summary(&self) -> Option<Distribution> {
        let h = &self.histogram;
        if h.is_empty() {
            return None;
        }
        let q = |quantile: f64| h.value_at_quantile(quantile).clamp(self.min, self.max);
        let mean = self.sum as f64 / h.len() as f64;
        let (stddev, p50, p99) = (h.stdev(), q(0.5), q(0.99));
        Some(Distribution {
            count: h.len(),
            min: self.min,
            mean,
            p10: q(0.1),
            p50,
            p90: q(0.9),
            p99,
            p999: q(0.999),
            max: self.max,
            stddev,
            cv: (mean > 0.0).then(|| stddev / mean),
            mad: median_absolute_deviation(h, p50),
            tail_ratio: (p50 > 0).then(|| p99 as f64 / p50 as f64),
        })
    }
}

/// A summary of recorded values, all in the unit they were recorded in (the field that holds
/// it says which, e.g. `wall_ns`), except `cv` and `tail_ratio`, which are plain ratios.
/// Mean and standard deviation are over the whole population (divide by n).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    /// Values recorded.
    pub count: u64,
    /// The smallest value.
    pub min: u64,
    /// The arithmetic mean.
    pub mean: f64,
    /// The 10th percentile (nearest rank, as every percentile here).
    pub p10: u64,
    /// The median.
    pub p50: u64,
    /// The 90th percentile.
    pub p90: u64,
    /// The 99th percentile.
    pub p99: u64,
    /// The 99.9th percentile.
    pub p999: u64,
    /// The largest value.
    pub max: u64,
    /// Population standard deviation.
    pub stddev: f64,
    /// Coefficient of variation, stddev / mean; `None` when the mean is 0.
    pub cv: Option<f64>,
    /// Median absolute deviation from the median: a spread that one outlier cannot move.
    pub mad: u64,
    /// p99 / p50: how much worse the slow runs are than the typical one; `None` when p50 is 0.
    pub tail_ratio: Option<f64>,
}

impl Distribution {
    /// Summarises `values`; `None` when there are none.
    pub fn of(values: impl IntoIterator<Item = u64>) -> Option<Distribution> {
        let mut recorder = Histogram::new();
        values.into_iter().for_each(|v| recorder.record(v));
        recorder.summary()
    }
}

/// A distribution of fractional values (a time per op of a few ns, say), in their unit. Made
/// from a [`Distribution`] recorded in a finer unit: ns per op recorded as ps per op.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub count: u64,
    pub min: f64,
    pub mean: f64,
    pub p10: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub stddev: f64,
    pub cv: Option<f64>,
}

impl Spread {
    /// p90 / p10: how much slower the slow tenth of the values is than the fast tenth;
    /// `None` when p10 is 0.
    pub fn p90_over_p10(&self) -> Option<f64> {
        (self.p10 > 0.0).then(|| self.p90 / self.p10)
    }
}

impl Distribution {
    /// The same distribution with every value divided by `per_unit` (1000 for ps to ns).
    pub fn scaled(&self, per_unit: f64) -> Spread {
        let unit = |v: u64| v as f64 / per_unit;
        Spread {
            count: self.count,
            min: unit(self.min),
            mean: self.mean / per_unit,
            p10: unit(self.p10),
            p50: unit(self.p50),
            p90: unit(self.p90),
            p99: unit(self.p99),
            p999: unit(self.p999),
            max: unit(self.max),
            stddev: self.stddev / per_unit,
            cv: self.cv,
        }
    }
}

/// The nearest-rank median of |value − median| over the histogram's buckets.
fn median_absolute_deviation(h: &Hdr<u64>, median: u64) -> u64 {
    let mut deviations: Vec<(u64, u64)> = h
        .iter_recorded()
        .map(|v| (v.value_iterated_to().abs_diff(median), v.count_at_value()))
        .collect();
    deviations.sort_unstable();
    let rank = h.len().div_ceil(2);
    let mut seen = 0;
    for (deviation, count) in deviations {
        seen += count;
        if seen >= rank {
            return deviation;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quartiles_are_nearest_rank_and_refuse_nan() {
        let q = Quartiles::of(&[5.0, 1.0, 4.0, 2.0, 3.0, 8.0, 7.0, 6.0]).unwrap();
        assert_eq!(
            (q.min_ns, q.q1_ns, q.median_ns, q.q3_ns, q.max_ns),
            (1.0, 2.0, 4.0, 6.0, 8.0)
        );
        assert_eq!(Quartiles::of(&[]), None);
        assert_eq!(Quartiles::of(&[1.0, f64::NAN]), None);
    }

    #[test]
    fn nearest_rank_agrees_with_the_histogram() {
        let values: Vec<u64> = (1..=10).map(|v| v * 100).collect();
        let d = Distribution::of(values.iter().copied()).unwrap();
        assert_eq!(nearest_rank(&values, 0.5), Some(&d.p50));
        assert_eq!(nearest_rank(&values, 0.9), Some(&d.p90));
        assert_eq!(nearest_rank(&values, 0.99), Some(&d.p99));
        assert_eq!(
            nearest_rank(&values, 0.5),
            Some(&500),
            "the lower median of an even count"
        );
        assert_eq!(nearest_rank(&[7], 0.01), Some(&7));
        assert_eq!(nearest_rank::<u64>(&[], 0.5), None);
    }

    #[test]
    fn summary_matches_hand_computed_values() {
        let d = Distribution::of([1, 2, 3, 4, 100]).unwrap();
        assert_eq!((d.count, d.min, d.max), (5, 1, 100));
        assert_eq!(d.mean, 22.0);
        // Nearest rank: p10 is the 1st value, p50 the 3rd, p90/p99/p999 the 5th.
        assert_eq!((d.p10, d.p50, d.p90, d.p99, d.p999), (1, 3, 100, 100, 100));
        // Deviations from 22: -21 -20 -19 -18 78; squares sum to 7610; 7610 / 5 = 1522.
        assert!((d.stddev - 1522f64.sqrt()).abs() < 1e-9);
        assert!((d.cv.unwrap() - 1522f64.sqrt() / 22.0).abs() < 1e-9);
        // |x - 3| = 2 1 0 1 97 → sorted 0 1 1 2 97 → the 3rd is 1.
        assert_eq!(d.mad, 1);
        assert_eq!(d.tail_ratio, Some(100.0 / 3.0));
    }

    #[test]
    fn even_counts_take_the_lower_median() {
        let d = Distribution::of([10, 20, 30, 40]).unwrap();
        assert_eq!(d.p50, 20);
        // |x - 20| = 10 0 10 20 → sorted 0 10 10 20 → the 2nd is 10.
        assert_eq!(d.mad, 10);
        assert_eq!(d.mean, 25.0);
    }

    #[test]
    fn one_value_has_no_spread() {
        let d = Distribution::of([7]).unwrap();
        assert_eq!((d.min, d.p50, d.p99, d.max, d.mad), (7, 7, 7, 7, 0));
        assert_eq!((d.stddev, d.cv, d.tail_ratio), (0.0, Some(0.0), Some(1.0)));
    }

    #[test]
    fn zeros_have_no_ratios() {
        let d = Distribution::of([0, 0]).unwrap();
        assert_eq!((d.cv, d.tail_ratio), (None, None));
    }

    #[test]
    fn a_scaled_distribution_keeps_its_shape() {
        // Below 2048 the histogram is exact.
        let spread = Distribution::of([500, 1_500, 2_000])
            .unwrap()
            .scaled(1000.0);
        assert_eq!((spread.min, spread.p50, spread.max), (0.5, 1.5, 2.0));
        assert_eq!(spread.count, 3);
        assert_eq!(spread.p90_over_p10(), Some(4.0));
        assert!((spread.mean - 4.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn empty_has_no_summary() {
        assert_eq!(Distribution::of([]), None);
    }

    #[test]
    fn large_values_keep_three_significant_digits() {
        let d = Distribution::of([1_234_567_890]).unwrap();
        assert!(d.p50.abs_diff(1_234_567_890) <= 1_234_567_890 / 1000);
        // One value: its min, mean, percentiles and max are that value, exactly.
        assert_eq!(
            (d.min, d.p50, d.p99, d.max),
            (1_234_567_890, 1_234_567_890, 1_234_567_890, 1_234_567_890)
        );
        assert_eq!(d.mean, 1_234_567_890.0);
        let two = Distribution::of([1_234_567_890, 1_234_567_999]).unwrap();
        assert!(two.min <= two.p10 && two.p999 <= two.max && two.max == 1_234_567_999);
        let huge = Distribution::of([u64::MAX]).unwrap();
        assert!(huge.max.abs_diff(MAX_TRACKED) <= MAX_TRACKED / 1000);
    }

    #[test]
    fn serialises_with_the_schema_field_names() {
        let json = serde_json::to_value(Distribution::of([5]).unwrap()).unwrap();
        for field in [
            "min", "mean", "p50", "p90", "p99", "p999", "max", "stddev", "cv", "count",
        ] {
            assert!(json.get(field).is_some(), "missing {field}");
        }
    }
}
