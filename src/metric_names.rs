//! The names of every metric dynoprobe publishes (feature `metrics`), as the shipped rules and
//! dashboard under `monitoring/` query them.

pub use crate::probe::metrics::{
    CGROUP_PERIODS_TOTAL, CGROUP_THROTTLED_PERIODS_TOTAL, CGROUP_THROTTLED_SECONDS_TOTAL,
    CPU_STEAL_SECONDS_TOTAL, INVOLUNTARY_SWITCHES_TOTAL, PRESSURE_CPU_WAITING_SECONDS_TOTAL,
    RUNQUEUE_WAIT_SECONDS_TOTAL, SLEEP_OVERSHOOT_SECONDS,
};
#[cfg(feature = "tower")]
pub use crate::queue_time::layer::{
    REQUEST_QUEUE_INVALID_TOTAL, REQUEST_QUEUE_SECONDS, REQUEST_QUEUE_SKEWED_TOTAL,
};

/// Every metric the probe (and, with `tower`, the queue-time layer) may publish: counters,
/// the gauges of each contention signal, and histograms (a histogram is one name here; its
/// exposition adds `_bucket`, `_sum` and `_count`).
///
/// ```
/// let names = dynoprobe::metric_names::all();
/// assert!(names.contains(&"dynoprobe_cpu_steal_seconds_total"));
/// assert!(names.iter().all(|n| n.starts_with("dynoprobe_")));
/// ```
pub fn all() -> Vec<&'static str> {
    let mut names = crate::probe::metrics::names();
    #[cfg(feature = "tower")]
    names.extend([
        REQUEST_QUEUE_SECONDS,
        REQUEST_QUEUE_SKEWED_TOTAL,
        REQUEST_QUEUE_INVALID_TOTAL,
    ]);
    names
}
