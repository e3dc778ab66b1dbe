//! The report of a `dynoprobe run`: what was measured, in the JSON schema of DESIGN.md
//! (version 1), and its rendering as a text table.
//!
//! Every numeric field names its unit (`_ns`, `_ratio`, `_per_s`, `_bytes`, `_count`);
//! anything not measured is `null`, never 0. Building a report computes; rendering only formats.

use std::fmt::Write as _;

use serde::Serialize;

use crate::runner::Measured;
use crate::signal::machine::Machine;
use crate::stats::Distribution;
use crate::workload::fixture::Origin;

/// Version of the JSON layout; bumped when a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 1;

/// A whole `dynoprobe run`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub machine: Machine,
    pub fixture: FixtureInfo,
    pub workloads: Vec<WorkloadReport>,
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
    /// Thread CPU time per run; not measured yet.
    pub on_cpu_ns: Option<Distribution>,
    /// Wall minus thread CPU time per run; not measured yet.
    pub off_cpu_ns: Option<Distribution>,
    pub off_cpu_ratio: Option<f64>,
    pub preempted_runs_count: Option<u64>,
    pub runqueue_wait_ratio: Option<f64>,
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
            on_cpu_ns: None,
            off_cpu_ns: None,
            off_cpu_ratio: None,
            preempted_runs_count: None,
            runqueue_wait_ratio: None,
            checksum: measured.checksum,
        }
    }
}

/// The report as a table, one row per workload, with a legend saying where numbers come from.
pub fn render_text(report: &Report) -> String {
    let mut out = String::new();
    let m = &report.machine;
    let _ = writeln!(
        out,
        "machine: {} · {} CPUs · kernel {}",
        m.cpu_model.as_deref().unwrap_or("unknown CPU"),
        m.logical_cpus_count
            .map_or("?".to_string(), |n| n.to_string()),
        m.kernel.as_deref().unwrap_or("unknown"),
    );
    let _ = writeln!(
        out,
        "fixture: {} ({:.2} MB JSON)\n",
        report.fixture.source,
        report.fixture.json_bytes as f64 / 1e6
    );
    let _ = writeln!(
        out,
        "{:<18} {:>7} {:>10} {:>10} {:>10} {:>10} {:>7} {:>9}",
        "workload", "runs", "p50 ms", "p90 ms", "p99 ms", "max ms", "CV", "MB/s"
    );
    for w in &report.workloads {
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
        "\nTimes are wall-clock per run (CLOCK_MONOTONIC), nearest-rank percentiles. \
         CV = stddev / mean.\nMB/s = bytes per run / p50, in 10^6 bytes; \
         for chase-* it counts the 64-byte lines visited.\n",
    );
    out
}

fn ms(ns: u64) -> String {
    format!("{:.3}", ns as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured() -> Measured {
        Measured {
            name: "json-serde-value",
            bytes_per_run: 4_000_000,
            runs_count: 3,
            wall_ns: Distribution::of([1_000_000, 2_000_000, 3_000_000]).unwrap(),
            checksum: 42,
        }
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
        let report = Report {
            schema_version: SCHEMA_VERSION,
            machine: Machine::default(),
            fixture: FixtureInfo::new(&Origin::Shipped, 4_000_000),
            workloads: vec![WorkloadReport::from_measured(&measured())],
        };
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["schema_version"], 1);
        let w = &json["workloads"][0];
        assert_eq!(w["runs_count"], 3);
        let p50 = w["wall_ns"]["p50"].as_u64().unwrap();
        assert!(p50.abs_diff(2_000_000) < 2_000, "{p50}");
        assert!(w["on_cpu_ns"].is_null());
        assert!(w["off_cpu_ratio"].is_null());
        assert!(json["machine"]["kernel"].is_null());
        assert_eq!(json["fixture"]["source"], "shipped");
    }

    #[test]
    fn text_has_one_row_per_workload_in_milliseconds() {
        let report = Report {
            schema_version: SCHEMA_VERSION,
            machine: Machine::default(),
            fixture: FixtureInfo::new(&Origin::Shipped, 4_000_000),
            workloads: vec![WorkloadReport::from_measured(&measured())],
        };
        let text = render_text(&report);
        let row = text
            .lines()
            .find(|l| l.starts_with("json-serde-value"))
            .unwrap();
        let cells: Vec<_> = row.split_whitespace().collect();
        // 2 ms lands in a 1024 ns bucket whose top, 2 000 895 ns, is what the histogram reports.
        assert_eq!(cells[1..6], ["3", "2.001", "3.000", "3.000", "3.000"]);
        // 4 MB / 2.000895 ms, in 10^6 bytes per second.
        assert_eq!(cells[7], "1999.1");
    }
}
