//! What the paired benches share: the mean of their pairs' differences with its interval.

/// The mean of `differences` and the half-width of its 95% interval (normal, so only from 100
/// pairs up: `None` below). The pairs share one bench process, whose heap and caches they all
/// see: the interval is that run's, and runs differ by more.
pub fn mean_with_interval(differences: &[f64]) -> Option<(f64, f64)> {
    if differences.len() < 100 {
        return None;
    }
    let n = differences.len() as f64;
    let mean = differences.iter().sum::<f64>() / n;
    let variance = differences.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1.0);
    Some((mean, 1.96 * (variance / n).sqrt()))
}
