//! The probe's readings through the `metrics` facade, so any exporter carries them; names
//! follow node_exporter (counters end in `_total`, times are seconds, ratios are 0..1
//! gauges), and a signal the machine does not offer is not published at all.

use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge};

use super::{Reading, Totals};
use crate::signal::catalog::{self, SIGNALS};

/// Steal over all CPUs since the probe started, seconds (`/proc/stat`).
pub const CPU_STEAL_SECONDS_TOTAL: &str = "dynoprobe_cpu_steal_seconds_total";
/// Time this process's threads waited on a run queue, seconds (schedstat).
pub const RUNQUEUE_WAIT_SECONDS_TOTAL: &str = "dynoprobe_runqueue_wait_seconds_total";
/// Times the scheduler took a CPU away from this process.
pub const INVOLUNTARY_SWITCHES_TOTAL: &str = "dynoprobe_involuntary_switches_total";
/// CFS periods the CPU cgroup's quota has run (`cpu.stat`); unpublished without a quota.
pub const CGROUP_PERIODS_TOTAL: &str = "dynoprobe_cgroup_periods_total";
/// CFS periods in which the cgroup was throttled.
pub const CGROUP_THROTTLED_PERIODS_TOTAL: &str = "dynoprobe_cgroup_throttled_periods_total";
/// Time the cgroup was throttled, seconds.
pub const CGROUP_THROTTLED_SECONDS_TOTAL: &str = "dynoprobe_cgroup_throttled_seconds_total";
/// Time some task on the machine waited for a CPU, seconds (PSI `some`).
pub const PRESSURE_CPU_WAITING_SECONDS_TOTAL: &str = "dynoprobe_pressure_cpu_waiting_seconds_total";
/// Histogram of how late the probe's 100 ms sleeps woke, seconds (with sleep jitter on).
pub const SLEEP_OVERSHOOT_SECONDS: &str = "dynoprobe_sleep_overshoot_seconds";

/// A counter of the probe's [`Totals`].
struct Total {
    name: &'static str,
    help: &'static str,
    value: TotalValue,
}

enum TotalValue {
    /// Seconds, published rounded down (see the module's doc).
    Seconds(fn(&Totals) -> Option<f64>),
    Count(fn(&Totals) -> Option<u64>),
}

/// Every counter, declared once: describing and publishing both walk this list. The gauges
/// are the signals of [`SIGNALS`] that name one.
static TOTALS: [Total; 7] = [
    Total {
        name: CPU_STEAL_SECONDS_TOTAL,
        help: "Time the hypervisor ran another guest while this VM had work, summed over all CPUs (/proc/stat steal).",
        value: TotalValue::Seconds(|t| t.steal_seconds),
    },
    Total {
        name: RUNQUEUE_WAIT_SECONDS_TOTAL,
        help: "Time this process's threads were runnable but waited for a CPU (schedstat), summed over threads.",
        value: TotalValue::Seconds(|t| t.runqueue_wait_seconds),
    },
    Total {
        name: INVOLUNTARY_SWITCHES_TOTAL,
        help: "Times the scheduler took a CPU away from one of this process's threads (getrusage), since the probe started.",
        value: TotalValue::Count(|t| t.involuntary_switches),
    },
    Total {
        name: CGROUP_PERIODS_TOTAL,
        help: "CFS quota periods elapsed for this process's CPU cgroup (cpu.stat nr_periods), since the probe started.",
        value: TotalValue::Count(|t| t.periods),
    },
    Total {
        name: CGROUP_THROTTLED_PERIODS_TOTAL,
        help: "CFS quota periods in which the cgroup used up its quota and was stopped (cpu.stat nr_throttled), since the probe started.",
        value: TotalValue::Count(|t| t.throttled_periods),
    },
    Total {
        name: CGROUP_THROTTLED_SECONDS_TOTAL,
        help: "Time the cgroup's threads were stopped for having used their quota (cpu.stat throttled time).",
        value: TotalValue::Seconds(|t| t.throttled_seconds),
    },
    Total {
        name: PRESSURE_CPU_WAITING_SECONDS_TOTAL,
        help: "Time at least one task on the machine waited for a CPU (/proc/pressure/cpu some total).",
        value: TotalValue::Seconds(|t| t.pressure_waiting_seconds),
    },
];

/// Every metric the probe may publish: its counters, its gauges and the overshoot
/// histogram. Dashboards and alert rules are checked against this list.
pub(crate) fn names() -> Vec<&'static str> {
    TOTALS
        .iter()
        .map(|t| t.name)
        .chain(SIGNALS.iter().filter_map(|d| d.gauge))
        .chain([SLEEP_OVERSHOOT_SECONDS])
        .collect()
}

/// Describes every probe metric (unit and meaning) to the installed recorder; call once,
/// after installing it.
pub(crate) fn describe() {
    for total in &TOTALS {
        match total.value {
            TotalValue::Seconds(_) => describe_counter!(
                total.name,
                Unit::Seconds,
                format!(
                    "{} Whole seconds since the probe started (rounded down).",
                    total.help
                )
            ),
            TotalValue::Count(_) => describe_counter!(total.name, Unit::Count, total.help),
        }
    }
    for d in &SIGNALS {
        if let Some(name) = d.gauge {
            describe_gauge!(name, Unit::Count, gauge_help(d));
        }
    }
    describe_histogram!(
        SLEEP_OVERSHOOT_SECONDS,
        Unit::Seconds,
        "How late each of the probe's 100 ms sleeps woke up (only with sleep_jitter on): timer slack plus the wait for a CPU."
    );
}

/// A gauge's description, from its signal's declaration.
fn gauge_help(d: &catalog::Declared) -> String {
    let what = match d.unit {
        catalog::Unit::Ratio => format!("Share {} (0..1)", d.meaning),
        catalog::Unit::PerSecond => format!("{}, per second", d.meaning),
        catalog::Unit::Cpus => format!("{}, in CPUs", d.meaning),
        catalog::Unit::SecondsPerSecond => {
            format!("Seconds {} per second of wall time", d.meaning)
        }
    };
    format!("{what}, over the probe's last interval ({}).", d.source)
}

/// Publishes one reading: totals as counters (the seconds ones only when
/// `whole_second_counters`), the last interval's signals as gauges. A signal the machine
/// does not offer is not published.
pub(super) fn publish(reading: &Reading, whole_second_counters: bool) {
    for total in &TOTALS {
        let value = match total.value {
            TotalValue::Seconds(seconds) if whole_second_counters => {
                seconds(&reading.totals).map(|s| s.max(0.0).floor() as u64)
            }
            TotalValue::Seconds(_) => None,
            TotalValue::Count(count) => count(&reading.totals),
        };
        if let Some(value) = value {
            counter!(total.name).absolute(value);
        }
    }
    let Some(contention) = &reading.contention else {
        return;
    };
    for d in &SIGNALS {
        if let (Some(name), Some(value)) = (d.gauge, d.value(contention)) {
            gauge!(name).set(value);
        }
    }
}

/// The `_seconds_total` counters of `totals` in Prometheus' text format, as float counters
/// with `labels` on each sample: what a scrape appends to the exporter's text when the
/// probe publishes no whole-second counters. A total the machine does not offer is left out.
pub fn render_seconds_totals(totals: &Totals, labels: &[(&str, &str)]) -> String {
    use std::fmt::Write as _;
    let labels = if labels.is_empty() {
        String::new()
    } else {
        let pairs: Vec<String> = labels
            .iter()
            .map(|(name, value)| format!("{name}=\"{}\"", label_value(value)))
            .collect();
        format!("{{{}}}", pairs.join(","))
    };
    let mut out = String::new();
    for total in &TOTALS {
        let TotalValue::Seconds(seconds) = total.value else {
            continue;
        };
        let Some(value) = seconds(totals) else {
            continue;
        };
        let _ = writeln!(out, "# HELP {} {}", total.name, total.help);
        let _ = writeln!(out, "# TYPE {} counter", total.name);
        let _ = writeln!(out, "{}{labels} {}", total.name, value.max(0.0));
    }
    out
}

/// A label value escaped as the text format asks: `\`, `"` and newlines.
fn label_value(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Records one wake-up's lateness.
pub(super) fn record_overshoot(late_ns: u64) {
    metrics::histogram!(SLEEP_OVERSHOOT_SECONDS).record(late_ns as f64 / 1e9);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_totals_render_as_float_counters_with_their_labels() {
        let totals = Totals {
            steal_seconds: Some(0.005),
            runqueue_wait_seconds: Some(12.345_678),
            ..Totals::default()
        };
        let text = render_seconds_totals(&totals, &[("instance", "web.1 \"a\"\\b\nc")]);
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            [
                "dynoprobe_cpu_steal_seconds_total{instance=\"web.1 \\\"a\\\"\\\\b\\nc\"} 0.005",
                "dynoprobe_runqueue_wait_seconds_total{instance=\"web.1 \\\"a\\\"\\\\b\\nc\"} 12.345678",
            ],
            "sub-second precision, and totals the machine lacks left out"
        );
        assert!(text.contains("# TYPE dynoprobe_cpu_steal_seconds_total counter\n"));
        assert_eq!(
            render_seconds_totals(&totals, &[]).lines().nth(2),
            Some("dynoprobe_cpu_steal_seconds_total 0.005")
        );
    }

    #[test]
    fn gauge_descriptions_say_what_where_and_over_what() {
        let steal = SIGNALS.iter().find(|d| d.field == "steal_ratio").unwrap();
        assert_eq!(
            gauge_help(steal),
            "Share of all CPU time, stolen by the hypervisor (0..1), over the probe's last \
             interval (/proc/stat)."
        );
    }
}
