//! The probe's readings through the `metrics` facade (feature `metrics`), so any exporter
//! (Prometheus, StatsD, OpenTelemetry) carries them. Names follow node_exporter and
//! cAdvisor: counters end in `_total`, times are seconds, ratios are 0..1 gauges.
//!
//! **Counters of seconds hold whole seconds.** The facade's counters are integers
//! (metrics-rs/metrics#599), and a gauge named `_total`, or a counter of milliseconds, breaks
//! Prometheus' naming rules (`promtool check metrics` rejects both). So each `_seconds_total`
//! counter is the total rounded down: over `rate(…[5m])` that is within 1 s / 300 s = 0.33%
//! of a CPU. For short windows use the matching `_ratio` gauge, which is exact over the
//! probe's last interval.
//!
//! A signal the machine does not offer is not published at all, rather than published as 0.

use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge};

use super::Reading;
use crate::signal::Signal;

pub const CPU_STEAL_SECONDS_TOTAL: &str = "dynoprobe_cpu_steal_seconds_total";
pub const RUNQUEUE_WAIT_SECONDS_TOTAL: &str = "dynoprobe_runqueue_wait_seconds_total";
pub const INVOLUNTARY_SWITCHES_TOTAL: &str = "dynoprobe_involuntary_switches_total";
pub const CGROUP_PERIODS_TOTAL: &str = "dynoprobe_cgroup_periods_total";
pub const CGROUP_THROTTLED_PERIODS_TOTAL: &str = "dynoprobe_cgroup_throttled_periods_total";
pub const CGROUP_THROTTLED_SECONDS_TOTAL: &str = "dynoprobe_cgroup_throttled_seconds_total";
pub const PRESSURE_CPU_WAITING_SECONDS_TOTAL: &str = "dynoprobe_pressure_cpu_waiting_seconds_total";
pub const CPU_STEAL_RATIO: &str = "dynoprobe_cpu_steal_ratio";
pub const RUNQUEUE_WAIT_RATIO: &str = "dynoprobe_runqueue_wait_ratio";
pub const CGROUP_THROTTLED_RATIO: &str = "dynoprobe_cgroup_throttled_ratio";
pub const PRESSURE_CPU_WAITING_RATIO: &str = "dynoprobe_pressure_cpu_waiting_ratio";
pub const SLEEP_OVERSHOOT_SECONDS: &str = "dynoprobe_sleep_overshoot_seconds";

/// Describes every probe metric (unit and meaning) to the installed recorder; call once,
/// after installing it.
pub fn describe_metrics() {
    let whole = "Whole seconds since the probe started (rounded down).";
    describe_counter!(
        CPU_STEAL_SECONDS_TOTAL,
        Unit::Seconds,
        format!(
            "Time the hypervisor ran another guest while this VM had work, summed over all CPUs (/proc/stat steal). {whole}"
        )
    );
    describe_counter!(
        RUNQUEUE_WAIT_SECONDS_TOTAL,
        Unit::Seconds,
        format!(
            "Time this process's threads were runnable but waited for a CPU (schedstat), summed over threads. {whole}"
        )
    );
    describe_counter!(
        INVOLUNTARY_SWITCHES_TOTAL,
        Unit::Count,
        "Times the scheduler took a CPU away from one of this process's threads (getrusage), since the probe started."
    );
    describe_counter!(
        CGROUP_PERIODS_TOTAL,
        Unit::Count,
        "CFS quota periods elapsed for this process's CPU cgroup (cpu.stat nr_periods), since the probe started."
    );
    describe_counter!(
        CGROUP_THROTTLED_PERIODS_TOTAL,
        Unit::Count,
        "CFS quota periods in which the cgroup used up its quota and was stopped (cpu.stat nr_throttled), since the probe started."
    );
    describe_counter!(
        CGROUP_THROTTLED_SECONDS_TOTAL,
        Unit::Seconds,
        format!(
            "Time the cgroup's threads were stopped for having used their quota (cpu.stat throttled time). {whole}"
        )
    );
    describe_counter!(
        PRESSURE_CPU_WAITING_SECONDS_TOTAL,
        Unit::Seconds,
        format!(
            "Time at least one task on the machine waited for a CPU (/proc/pressure/cpu some total). {whole}"
        )
    );
    describe_gauge!(
        CPU_STEAL_RATIO,
        Unit::Count,
        "Share of all CPU time stolen by the hypervisor over the probe's last interval (0..1)."
    );
    describe_gauge!(
        RUNQUEUE_WAIT_RATIO,
        Unit::Count,
        "Of the time this process's threads were runnable over the last interval, the share they waited on a run queue (0..1)."
    );
    describe_gauge!(
        CGROUP_THROTTLED_RATIO,
        Unit::Count,
        "Share of the last interval the cgroup was throttled (0..1)."
    );
    describe_gauge!(
        PRESSURE_CPU_WAITING_RATIO,
        Unit::Count,
        "Share of the last interval some task on the machine waited for a CPU (PSI some, 0..1)."
    );
    describe_histogram!(
        SLEEP_OVERSHOOT_SECONDS,
        Unit::Seconds,
        "How late each of the probe's 100 ms sleeps woke up (only with sleep_jitter on): timer slack plus the wait for a CPU."
    );
}

/// Publishes one reading: totals as counters, the last interval's ratios as gauges.
pub(super) fn publish(reading: &Reading) {
    let totals = &reading.totals;
    let whole_seconds = |name: &'static str, seconds: Option<f64>| {
        if let Some(seconds) = seconds {
            counter!(name).absolute(seconds.max(0.0).floor() as u64);
        }
    };
    let count = |name: &'static str, value: Option<u64>| {
        if let Some(value) = value {
            counter!(name).absolute(value);
        }
    };
    whole_seconds(CPU_STEAL_SECONDS_TOTAL, totals.steal_seconds);
    whole_seconds(RUNQUEUE_WAIT_SECONDS_TOTAL, totals.runqueue_wait_seconds);
    count(INVOLUNTARY_SWITCHES_TOTAL, totals.involuntary_switches);
    count(CGROUP_PERIODS_TOTAL, totals.periods);
    count(CGROUP_THROTTLED_PERIODS_TOTAL, totals.throttled_periods);
    whole_seconds(CGROUP_THROTTLED_SECONDS_TOTAL, totals.throttled_seconds);
    whole_seconds(
        PRESSURE_CPU_WAITING_SECONDS_TOTAL,
        totals.pressure_waiting_seconds,
    );
    let Some(contention) = &reading.contention else {
        return;
    };
    let ratio = |name: &'static str, signal: &Signal<f64>| {
        if let Some(value) = signal.value() {
            gauge!(name).set(value);
        }
    };
    ratio(CPU_STEAL_RATIO, &contention.steal_ratio);
    ratio(RUNQUEUE_WAIT_RATIO, &contention.runqueue_wait_ratio);
    ratio(CGROUP_THROTTLED_RATIO, &contention.throttled_ratio);
    ratio(PRESSURE_CPU_WAITING_RATIO, &contention.pressure_some_ratio);
}

/// Records one wake-up's lateness.
pub(super) fn record_overshoot(late_ns: u64) {
    metrics::histogram!(SLEEP_OVERSHOOT_SECONDS).record(late_ns as f64 / 1e9);
}
