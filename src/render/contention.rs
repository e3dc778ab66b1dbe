//! The kernel's contention counters as text.

use std::fmt::Write as _;

use super::units::{per_second, percent, seconds};
use crate::signal::snapshot::Contention;

/// The kernel's contention counters over an interval, each with its source.
pub fn contention(out: &mut String, c: &Contention) {
    let _ = writeln!(
        out,
        "contention over the whole run ({} s):",
        seconds(c.elapsed_ns)
    );
    let rows = [
        (
            "steal",
            percent(c.steal_ratio.value()),
            "of all CPU time, stolen by the hypervisor (/proc/stat)",
        ),
        (
            "run-queue wait",
            percent(c.runqueue_wait_ratio.value()),
            "of our threads' runnable time spent waiting for a CPU (schedstat)",
        ),
        (
            "preemptions",
            per_second(c.involuntary_switches_per_s.value()),
            "involuntary context switches of this process (getrusage)",
        ),
        (
            "throttled periods",
            percent(c.throttled_period_ratio.value()),
            "of cgroup CFS periods that ran out of quota (cpu.stat)",
        ),
        (
            "throttled",
            percent(c.throttled_ratio.value()),
            "of the time the cgroup was stopped by its quota (cpu.stat)",
        ),
        (
            "CPU pressure",
            percent(c.pressure_some_ratio.value()),
            "of the time some task on the machine waited for a CPU (PSI)",
        ),
        (
            "CPU busy",
            percent(c.cpu_usage_ratio.value()),
            "of all CPUs' time busy (/proc/stat)",
        ),
    ];
    for (name, value, meaning) in rows {
        let _ = writeln!(out, "  {name:<18} {value:>8}  {meaning}");
    }
    for (field, why) in &c.unavailable {
        let _ = writeln!(out, "  - {field}: {why}");
    }
}
