//! The report of a `dynoprobe run`: what was measured, in the JSON schema of DESIGN.md
//! (version 1), and its rendering as a text table.
//!
//! Every numeric field names its unit (`_ns`, `_ratio`, `_per_s`, `_bytes`, `_count`);
//! anything not measured is `null`, never 0. Building a report computes; rendering only formats.

use std::fmt::Write as _;

use serde::Serialize;

use crate::jitter::Cause;
use crate::jitter::Jitter;
use crate::runner::Measured;
use crate::signal::machine::Machine;
use crate::signal::snapshot::Contention;
use crate::stats::{Distribution, Spread};
use crate::verdict::Verdict;
use crate::workload::fixture::Origin;

/// Version of the JSON layout; bumped when a field changes meaning or goes away.
/// Version 2: `jitter` holds the ledger and per-cause gaps, `preemptions_count` counts only
/// gaps the thread was switched out for, `verdict.causes` lists costs, and the reference for
/// `slowed` is `workloads[].ns_per_op`.
pub const SCHEMA_VERSION: u32 = 2;

/// A whole `dynoprobe run`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub machine: Machine,
    pub fixture: FixtureInfo,
    pub workloads: Vec<WorkloadReport>,
    /// The kernel's contention counters over the whole run.
    pub contention: Contention,
    /// The spin phase, when there was one.
    pub jitter: Option<Jitter>,
    pub verdict: Verdict,
}

/// Which JSON the JSON and decrypt workloads ran on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FixtureInfo {
    /// `shipped` (fixtures/payload.json) or the path given with `--fixture`.
    pub source: String,
    pub json_bytes: u64,
}

impl FixtureInfo {
    pub fn new(origin: &Origin, json_bytes: u64) -> FixtureInfo {
        let source = match origin {
            Origin::Shipped => "shipped".to_string(),
            Origin::File(path) => path.display().to_string(),
        };
        FixtureInfo { source, json_bytes }
    }
}

/// One workload's runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkloadReport {
    pub name: String,
    pub runs_count: u64,
    pub bytes_per_run: u64,
    /// `bytes_per_run` / median wall time of a run.
    pub throughput_bytes_per_s: Option<f64>,
    /// Wall-clock time per run (`CLOCK_MONOTONIC`).
    pub wall_ns: Distribution,
    /// Thread CPU time per run (`CLOCK_THREAD_CPUTIME_ID`).
    pub on_cpu_ns: Distribution,
    /// Wall minus thread CPU time per run.
    pub off_cpu_ns: Distribution,
    /// Total off-CPU time / total wall time.
    pub off_cpu_ratio: f64,
    /// Runs with at least one involuntary context switch.
    pub preempted_runs_count: Option<u64>,
    /// Total run-queue wait (schedstat) / total wall time.
    pub runqueue_wait_ratio: Option<f64>,
    /// `off_cpu_ratio − runqueue_wait_ratio`: off the CPU but not waiting for it. For pure
    /// computation that is steal (the steal clock keeps it out of thread CPU time) and page
    /// faults served from disk. Host pauses the hypervisor does not report count as on-CPU
    /// time here: only the spin sees them.
    pub other_off_cpu_ratio: Option<f64>,
    /// Fixed-work workloads only: per run, the median time of a fixed block of work per op (a
    /// dependent load, a 16-byte AES block), ns; immune to gaps inside a run.
    pub ns_per_op: Option<Spread>,
    /// The last run's checksum, proof that the work was done.
    pub checksum: u64,
}

impl WorkloadReport {
    pub fn from_measured(measured: &Measured) -> WorkloadReport {
        let median_s = measured.wall_ns.p50 as f64 / 1e9;
        WorkloadReport {
            name: measured.name.to_string(),
            runs_count: u64::from(measured.runs_count),
            bytes_per_run: measured.bytes_per_run,
            throughput_bytes_per_s: (median_s > 0.0)
                .then(|| measured.bytes_per_run as f64 / median_s),
            wall_ns: measured.wall_ns,
            on_cpu_ns: measured.on_cpu_ns,
            off_cpu_ns: measured.off_cpu_ns,
            off_cpu_ratio: measured.off_cpu_ratio,
            preempted_runs_count: measured.preempted_runs_count,
            runqueue_wait_ratio: measured.runqueue_wait_ratio,
            other_off_cpu_ratio: measured
                .runqueue_wait_ratio
                .map(|wait| (measured.off_cpu_ratio - wait).max(0.0)),
            ns_per_op: measured.ns_per_op,
            checksum: measured.checksum,
        }
    }
}

/// The report as text: run times, where the time went, and the contention counters, each
/// figure with its unit and source.
pub fn render_text(report: &Report) -> String {
    let mut out = String::new();
    render_machine(&mut out, report);
    render_wall(&mut out, &report.workloads);
    render_split(&mut out, &report.workloads);
    render_contention(&mut out, &report.contention);
    if let Some(jitter) = &report.jitter {
        render_jitter(&mut out, jitter);
    }
    render_verdict(&mut out, &report.verdict);
    out
}

/// A spin phase's findings: the ledger, each cause with its gaps, and the kernel's figures
/// beside ours.
pub fn render_jitter(out: &mut String, j: &Jitter) {
    let ms = |v: Option<f64>| v.map_or("n/a".to_string(), |ms| format!("{ms:.2} ms"));
    let cpu = j
        .cpu
        .map_or("unpinned".to_string(), |c| format!("on CPU {c}"));
    let _ = writeln!(
        out,
        "\nhiccups: {:.1} s spinning {cpu}, reading {}",
        j.duration_ns as f64 / 1e9,
        j.clock
    );
    let _ = writeln!(
        out,
        "  clock reads {} ns apart at best; {} gaps over {} ns; those of {:.1} µs or more attributed (reads cost {:.3}% of the spin)",
        j.min_delta_ns,
        j.gaps_count,
        j.threshold_ns,
        j.attribute_threshold_ns as f64 / 1e3,
        j.attribution_cost_ratio * 100.0
    );
    let _ = writeln!(
        out,
        "  {:<12} {:>8} {:>8} {:>10} {:>10} {:>10}  kernel's figure",
        "where time went", "share", "gaps", "p50 µs", "p99 µs", "max µs"
    );
    let _ = writeln!(
        out,
        "  {:<12} {:>8}",
        "on CPU",
        percent(Some(j.ledger.on_cpu_ratio))
    );
    let kernel = |cause: Cause| match cause {
        Cause::Preempted => format!(
            "with throttled: run-queue wait {} (schedstat); {} involuntary switches for our {} gaps",
            percent(j.runqueue_wait_ratio),
            j.involuntary_switches_count
                .map_or("n/a".into(), |n| n.to_string()),
            j.preemptions_count
        ),
        Cause::Throttled if j.sees_throttling => format!(
            "cgroup throttled {} (cpu.stat)",
            percent(j.cgroup_throttled_ratio)
        ),
        Cause::Throttled => "no CPU quota: cannot be throttled".into(),
        Cause::Stolen if j.cpu.is_some() => {
            format!("steal {} (/proc/stat, this CPU)", percent(j.steal_ratio))
        }
        Cause::Stolen => format!(
            "steal {} (/proc/stat, all CPUs: unpinned)",
            percent(j.steal_ratio)
        ),
        Cause::Unreported => "none: counted as this thread's CPU time".into(),
        Cause::Short => "none: too short to attribute".into(),
    };
    for cause in Cause::ALL {
        let gaps = j.causes.get(cause);
        let us = |ns: Option<u64>| ns.map_or("-".into(), |ns| format!("{:.1}", ns as f64 / 1e3));
        let _ = writeln!(
            out,
            "  {:<12} {:>8} {:>8} {:>10} {:>10} {:>10}  {}",
            cause.name(),
            percent(Some(j.ledger.ratio(cause))),
            gaps.count,
            us(gaps.p50_ns),
            us(gaps.p99_ns),
            us(gaps.max_ns),
            kernel(cause)
        );
    }
    let _ = writeln!(
        out,
        "  timeslice (run between preemptions, less steal) p50 {}, p90 {}; from counters (on-CPU / switches) {}",
        ms(j.timeslice_p50_ms),
        ms(j.timeslice_p90_ms),
        ms(j.timeslice_from_counters_ms)
    );
    if let Some(t) = j.throttle {
        let _ = writeln!(
            out,
            "  throttling pattern: a throttle every {:.1} ms, running {:.0}% of each period (matches the cgroup's period: {})",
            t.period_ms,
            t.quota_ratio * 100.0,
            t.matches_cgroup_period
                .map_or("not readable".into(), |m| if m {
                    "yes".to_string()
                } else {
                    "no".to_string()
                })
        );
    }
}

/// The verdict: first what the platform cost and the split, then the class and what to do,
/// then every cause of 1% or more and the evidence.
pub fn render_verdict(out: &mut String, v: &Verdict) {
    out.push('\n');
    if let Some(p) = &v.platform {
        let cpu = p
            .cpu
            .map_or("the probe's CPU".into(), |c| format!("CPU {c}"));
        let _ = writeln!(
            out,
            "the platform took {} of {cpu}: {} hypervisor steal, {} host pauses the hypervisor does not report, {} neighbours, {} quota, {} too short to attribute",
            percent(Some(p.total_ratio)),
            percent(Some(p.steal_ratio)),
            percent(Some(p.unreported_ratio)),
            percent(Some(p.neighbours_ratio)),
            percent(Some(p.quota_ratio)),
            percent(Some(p.short_ratio)),
        );
        if let Some(g) = p.worst_pause {
            let _ = writeln!(
                out,
                "worst single pause: {:.3} ms ({}, {:.3} s into the spin)",
                g.len_ns as f64 / 1e6,
                g.cause.name(),
                g.start_ns as f64 / 1e9
            );
        }
    }
    let _ = writeln!(
        out,
        "verdict: {} — {}",
        v.class.name().to_uppercase(),
        v.summary
    );
    for cost in &v.causes {
        let _ = writeln!(
            out,
            "  {:<10} {:>6}  ({})",
            cost.class,
            percent(Some(cost.cost_ratio)),
            cost.source
        );
    }
    if v.causes.is_empty() {
        let _ = writeln!(out, "  no cause cost 1% or more");
    }
    for line in &v.evidence {
        let _ = writeln!(out, "  · {line}");
    }
}

fn render_machine(out: &mut String, report: &Report) {
    let m = &report.machine;
    let or_unknown = |v: &Option<String>| v.clone().unwrap_or_else(|| "unknown".into());
    let _ = writeln!(
        out,
        "machine: {} · {} CPUs · kernel {} · clocksource {} · virtualization: {}",
        or_unknown(&m.cpu_model),
        m.logical_cpus_count.map_or("?".into(), |n| n.to_string()),
        or_unknown(&m.kernel),
        or_unknown(&m.clocksource),
        or_unknown(&m.virtualization),
    );
    let quota = match (m.cgroup_version, m.cgroup_quota_ratio) {
        (None, _) => "no CPU cgroup found".to_string(),
        (Some(v), None) => format!(
            "cgroup {v} {}, no CPU quota",
            m.cgroup_dir.as_deref().unwrap_or("?")
        ),
        (Some(v), Some(q)) => format!(
            "cgroup {v} {}, quota {q:.2} CPUs (set on {})",
            m.cgroup_dir.as_deref().unwrap_or("?"),
            m.cgroup_quota_dir.as_deref().unwrap_or("?")
        ),
    };
    let _ = writeln!(out, "{quota}");
    let _ = writeln!(
        out,
        "fixture: {} ({:.2} MB JSON)\n",
        report.fixture.source,
        report.fixture.json_bytes as f64 / 1e6
    );
}

fn render_wall(out: &mut String, workloads: &[WorkloadReport]) {
    let _ = writeln!(
        out,
        "{:<18} {:>7} {:>10} {:>10} {:>10} {:>10} {:>7} {:>9}",
        "workload", "runs", "p50 ms", "p90 ms", "p99 ms", "max ms", "CV", "MB/s"
    );
    for w in workloads {
        let d = &w.wall_ns;
        let _ = writeln!(
            out,
            "{:<18} {:>7} {:>10} {:>10} {:>10} {:>10} {:>7} {:>9}",
            w.name,
            w.runs_count,
            ms(d.p50),
            ms(d.p90),
            ms(d.p99),
            ms(d.max),
            d.cv.map_or("-".into(), |cv| format!("{:.1}%", cv * 100.0)),
            w.throughput_bytes_per_s
                .map_or("-".into(), |b| format!("{:.1}", b / 1e6)),
        );
    }
    out.push_str(
        "Wall-clock time per run (CLOCK_MONOTONIC), nearest-rank percentiles; CV = stddev / mean.\n\
         MB/s = bytes per run / p50 (10^6 bytes); for chase-* the 64-byte lines visited.\n\n",
    );
}

fn render_split(out: &mut String, workloads: &[WorkloadReport]) {
    let _ = writeln!(
        out,
        "{:<18} {:>11} {:>11} {:>12} {:>8} {:>8} {:>8} {:>10} {:>11} {:>8}",
        "where time went",
        "on-CPU p50",
        "on-CPU p90",
        "off-CPU p99",
        "off-CPU",
        "rq-wait",
        "rest",
        "preempted",
        "ns/op p50",
        "p90/p10"
    );
    for w in workloads {
        let _ = writeln!(
            out,
            "{:<18} {:>11} {:>11} {:>12} {:>8} {:>8} {:>8} {:>10} {:>11} {:>8}",
            w.name,
            ms(w.on_cpu_ns.p50),
            ms(w.on_cpu_ns.p90),
            ms(w.off_cpu_ns.p99),
            percent(Some(w.off_cpu_ratio)),
            percent(w.runqueue_wait_ratio),
            percent(w.other_off_cpu_ratio),
            w.preempted_runs_count
                .map_or("-".into(), |n| format!("{n}/{}", w.runs_count)),
            w.ns_per_op.map_or("-".into(), |d| format!("{:.3}", d.p50)),
            w.ns_per_op
                .and_then(|d| d.p90_over_p10())
                .map_or("-".into(), |r| format!("{r:.2}")),
        );
    }
    out.push_str(
        "ms per run. on-CPU: thread CPU time (CLOCK_THREAD_CPUTIME_ID); off-CPU: wall − on-CPU.\n\
         off-CPU = rq-wait + rest, each a share of all runs' wall time. rq-wait: the kernel's run-queue\n\
         wait (/proc/thread-self/schedstat), other tasks' turns and throttling. rest: off the CPU but not\n\
         waiting for it: steal (kept out of thread CPU time by the steal clock) and page faults. Host\n\
         pauses the hypervisor does not report count as on-CPU time here; the spin below sees them.\n\
         preempted: runs with an involuntary context switch (getrusage). ns/op: fixed work timed in\n\
         blocks inside each run (a dependent load; a 16-byte AES block), the median block per run;\n\
         p50 over runs and p90/p10 across runs. A gap inside a run cannot move it.\n\n",
    );
}

pub fn render_contention(out: &mut String, c: &Contention) {
    let _ = writeln!(
        out,
        "contention over the whole run ({:.1} s):",
        c.elapsed_ns as f64 / 1e9
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
            rate(c.involuntary_switches_per_s.value()),
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

fn ms(ns: u64) -> String {
    format!("{:.3}", ns as f64 / 1e6)
}

/// A 0..1 ratio as a percentage with one decimal, or `n/a`.
pub(crate) fn percent(ratio: Option<f64>) -> String {
    ratio.map_or("n/a".into(), |r| format!("{:.1}%", r * 100.0))
}

fn rate(per_s: Option<f64>) -> String {
    per_s.map_or("n/a".into(), |r| format!("{r:.1}/s"))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::signal::snapshot::Sampler;

    fn measured() -> Measured {
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
        }
    }

    fn report() -> Report {
        let mut sampler = Sampler::new();
        let earlier = sampler.take();
        Report {
            schema_version: SCHEMA_VERSION,
            machine: Machine::default(),
            fixture: FixtureInfo::new(&Origin::Shipped, 4_000_000),
            workloads: vec![WorkloadReport::from_measured(&measured())],
            contention: sampler.take().since(&earlier),
            jitter: None,
            verdict: Verdict {
                class: crate::verdict::Class::Quiet,
                summary: "nothing".into(),
                platform: None,
                causes: Vec::new(),
                evidence: vec!["steal 0.0%".into()],
            },
        }
    }

    #[test]
    fn the_verdict_opens_with_what_the_platform_took() {
        use crate::jitter::{Cause, spin::Gap};
        use crate::verdict::{Class, Cost, Platform};
        let verdict = Verdict {
            class: Class::Stolen,
            summary: "The hypervisor took 8.1%".into(),
            platform: Some(Platform {
                cpu: Some(1),
                total_ratio: 0.083,
                steal_ratio: 0.033,
                unreported_ratio: 0.048,
                neighbours_ratio: 0.0,
                quota_ratio: 0.0,
                short_ratio: 0.002,
                worst_pause: Some(Gap {
                    start_ns: 1_250_000_000,
                    len_ns: 2_500_000,
                    cause: Cause::Stolen,
                    wait_ns: 0,
                }),
            }),
            causes: vec![Cost {
                class: Class::Stolen,
                cost_ratio: 0.081,
                reported_ratio: Some(0.033),
                unreported_ratio: Some(0.048),
                source: "spin: stolen and unreported gaps",
            }],
            evidence: vec![],
        };
        let mut out = String::new();
        render_verdict(&mut out, &verdict);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[1],
            "the platform took 8.3% of CPU 1: 3.3% hypervisor steal, 4.8% host pauses the \
             hypervisor does not report, 0.0% neighbours, 0.0% quota, 0.2% too short to attribute"
        );
        assert_eq!(
            lines[2],
            "worst single pause: 2.500 ms (stolen, 1.250 s into the spin)"
        );
        assert!(lines[3].starts_with("verdict: STOLEN — The hypervisor"));
        assert_eq!(
            lines[4],
            "  stolen       8.1%  (spin: stolen and unreported gaps)"
        );
    }

    #[test]
    fn throughput_is_bytes_over_the_median() {
        let w = WorkloadReport::from_measured(&measured());
        // The median is 2 ms to within the histogram's 0.1%: 4 MB / 2 ms = 2 GB/s.
        let throughput = w.throughput_bytes_per_s.unwrap();
        assert!((throughput / 2e9 - 1.0).abs() < 1e-3, "{throughput}");
    }

    #[test]
    fn json_carries_units_and_nulls_for_what_was_not_measured() {
        let json = serde_json::to_value(report()).unwrap();
        assert_eq!(json["schema_version"], 2);
        assert!(json["workloads"][0]["ns_per_op"].is_null());
        assert!(json["workloads"][0]["other_off_cpu_ratio"].is_null());
        let w = &json["workloads"][0];
        assert_eq!(w["runs_count"], 3);
        let p50 = w["wall_ns"]["p50"].as_u64().unwrap();
        assert!(p50.abs_diff(2_000_000) < 2_000, "{p50}");
        assert_eq!(w["on_cpu_ns"]["count"], 3);
        assert_eq!(w["off_cpu_ratio"], 0.5);
        assert_eq!(w["preempted_runs_count"], 2);
        assert!(w["runqueue_wait_ratio"].is_null());
        assert!(json["contention"]["elapsed_ns"].as_u64().is_some());
        assert!(json["machine"]["kernel"].is_null());
        assert_eq!(json["fixture"]["source"], "shipped");
    }

    #[test]
    fn text_has_one_row_per_workload_in_milliseconds() {
        let text = render_text(&report());
        let row = text
            .lines()
            .find(|l| l.starts_with("json-serde-value"))
            .unwrap();
        let cells: Vec<_> = row.split_whitespace().collect();
        // 2 ms lands in a 1024 ns bucket whose top, 2 000 895 ns, is what the histogram reports.
        assert_eq!(cells[1..6], ["3", "2.001", "3.000", "3.000", "3.000"]);
        // 4 MB / 2.000895 ms, in 10^6 bytes per second.
        assert_eq!(cells[7], "1999.1");
        let split = text
            .lines()
            .filter(|l| l.starts_with("json-serde-value"))
            .nth(1)
            .unwrap();
        let cells: Vec<_> = split.split_whitespace().collect();
        assert_eq!(cells[4..], ["50.0%", "n/a", "n/a", "2/3", "-", "-"]);
        assert!(text.contains("contention over the whole run"));
        assert!(
            text.trim_end().ends_with("· steal 0.0%"),
            "verdict last: {text}"
        );
        assert!(text.contains("verdict: QUIET — nothing"));
    }
}
